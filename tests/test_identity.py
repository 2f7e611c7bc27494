"""engine.identity: an image is its config digest on both image stores.

The engine tests run on whichever engine the run uses (CI: both stores); the config digest they
expect is read independently, from the engine's whole ``docker save`` (``manifest.json`` names the
config; its digest is the SHA-256 of its bytes).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import uuid
import zlib
from pathlib import Path

import pytest
from docker.models.images import Image
from gate_support import build, remove
from saved_images import layer, sha, tar

from airgapkit.crossing.manifest import Manifest
from airgapkit.delta import apply
from airgapkit.engine import identity, images
from airgapkit.engine import store as stores
from airgapkit.errors import AirgapError
from airgapkit.gate import layerscan

# What each engine here says of its storage in `docker info` (Driver, DriverStatus), as recorded:
# Docker 20.10 with the classic store, Docker 26.1 with the containerd image store.
CLASSIC_INFO = {
    "Driver": "overlay2",
    "DriverStatus": [
        ["Backing Filesystem", "extfs"],
        ["Supports d_type", "true"],
        ["Native Overlay Diff", "true"],
        ["userxattr", "false"],
    ],
}
CONTAINERD_INFO = {
    "Driver": "overlayfs",
    "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
}


def config_digest_saved(client, ref: str) -> str:
    """The config digest as ``docker save`` shows it: the member manifest.json names, hashed."""
    data = b"".join(client.api.get_image(ref))
    with tarfile.open(fileobj=io.BytesIO(data)) as saved:
        (entry,) = json.load(saved.extractfile("manifest.json"))
        config = saved.extractfile(entry["Config"]).read()
    return "sha256:" + hashlib.sha256(config).hexdigest()


# --- which store ------------------------------------------------------------------------------------


def test_the_store_is_told_from_docker_info():
    assert stores.store_of(CLASSIC_INFO) == stores.CLASSIC
    assert stores.store_of(CONTAINERD_INFO) == stores.CONTAINERD


@pytest.mark.parametrize(
    "info",
    [
        {},  # no storage driver said at all
        {"Driver": "", "DriverStatus": None},
        {"Driver": "overlayfs", "DriverStatus": [["driver-type", "something-else"]]},
    ],
)
def test_an_engine_whose_store_cannot_be_told_is_one_line(info):
    """No engine here answers so: these are the shapes a proxy or a foreign engine could give."""
    with pytest.raises(stores.UnknownStore) as caught:
        stores.store_of(info)
    message = str(caught.value)
    assert "\n" not in message and "cannot be told" in message and "docker info" in message


def test_the_engine_here_is_one_of_the_two_stores(docker_client):
    assert stores.store(docker_client) in (stores.CLASSIC, stores.CONTAINERD)


# --- the identity ---------------------------------------------------------------------------------


def test_the_identity_is_the_config_digest_docker_save_shows(docker_client, base_image):
    image = docker_client.images.get(base_image)
    expected = config_digest_saved(docker_client, base_image)
    assert identity.of(docker_client, image) == expected
    # what each store reports as the image's ID
    classic = stores.store(docker_client) == stores.CLASSIC
    assert (image.id == expected) == classic


def test_a_built_image_is_known_by_its_identity_under_another_name(docker_client, base_image):
    (ref,) = made = [build(docker_client, base_image, f"RUN echo {uuid.uuid4().hex} > /marker")]
    other = f"agk-test-other-{uuid.uuid4().hex[:8]}:1"
    try:
        image = docker_client.images.get(ref)
        wanted = config_digest_saved(docker_client, ref)
        layers = image.attrs["RootFS"]["Layers"]
        assert identity.find(docker_client, wanted, ref) == image
        docker_client.images.get(ref).tag(other)
        found = identity.find(docker_client, wanted, "agk-test-absent:1", layers)
        assert found is not None and identity.of(docker_client, found) == wanted
        assert identity.find(docker_client, "sha256:" + "ab" * 32, ref, layers) is None
    finally:
        remove(docker_client, [*made, other])


def test_an_image_loaded_from_a_multi_platform_index_is_its_own_platforms_config(
    docker_client, cleanup_images
):
    """An OCI layout whose index names an index of two platforms: the containerd store keeps that
    index as the image (its ID the index's digest); the classic store loads the manifest.json entry.
    Both give the config of the engine's own platform."""
    version = docker_client.version()
    here = {"os": version["Os"], "architecture": version["Arch"]}
    ref = f"agk-test-multi-{uuid.uuid4().hex[:8]}:1"
    archive, configs = multi_platform_archive(ref, [here, {"os": "linux", "architecture": "s390x"}])
    cleanup_images.append(ref)
    images.load(docker_client, io.BytesIO(archive))
    image = docker_client.images.get(ref)
    assert identity.of(docker_client, image) == configs[0]


def multi_platform_archive(ref: str, platforms: list[dict]) -> tuple[bytes, list[str]]:
    """A loadable tar of ``ref``: an index of one manifest per platform, each with a layer and a
    config of its own, and Docker's manifest.json naming the first."""
    blobs: dict[str, bytes] = {}
    entries, configs, first = [], [], None

    def blob(data: bytes) -> dict:
        blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    for platform in platforms:
        plain = layer((f"platform-{platform['architecture']}", b"x"))
        config = json.dumps({**platform, "rootfs": {"type": "layers", "diff_ids": [sha(plain)]}})
        config_ref = {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **blob(config.encode()),
        }
        layer_ref = {"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(plain)}
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_ref,
            "layers": [layer_ref],
        }
        entry = {"mediaType": manifest["mediaType"], **blob(json.dumps(manifest).encode())}
        entries.append({**entry, "platform": platform})
        configs.append(config_ref["digest"])
        first = first or (config_ref["digest"], layer_ref["digest"])
    inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
    inner_ref = blob(json.dumps({**inner, "manifests": entries}).encode())
    name, tag = ref.split(":")
    annotations = {"io.containerd.image.name": f"docker.io/library/{ref}",
                   "org.opencontainers.image.ref.name": tag}  # fmt: skip
    index = {**inner, "manifests": [{"mediaType": inner["mediaType"], **inner_ref,
                                     "annotations": annotations}]}  # fmt: skip
    docker_manifest = [{"Config": f"blobs/sha256/{first[0][7:]}", "RepoTags": [ref],
                        "Layers": [f"blobs/sha256/{first[1][7:]}"]}]  # fmt: skip
    members = [("blobs/", None), ("blobs/sha256/", None)]
    members += [(f"blobs/sha256/{digest[7:]}", data) for digest, data in sorted(blobs.items())]
    members += [
        ("index.json", json.dumps(index).encode()),
        ("manifest.json", json.dumps(docker_manifest).encode()),
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
    ]
    return tar(*members), configs


# --- IDs of a form not known ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["sha512:" + "a" * 128, "0123456789ab", "sha256:" + "A" * 64, "", None]
)
def test_an_id_of_a_form_not_known_is_one_line(value):
    with pytest.raises(AirgapError) as caught:
        identity.checked(value, "the ID of app:1", "do this")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the ID of app:1 is ") and message.endswith("; do this")
    assert "not an image ID airgapkit knows (sha256: and 64 hex digits)" in message


