"""Registry-direct export end to end: no engine asked, a tampered blob refused, the tar loadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import registries

from airgapkit import oci
from airgapkit.crossing.manifest import Manifest
from airgapkit.delta import apply
from airgapkit.engine import identity, images
from airgapkit.errors import AirgapError
from airgapkit.fsutil import AtomicFile
from airgapkit.oci import export_image
from airgapkit.oci.errors import IntegrityError

pytest_plugins = ["oci_fixtures"]


@pytest.fixture
def no_engine(monkeypatch, tmp_path):
    """DOCKER_HOST pointing at nothing: any engine call in the export would fail."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")


@pytest.mark.docker
def test_export_with_no_engine_reachable_then_docker_load(
    registry, base_image, docker_client, tmp_path, monkeypatch
):
    dest = tmp_path / "node.tar"
    with monkeypatch.context() as patched:
        patched.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
        with AtomicFile(dest) as out:
            exported = export_image(f"{registry}/node:20-alpine", out.file)
    expected_id = identity.of_ref(docker_client, base_image)
    assert exported.image.image_id == exported.facts.image_id == expected_id
    assert exported.repo_digest == f"{registry}/node@{exported.image.repo_digest}"
    assert exported.written.size == dest.stat().st_size
    blobs = exported.image.manifest.compressed_size + len(exported.image.config_raw)
    assert exported.written.size <= blobs * 1.02 + 64 * 1024  # compressed blobs, stored as they are
    assert exported.facts.size == sum(exported.written.uncompressed)
    with dest.open("rb") as tar:
        (loaded,) = docker_client.images.load(tar)
    assert identity.of(docker_client, loaded) == expected_id
    assert f"{registry}/node:20-alpine" in loaded.tags
    docker_client.images.remove(f"{registry}/node:20-alpine")


def test_tags_default_to_the_reference_when_it_has_one(oci_registry, no_engine, tmp_path):
    pushed = registries.push(oci_registry.addr, "tiny/export", "3", [{"a": b"a"}])
    with (tmp_path / "a.tar").open("wb") as sink:
        tagged = export_image(f"{oci_registry.addr}/tiny/export:3", sink)
    assert tagged.facts.repo_tags == (f"{oci_registry.addr}/tiny/export:3",)
    with (tmp_path / "b.tar").open("wb") as sink:
        pinned = export_image(f"{oci_registry.addr}/tiny/export@{pushed.manifest_digest}", sink)
    assert pinned.facts.repo_tags == ()
    assert (
        pinned.repo_digest
        == tagged.repo_digest
        == f"{oci_registry.addr}/tiny/export@{pushed.manifest_digest}"
    )


def test_a_tampered_blob_leaves_nothing_under_a_final_name(tmp_path, no_engine):
    with registries.serve(tmp_path / "registry") as served:
        pushed = registries.push(
            served.addr, "tiny/app", "1", [{"a": b"a" * 9000}, {"b": b"b" * 9000}]
        )
        path = registries.blob_file(served, pushed.layer_digests[1])
        data = bytearray(path.read_bytes())
        data[10] ^= 0x01
        path.write_bytes(bytes(data))
        dest = tmp_path / "out" / "image.tar"
        with pytest.raises(IntegrityError) as info, AtomicFile(dest) as out:
            export_image(f"{served.addr}/tiny/app:1", out.file)
    message = str(info.value)
    assert "layer 2 of" in message and pushed.layer_digests[1] in message and "tampered" in message
    assert "\n" not in message
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_memory_stays_flat_whatever_the_layer_size(oci_registry, no_engine, tmp_path):
    """A 24 MB layer moves through a few 1 MiB chunks: Python's own allocations peak far below it."""
    import os
    import tracemalloc

    registries.push(oci_registry.addr, "tiny/big", "1", [{"random.bin": os.urandom(24 << 20)}])
    with (tmp_path / "big.tar").open("wb") as sink:
        tracemalloc.start()
        try:
            exported = export_image(f"{oci_registry.addr}/tiny/big:1", sink)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert exported.written.size > 24 << 20
    assert peak < 6 << 20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.docker
def test_zstd_layers_are_carried_and_loaded_where_the_engine_reads_them(
    oci_registry, docker_client, tmp_path, cleanup_images
):
    """A zstd image straight from its registry: its size counted by decoding, its record says
    zstd, and the far side loads it where docker load reads zstd (Docker 23.0 and later: the
    containerd-store engine here) and refuses it in one line before loading where it does not
    (Docker 20.10 here)."""
    files = [{"app/one": b"1" * 40_000}, {"app/two": b"2" * 70_000}]
    pushed = registries.push(oci_registry.addr, "tiny/zstd", "1", files, zstd=True, oci=True)
    ref = f"{oci_registry.addr}/tiny/zstd:1"
    cleanup_images.append(ref)
    member = tmp_path / "zstd.tar"
    with oci.open_image(ref) as opened, member.open("wb") as sink:
        facts, tar = opened.facts(), opened.tar()
        for chunk in tar:
            sink.write(chunk)
        record = opened.record("images/zstd.tar", tar)
    assert facts.size == record["size"] == sum(pushed.layer_tar_sizes)  # decoded, not compressed
    assert record["compression"] == "zstd" and record["id"] == pushed.config_digest
    manifest = Manifest(kind="base", app={"name": "tiny"}, images=[record])
    bundle = Path("tiny-1-base.zip")
    api = docker_client.version()["ApiVersion"]
    if tuple(int(p) for p in api.split(".")) < (1, 42):
        with pytest.raises(AirgapError) as caught:
            apply.check_prerequisites(docker_client, manifest, bundle)
        assert str(caught.value) == (
            f"{ref} in tiny-1-base.zip has zstd-compressed layers, which the Docker Engine here "
            f"(API {api}) cannot load: Docker 23.0 and later can; deploy it on such an engine, "
            "or export the image again from a copy with gzip layers"
        )
        return
    apply.check_prerequisites(docker_client, manifest, bundle)
    with member.open("rb") as tar_file:
        assert images.load(docker_client, tar_file) == [ref]
    assert identity.of_ref(docker_client, ref) == pushed.config_digest
