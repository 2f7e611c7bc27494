"""What a delta leaves out, and the previous delivery ``--since`` names: the last one in the history
or a bundle's manifest, with one clear line for every reference that does not fit."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from airgapkit import history
from airgapkit.crossing.manifest import Manifest
from airgapkit.delta import plan
from airgapkit.errors import AirgapError

L = ["sha256:" + c * 64 for c in "0123456789"]  # diff IDs
APP = {"name": "tms-api", "version": "1.0.0", "image_name": "tms-api", "tgz": "tms-api-1.0.0.tgz"}
V1 = {
    "ref": "tms-api:1.0.0",
    "id": "sha256:" + "a1" * 32,
    "layers": L[:4],
    "member": "images/x",
    "repo_tags": ["tms-api:1.0.0"],
}
BASE = {"ref": "node:20-alpine", "id": "sha256:" + "b0" * 32, "layers": L[:2]}


def release_manifest(**kw) -> Manifest:
    return Manifest(kind="release", app=dict(APP), images=[dict(V1)], **kw)


def write(tmp_path, manifest: Manifest, name="m.json"):
    path = tmp_path / name
    path.write_bytes(manifest.to_json())
    return path


# --- the previous delivery -----------------------------------------------------------------------


def test_no_since_is_no_delta():
    assert plan.previous("", history=None, app="tms-api", kind="release") is None


def test_last_is_the_latest_delivery_of_the_app_in_the_history(tmp_path):
    log = history.History(tmp_path / "h.jsonl")
    for version in ("0.9.0", "1.0.0"):
        log.append(
            history.Entry(
                "release",
                app="tms-api",
                version=version,
                archive=f"tms-api-{version}-release.zip",
                images=[{k: V1[k] for k in ("ref", "id", "layers")}],
                outcome=history.OK,
            )
        )
    found = plan.previous("last", history=log, app="tms-api", kind="release")
    assert (found.archive, found.version) == ("tms-api-1.0.0-release.zip", "1.0.0")
    assert found.held[0]["carried_by"] == "tms-api-1.0.0-release.zip"
    assert found.record() == {
        "archive": "tms-api-1.0.0-release.zip",
        "kind": "release",
        "version": "1.0.0",
    }


def test_last_with_no_earlier_delivery_is_one_line(tmp_path):
    log = history.History(tmp_path / "h.jsonl")
    with pytest.raises(AirgapError) as err:
        plan.previous("last", history=log, app="tms-api", kind="base")
    assert str(err.value) == (
        f"no earlier export of tms-api in the history {log.path}; make a full bundle first "
        "(without --since), or give --since the previous bundle's manifest"
    )


def test_last_without_a_history_kept_is_one_line():
    with pytest.raises(AirgapError, match="^--since last reads the history, and airgapkit.history"):
        plan.previous("last", history=None, app="tms-api", kind="release")


def test_a_manifest_file_is_what_the_far_side_holds_after_that_bundle(tmp_path):
    requirement = {"ref": BASE["ref"], "id": BASE["id"], "carried_by": "tms-api-0.9.0-base.zip"}
    path = write(tmp_path, release_manifest(requires=[requirement]))
    found = plan.previous(str(path), history=None, app="tms-api", kind="release")
    assert found.archive == "tms-api-1.0.0-release.zip"
    assert [h["id"] for h in found.held] == [V1["id"], BASE["id"]]
    assert found.held[1]["carried_by"] == "tms-api-0.9.0-base.zip"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"app": {**APP, "name": "billing"}}, "is a bundle of billing, not tms-api; give one of"),
        ({"kind": "base"}, "is a base bundle's manifest; release --since takes a release bundle's"),
    ],
)
def test_a_manifest_of_another_app_or_kind_is_refused(tmp_path, change, words):
    manifest = release_manifest()
    for key, value in change.items():
        setattr(manifest, key, value)
    path = write(tmp_path, manifest)
    with pytest.raises(AirgapError, match=words):
        plan.previous(str(path), history=None, app="tms-api", kind="release")


def test_a_manifest_of_a_newer_format_version_is_refused(tmp_path):
    doc = json.loads(release_manifest().to_json())
    doc["format_version"] = 3
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AirgapError, match="format version 3, .*carry the newer airgapkit across"):
        plan.previous(str(path), history=None, app="tms-api", kind="release")


def test_a_manifest_naming_an_image_by_an_id_of_another_form_is_one_line(tmp_path):
    """A manifest from elsewhere (or edited) whose image ID is not a config digest."""
    odd = release_manifest()
    odd.images[0]["id"] = "0123456789ab"  # a short ID, as docker image ls shows it
    path = write(tmp_path, odd)
    with pytest.raises(AirgapError) as err:
        plan.previous(str(path), history=None, app="tms-api", kind="release")
    assert str(err.value) == (
        f"the ID of tms-api:1.0.0 in --since {path} is '0123456789ab', not an image ID airgapkit "
        "knows (sha256: and 64 hex digits); give --since a manifest written by inv inspect "
        "BUNDLE --json"
    )


def test_a_missing_manifest_file_is_one_line(tmp_path):
    with pytest.raises(AirgapError, match="--since .*nope.json: No such file") as err:
        plan.previous(str(tmp_path / "nope.json"), history=None, app="tms-api", kind="release")
    assert isinstance(err.value.__cause__, FileNotFoundError)


# --- what is left out ----------------------------------------------------------------------------


def previous(*held) -> plan.Previous:
    return plan.Previous("tms-api-1.0.0-release.zip", "release", "tms-api", "1.0.0", held)


def test_a_base_the_far_side_holds_is_required_not_carried():
    held = previous({**BASE, "carried_by": "tms-api-0.9.0-base.zip"})
    assert plan.held_whole(held, "node:20-alpine", BASE["id"]) == {
        "ref": "node:20-alpine",
        "id": BASE["id"],
        "carried_by": "tms-api-0.9.0-base.zip",
        "layers": BASE["layers"],  # what the containerd image store finds it by
    }
    assert plan.held_whole(held, "node:20-alpine", "sha256:" + "cc" * 32) is None  # changed
    assert plan.held_whole(None, "node:20-alpine", BASE["id"]) is None


def test_layers_come_from_the_far_side_image_sharing_most():
    held = previous(
        {**BASE, "carried_by": "b.zip"}, {**V1, "carried_by": "tms-api-1.0.0-release.zip"}
    )
    new_id = "sha256:" + "a2" * 32
    requirement = plan.layer_reuse(held, new_id, [*L[:3], L[7]])
    assert requirement == {
        "ref": "tms-api:1.0.0",
        "id": V1["id"],
        "carried_by": "tms-api-1.0.0-release.zip",
        "for": new_id,
        "layers": L[:3],
    }


def test_no_shared_layer_means_the_image_travels_whole():
    held = previous({**V1, "carried_by": "x.zip"})
    assert plan.layer_reuse(held, "sha256:" + "a2" * 32, L[6:8]) is None


def test_a_delta_of_the_image_already_delivered_is_refused():
    held = previous({**V1, "carried_by": "tms-api-1.0.0-release.zip"})
    with pytest.raises(AirgapError, match="would be applied twice: nothing to send"):
        plan.layer_reuse(held, V1["id"], V1["layers"])


def test_the_requirements_table_of_a_delta():
    assert plan.requirements_table(release_manifest()) is None  # a full bundle needs nothing
    manifest = release_manifest(
        requires=[
            {"ref": BASE["ref"], "id": BASE["id"], "carried_by": "tms-api-0.9.0-base.zip"},
            {
                **{k: V1[k] for k in ("ref", "id")},
                "carried_by": "a.zip",
                "for": "sha256:" + "a2" * 32,
                "layers": L[:3],
            },
        ],
        since={"archive": "tms-api-1.0.0-release.zip", "kind": "release", "version": "1.0.0"},
    )
    console = Console(file=io.StringIO(), width=250)
    console.print(plan.requirements_table(manifest))
    out = console.file.getvalue()
    assert "Delta of tms-api-1.0.0-release.zip: needs on the far side" in out
    assert "node:20-alpine" in out and "whole" in out and "tms-api-0.9.0-base.zip" in out
    assert "3 layers of sha256:a2a2a2a2a2a2" in out


def test_a_delta_manifest_reads_back_and_a_bad_requirement_is_refused(tmp_path):
    requirement = {"ref": BASE["ref"], "id": BASE["id"], "carried_by": "b.zip"}
    since = {"archive": "tms-api-0.9.0-release.zip", "kind": "release", "version": "0.9.0"}
    manifest = release_manifest(requires=[requirement], since=since)
    again = Manifest.from_json(manifest.to_json(), tmp_path / "m.json")
    assert again.requires == [requirement] and again.since == since
    bad = json.loads(manifest.to_json())
    bad["requires"][0]["layers"] = "all of them"
    with pytest.raises(AirgapError, match="requires"):
        Manifest.from_json(json.dumps(bad).encode(), tmp_path / "m.json")