def test_an_engine_reporting_an_id_of_another_form_is_refused(docker_client, base_image):
    """No engine here reports another form: an image record as an engine would give it, changed."""
    attrs = {**docker_client.images.get(base_image).attrs, "Id": "sha512:" + "c" * 128}
    with pytest.raises(AirgapError, match=r"^the ID the Docker Engine at .* gives .* is 'sha512:"):
        identity.of(docker_client, Image(attrs=attrs, client=docker_client))


def test_a_bundle_requiring_an_id_of_another_form_is_refused_before_the_engine_is_asked():
    requirement = {"ref": "app:1.0.0", "id": "md5:0123", "carried_by": "app-1.0.0-release.zip"}
    manifest = Manifest(kind="release", app={"name": "app"}, requires=[requirement])
    with pytest.raises(AirgapError) as caught:
        apply.check_prerequisites(None, manifest, Path("app-1.0.1-release.zip"))
    assert str(caught.value) == (
        "the ID of app:1.0.0 in the bundle's manifest is 'md5:0123', not an image ID airgapkit "
        "knows (sha256: and 64 hex digits); make the bundle again with this airgapkit"
    )


def test_images_are_found_by_their_engine_id_not_their_identity(docker_client, base_image):
    """The engine is asked by its own ID: on the containerd store the config digest names nothing."""
    image = docker_client.images.get(base_image)
    assert images.find_image(docker_client, image.id) == image
    by_identity = images.find_image(docker_client, identity.of(docker_client, image))
    assert (by_identity is not None) == (stores.store(docker_client) == stores.CLASSIC)


