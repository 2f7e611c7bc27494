"""The tar the registry-direct export writes: its shape, and docker load taking it on a real engine."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import docker
import pytest
import registries

from airgapkit.engine import identity
from airgapkit.errors import AirgapError
from airgapkit.oci import layout, platforms, reference
from airgapkit.oci.registry import Registry
from airgapkit.oci.remote import resolve

pytest_plugins = ["oci_fixtures"]


def write_tar(image: str, sink, tags=None):
    ref = reference.parse(image)
    with Registry(ref) as registry:
        found = resolve(registry, platforms.parse("linux/amd64"))
        written = layout.write(sink, registry, found, [image] if tags is None else tags)
    return found, written


def members(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: (tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()
        }


@pytest.fixture(scope="module")
def tiny(oci_registry):
    layers = [{"app/one": b"1" * 4000}, {"app/two": b"2" * 7000}, {"app/one": b"1" * 4000}]
    pushed = registries.push(
        oci_registry.addr, "tiny/layout", "1.0", layers, config={"User": "1001"}
    )
    return f"{oci_registry.addr}/tiny/layout:1.0", pushed


def test_the_tar_is_an_oci_layout_with_dockers_manifest(tiny):
    image, pushed = tiny
    sink = io.BytesIO()
    found, written = write_tar(image, sink)
    data = sink.getvalue()
    assert written.size == len(data) and len(data) % layout.RECORD == 0
    files = members(data)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, content in files.items():  # every blob is the registry's bytes under its digest
        if name.startswith("blobs/sha256/") and content is not None:
            assert hashlib.sha256(content).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["digest"] == pushed.manifest_digest and entry["size"] == len(pushed.manifest)
    assert entry["annotations"] == {
        "io.containerd.image.name": image,
        "org.opencontainers.image.ref.name": "1.0",
    }
    (docker_entry,) = json.loads(files["manifest.json"])
    assert docker_entry["Config"] == f"blobs/sha256/{pushed.config_digest.removeprefix('sha256:')}"
    assert docker_entry["RepoTags"] == [image]
    assert docker_entry["Layers"] == [
        f"blobs/sha256/{d.removeprefix('sha256:')}" for d in pushed.layer_digests
    ]
    assert len(set(pushed.layer_digests)) == 2  # the repeated layer is stored once:
    blobs = [name for name in files if name.startswith("blobs/sha256/")]
    assert len(blobs) == 2 + 1 + 1  # two layers, the config, the manifest
    assert written.uncompressed == pushed.layer_tar_sizes


def test_docker_hub_names_are_written_as_docker_and_containerd_write_them(tiny):
    image, _ = tiny
    sink = io.BytesIO()
    write_tar(image, sink, tags=["node:20-alpine", "team/base:2"])
    files = members(sink.getvalue())
    names = [
        e["annotations"]["io.containerd.image.name"]
        for e in json.loads(files["index.json"])["manifests"]
    ]
    assert names == ["docker.io/library/node:20-alpine", "docker.io/team/base:2"]
    assert json.loads(files["manifest.json"])[0]["RepoTags"] == ["node:20-alpine", "team/base:2"]


def test_no_tags_leave_the_image_unnamed(tiny):
    image, pushed = tiny
    sink = io.BytesIO()
    write_tar(image, sink, tags=[])
    files = members(sink.getvalue())
    assert json.loads(files["manifest.json"])[0]["RepoTags"] == []
    assert "annotations" not in json.loads(files["index.json"])["manifests"][0]


def test_a_tag_must_name_a_tag(tiny):
    image, pushed = tiny
    with pytest.raises(AirgapError, match="names no tag"):
        write_tar(image, io.BytesIO(), tags=[f"{image.rsplit(':', 1)[0]}@{pushed.manifest_digest}"])


@pytest.mark.docker
def test_docker_load_takes_an_image_whose_every_layer_is_new(
    tiny, docker_client, tmp_path, cleanup_images
):
    image, pushed = tiny
    path = tmp_path / "image.tar"
    with path.open("wb") as sink:
        write_tar(image, sink)
    cleanup_images.append(image)
    with path.open("rb") as tar:
        (loaded,) = docker_client.images.load(tar)
    assert identity.of(docker_client, loaded) == pushed.config_digest  # the image's identity
    assert loaded.tags == [image]
    assert loaded.attrs["Config"]["User"] == "1001"
    assert loaded.attrs["RootFS"]["Layers"] == [registries.sha256(registries.tar_layer(f)) for f in (
        {"app/one": b"1" * 4000}, {"app/two": b"2" * 7000}, {"app/one": b"1" * 4000})]  # fmt: skip


@pytest.mark.docker
def test_docker_load_takes_a_real_image_pushed_by_docker(
    registry, base_image, docker_client, tmp_path, unique_name, cleanup_images, cleanup_containers
):
    """The stand-in plus a layer of its own, pushed by the engine, then removed: load must bring it."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base_image}\nRUN echo {unique_name} > /marker\n")
    remote = f"{registry}/{unique_name}:1"
    built, _ = docker_client.images.build(
        path=str(context), tag=remote, pull=False, network_mode="none", rm=True, forcerm=True
    )
    left = [
        c
        for c in docker_client.containers.list(all=True)
        if unique_name in str(c.attrs["Config"]["Cmd"])
    ]
    assert left == [], "the build left its RUN step's container behind (rm=True)"
    built_identity = identity.of(docker_client, built)
    for line in docker_client.api.push(remote, stream=True, decode=True):
        assert "error" not in line, line
    docker_client.images.remove(remote)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(built.id)
    cleanup_images.append(remote)
    path = tmp_path / "image.tar"
    with path.open("wb") as sink:
        found, _ = write_tar(remote, sink)
    with path.open("rb") as tar:
        (loaded,) = docker_client.images.load(tar)
    assert identity.of(docker_client, loaded) == built_identity == found.image_id
    cleanup_containers.append(unique_name)
    output = docker_client.containers.run(
        remote, ["cat", "/marker"], name=unique_name, network_mode="none"
    )
    assert output.decode().strip() == unique_name
