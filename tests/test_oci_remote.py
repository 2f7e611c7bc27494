"""Resolving an image in a real registry: indexes to the configured platform, configs checked."""

from __future__ import annotations

import json

import pytest
import registries

from airgapkit.oci import manifests, platforms, reference
from airgapkit.oci.errors import PlatformMissing, UnsupportedManifest
from airgapkit.oci.registry import Registry
from airgapkit.oci.remote import resolve, sha256

pytest_plugins = ["oci_fixtures"]


def resolved(image: str, platform: str = "linux/amd64"):
    with Registry(reference.parse(image)) as registry:
        return resolve(registry, platforms.parse(platform))


@pytest.fixture(scope="module", params=[manifests.OCI_INDEX, manifests.DOCKER_INDEX])
def two_platforms(request, oci_registry):
    """``multi/app:1``: an index (built here) of an amd64 and an arm64/v8 image, each pushed first."""
    addr, repo = oci_registry.addr, f"multi/{'oci' if 'oci' in request.param else 'docker'}"
    amd64 = registries.push(addr, repo, "amd64", [{"arch": b"amd64\n"}], arch="amd64")
    arm64 = registries.push(addr, repo, "arm64", [{"arch": b"arm64\n"}], arch="arm64", variant="v8")
    entry_type = manifests.DOCKER_MANIFEST
    index = {
        "schemaVersion": 2,
        "mediaType": request.param,
        "manifests": [
            {"mediaType": entry_type, "digest": arm64.manifest_digest, "size": len(arm64.manifest),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": entry_type, "digest": amd64.manifest_digest, "size": len(amd64.manifest),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ],
    }  # fmt: skip
    raw = json.dumps(index).encode()
    registries.dxf_for(addr, repo).set_manifest("1", raw.decode())
    return f"{addr}/{repo}:1", sha256(raw), amd64, arm64


def test_an_index_resolves_to_the_configured_platform(two_platforms):
    image, index_digest, amd64, arm64 = two_platforms
    found = resolved(image)
    assert found.manifest.digest == amd64.manifest_digest
    assert found.image_id == amd64.config_digest
    assert found.repo_digest == index_digest  # what the tag names: the index
    assert str(found.platform) == "linux/amd64"
    other = resolved(image, "linux/arm64")
    assert other.manifest.digest == arm64.manifest_digest and other.image_id == arm64.config_digest
    assert other.repo_digest == index_digest


def test_a_platform_the_index_lacks_is_one_line(two_platforms):
    image = two_platforms[0]
    with pytest.raises(PlatformMissing) as info:
        resolved(image, "linux/s390x")
    message = str(info.value)
    assert (
        "linux/s390x" in message
        and "linux/arm64/v8, linux/amd64" in message
        and "\n" not in message
    )


def test_a_single_platform_image_for_another_platform_is_refused(oci_registry):
    registries.push(oci_registry.addr, "tiny/armonly", "1", [{"a": b"a"}], arch="arm64")
    with pytest.raises(PlatformMissing, match="is a linux/arm64 image, not linux/amd64"):
        resolved(f"{oci_registry.addr}/tiny/armonly:1")
    assert resolved(f"{oci_registry.addr}/tiny/armonly:1", "linux/arm64/v8").image_id


def test_a_pinned_digest_is_read_and_recorded(oci_registry):
    pushed = registries.push(oci_registry.addr, "tiny/pinned", "1", [{"a": b"pinned"}], oci=True)
    found = resolved(f"{oci_registry.addr}/tiny/pinned@{pushed.manifest_digest}")
    assert found.repo_digest == pushed.manifest_digest
    assert found.manifest.media_type == manifests.OCI_MANIFEST
    assert found.config_raw and found.diff_ids == (
        registries.sha256(registries.tar_layer({"a": b"pinned"})),
    )


def push_raw_manifest(addr, repo, tag, config_type, layer_type):
    """An OCI manifest with blobs of the given types (the registry stores any)."""
    dxf = registries.dxf_for(addr, repo)
    config, layer = b'{"rootfs": {"diff_ids": []}}', b"layer bytes"
    for blob in (config, layer):
        dxf.push_blob(data=blob, digest=registries.sha256(blob))
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifests.OCI_MANIFEST,
        "config": {
            "mediaType": config_type,
            "size": len(config),
            "digest": registries.sha256(config),
        },
        "layers": [
            {"mediaType": layer_type, "size": len(layer), "digest": registries.sha256(layer)}
        ],
    }
    dxf.set_manifest(tag, json.dumps(manifest))


@pytest.mark.parametrize(
    ("config_type", "layer_type", "words"),
    [
        ("application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
         "not a container image"),
        (manifests.CONFIG_TYPES[0], "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
         "nondistributable"),  # zstd is carried: see test_oci_export
    ],
)  # fmt: skip
def test_what_is_not_a_carried_image_is_refused(oci_registry, config_type, layer_type, words):
    tag = f"t{abs(hash(layer_type)) % 10**6}"
    push_raw_manifest(oci_registry.addr, "tiny/other", tag, config_type, layer_type)
    with pytest.raises(UnsupportedManifest) as info:
        resolved(f"{oci_registry.addr}/tiny/other:{tag}")
    assert words in str(info.value) and "tiny/other" in str(info.value)