class _StoreNotSaid:
    """An engine whose `docker info` names no store airgapkit knows. No engine here answers so."""

    def info(self) -> dict:
        return {"Driver": "", "DriverStatus": None}


def test_an_engine_whose_store_cannot_be_told_loads_nothing_of_a_bundle():
    """The prerequisites are checked before anything of the bundle is loaded: the store first."""
    record = {"ref": "app:1.0.0", "id": "sha256:" + "ab" * 32, "layers": [], "member": "images/a"}
    manifest = Manifest(kind="release", app={"name": "app"}, images=[record])
    with pytest.raises(stores.UnknownStore, match="cannot be told"):
        apply.check_prerequisites(_StoreNotSaid(), manifest, Path("app-1.0.0-release.zip"))


def test_measuring_a_zstd_layer_without_the_zstd_extra_says_to_run_the_command_again(monkeypatch):
    # Faked: zstandard is installed wherever the tests run; None in sys.modules makes its import fail.
    # The size is measured by export and by release alike: the line names neither.
    monkeypatch.setitem(sys.modules, "zstandard", None)
    blob = identity.ZSTD_MAGIC + bytes(60)
    with pytest.raises(AirgapError, match=r"airgapkit\[zstd\]'.*then run the same command again$"):
        identity._tar_length(io.BytesIO(blob), len(blob), "blob sha256:ab of x")


# --- the size a release's secrets scan learns ---------------------------------------------------


def layer_tar_lengths(client, ref: str) -> int:
    """The length of each layer's tar summed, read apart from airgapkit: each layer manifest.json
    lists inflated (gzip, zstd) or taken as it is."""
    import zstandard

    data = b"".join(client.api.get_image(ref))
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data)) as saved:
        (entry,) = json.load(saved.extractfile("manifest.json"))
        for name in entry["Layers"]:
            blob = saved.extractfile(name).read()
            if blob[:2] == b"\x1f\x8b":
                blob = zlib.decompress(blob, wbits=31)
            elif blob[:4] == b"\x28\xb5\x2f\xfd":
                blob = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
            total += len(blob)
    return total


def test_the_secrets_scan_learns_the_size_the_image_rules_measure(
    docker_client, base_image, monkeypatch
):
    (ref,) = made = [
        build(docker_client, base_image, f"RUN head -c 300000 /dev/urandom > /r{uuid.uuid4().hex}")
    ]
    try:
        scanned = layerscan.scan_and_measure(images.save_stream(docker_client, [ref]))
        assert scanned.size == layer_tar_lengths(docker_client, ref)
        if stores.store(docker_client) == stores.CONTAINERD:  # where the gate measures it so
            monkeypatch.setattr(identity, "_sizes", {})  # measured anew, not remembered
            assert identity.size(docker_client, docker_client.images.get(ref)) == scanned.size
    finally:
        remove(docker_client, made)


def test_a_size_remembered_answers_on_the_containerd_store_alone(
    docker_client, base_image, monkeypatch
):
    monkeypatch.setattr(identity, "_sizes", {})
    image = docker_client.images.get(base_image)
    identity.remember_size(image, 12_345)
    containerd = stores.store(docker_client) == stores.CONTAINERD
    assert identity.size(docker_client, image) == (
        12_345 if containerd else int(image.attrs["Size"])
    )
