"""export --source registry with no engine reachable, then release on the far side builds from it."""

from __future__ import annotations

import json
import shutil
import uuid
from zipfile import ZIP_STORED

import pytest
from invoking import inv
from machines import RISK, carried, carry, release_flags

from airgapkit.crossing.archive import ArchiveReader
from airgapkit.engine import identity
from airgapkit.oci.reference import tar_name

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


@pytest.fixture
def own_app(app_copy, tmp_path):
    """The example app under a name of its own, so its images never meet the session round trip's."""
    app = tmp_path / "app"
    shutil.copytree(app_copy, app)
    name = f"agk-oci-{uuid.uuid4().hex[:8]}"
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data["name"] = name
        if file == "package-lock.json":
            data["packages"][""]["name"] = name
        (app / file).write_text(json.dumps(data, indent=2) + "\n")
    return app, name


def test_export_from_the_registry_with_no_engine_then_release(
    registry, base_image, own_app, tmp_path, private_tmp, docker_client, cleanup_images
):
    app, name = own_app
    base = f"{registry}/node:20-alpine"
    connected, airgapped = tmp_path / "connected", tmp_path / "airgapped"
    connected.mkdir(), airgapped.mkdir()
    no_engine = {**private_tmp, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    export = ["export", "--source", "registry", "--app", str(app), "--base-image", base]
    inv(*export, "--accept-risk", RISK, cwd=connected, env=no_engine, check=True)

    archive, sums, password = carried(connected, "base", name)
    with ArchiveReader(archive, password.read_text().strip()) as reader:
        manifest = json.loads(reader.read_bytes("manifest.json"))
        member = reader.info(f"images/{tar_name(base)}")
    (record,) = manifest["images"]
    assert record["source"] == "registry" and record["platform"] == "linux/amd64"
    assert record["repo_digest"].startswith(f"{registry}/node@sha256:")
    assert record["id"] == identity.of_ref(docker_client, base_image)
    assert member.compress_type == ZIP_STORED  # gzip layers are not deflated again
    assert member.file_size == member.compress_size - 28  # AES: salt, check, HMAC only

    cleanup_images.extend([base, f"{name}:1.0.0"])
    archive, sums, password = carry((archive, sums, password), airgapped / "inbox")
    smoke_env = ["--smoke-env", str(app / ".env.example")]
    inv(
        *release_flags(archive, sums, password),
        *smoke_env,
        cwd=airgapped,
        env=private_tmp,
        check=True,
    )
    assert identity.of_ref(docker_client, base) == record["id"]
    assert carried(airgapped, "release", name)[0].is_file()
