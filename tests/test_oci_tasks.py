"""pull and check-image with --source registry|auto, run as a user runs them, with no engine at all."""

from __future__ import annotations

import json
import tarfile

import pytest
import registries
from invoking import assert_refusal, inv

pytest_plugins = ["oci_fixtures"]


@pytest.fixture
def no_engine(tmp_path) -> dict:
    return {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}


@pytest.fixture(scope="module")
def tiny(oci_registry):
    config = {"Env": ["NODE_VERSION=20.11.1"], "User": "1001"}
    pushed = registries.push(
        oci_registry.addr, "tiny/tasks", "20", [{"app/x": b"x" * 1000}], config=config
    )
    return f"{oci_registry.addr}/tiny/tasks:20", pushed


@pytest.mark.parametrize("source", ["registry", "auto"])
def test_pull_from_the_registry_writes_a_loadable_tar(tiny, no_engine, tmp_path, source):
    image, pushed = tiny
    out = tmp_path / "base.tar"
    proc = inv(
        "pull",
        "--image",
        image,
        "--source",
        source,
        "--output",
        str(out),
        cwd=tmp_path,
        env=no_engine,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with tarfile.open(out) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())
    assert entry["RepoTags"] == [image]
    assert entry["Config"].endswith(pushed.config_digest.removeprefix("sha256:"))
    if source == "auto":
        assert "no Docker Engine answers: reading" in proc.stderr


def trivy_report(path, image, image_id):
    report = {
        "SchemaVersion": 2,
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Metadata": {"ImageID": image_id, "RepoTags": [image], "RepoDigests": []},
        "Results": [],
    }
    path.write_text(json.dumps(report))
    return path


def test_check_image_judges_registry_facts_with_no_engine(tiny, no_engine, tmp_path):
    image, pushed = tiny
    report = trivy_report(tmp_path / "trivy.json", image, pushed.config_digest)
    check = [
        "check-image",
        image,
        "--source",
        "registry",
        "--report",
        str(report),
        "--today",
        "2025-01-01",
    ]
    proc = inv(*check, cwd=tmp_path, env=no_engine)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"base image {pushed.config_digest[7:19]}" in proc.stdout  # the registry's config digest
    too_small = inv(*check, "--max-size-mb", "0.001", cwd=tmp_path, env=no_engine)
    assert_refusal(too_small, "size")


def test_an_unknown_source_is_one_line(tmp_path, no_engine):
    proc = inv("pull", "--source", "mirror", cwd=tmp_path, env=no_engine)
    assert_refusal(proc, "'mirror'", "engine, registry, auto")


def test_export_refuses_a_tampered_blob_and_leaves_no_bundle(app_copy, no_engine, tmp_path):
    with registries.serve(tmp_path / "registry") as served:
        pushed = registries.push(served.addr, "tiny/base", "1", [{"a": b"a" * 9000}])
        blob = registries.blob_file(served, pushed.layer_digests[0])
        data = bytearray(blob.read_bytes())
        data[-9] ^= 0x01
        blob.write_bytes(bytes(data))
        export = ["export", "--source", "registry", "--app", str(app_copy)]
        base = ["--base-image", f"{served.addr}/tiny/base:1", "--accept-risk", "tampered-test"]
        proc = inv(*export, *base, cwd=tmp_path, env=no_engine)
    assert_refusal(proc, "layer 1 of", pushed.layer_digests[0], "tampered")
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())
    assert not (tmp_path / "dist-hashes").exists()
