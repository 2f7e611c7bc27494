"""The three flows together: running the whole round trip again changes nothing.

Its temporary files included: the flows run with a temporary folder of their own (TMPDIR), so
another test run on the same machine cannot make or hide a leftover.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from invoking import inv
from machines import carry, export_flags, health, release_flags

from airgapkit.app.buildcontext import STAGE_LABEL

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def state(docker_client, app_name: str, tmp: Path, *folders: Path) -> dict:
    """What a run leaves behind: this app's containers and images, dangling images, files, temp files."""
    return {
        "containers": sorted(
            c.name
            for c in docker_client.containers.list(all=True)
            if app_name in c.name or app_name in c.attrs["Config"]["Image"]
        ),
        "images": sorted(t for i in docker_client.images.list() for t in i.tags if app_name in t),
        "dangling": dangling(docker_client),
        "files": sorted(str(p) for f in folders for p in f.rglob("*")),
        "tmp": sorted(p.name for p in tmp.glob("airgapkit-*")),
    }


def dangling(docker_client) -> list[str]:
    """Untagged images that are not the build's cache: the first stage's steps, which the classic
    store keeps as intermediate images, the containerd image store lists as dangling too."""
    found = docker_client.images.list(filters={"dangling": True})
    labels = (i.attrs["Config"].get("Labels") or {} for i in found)
    return sorted(i.id for i, label in zip(found, labels, strict=True) if STAGE_LABEL not in label)


def test_running_the_round_trip_again_gives_the_same_result(
    docker_client, round_trip, machines, app_copy, private_tmp
):
    tmp = Path(private_tmp["TMPDIR"])
    before = state(docker_client, round_trip["app_name"], tmp, *machines.values())
    # Written over the earlier delivery on purpose: without --force that is refused (its password
    # may be the only way into a copy already carried off).
    export = [*export_flags(app_copy, round_trip["base"]), "--force"]
    inv(*export, cwd=machines["connected"], env=private_tmp, check=True)
    archive, sums, password = carry(round_trip["exported"], machines["airgapped"] / "inbox")
    inv(
        *release_flags(archive, sums, password),
        "--force",
        cwd=machines["airgapped"],
        env=private_tmp,
        check=True,
    )
    carry(round_trip["released"], machines["prod"] / "inbox")
    inv(*round_trip["deploy"], cwd=machines["prod"], env=private_tmp, check=True)
    assert state(docker_client, round_trip["app_name"], tmp, *machines.values()) == before
    assert health(round_trip["ports"])["greeting"] == "hello-from-env-prod-4711"
