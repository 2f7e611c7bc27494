"""Manifests and indexes: the media types carried, and one clear line for everything else."""

from __future__ import annotations

import json

import pytest

from airgapkit.oci import manifests
from airgapkit.oci.errors import PlatformMissing, UnsupportedManifest
from airgapkit.oci.platforms import Platform

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
IMAGE = "127.0.0.1:5000/node:20-alpine"


def image_manifest(layer_type=manifests.GZIP_LAYER_TYPES[1], config_type=manifests.CONFIG_TYPES[1]):
    return {
        "schemaVersion": 2,
        "mediaType": manifests.DOCKER_MANIFEST,
        "config": {"mediaType": config_type, "size": 100, "digest": D1},
        "layers": [{"mediaType": layer_type, "size": 5, "digest": D2}],
    }


def config(size, digest):
    return {"mediaType": manifests.CONFIG_TYPES[0], "size": size, "digest": digest}


def parsed(data, content_type=""):
    raw = json.dumps(data).encode()
    media_type, doc = manifests.document(raw, content_type, IMAGE)
    return manifests.manifest(raw, media_type, doc, D3, IMAGE)


@pytest.mark.parametrize(
    ("layer_type", "gzipped", "zstd"),
    [
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", True, False),
        ("application/vnd.oci.image.layer.v1.tar+gzip", True, False),
        ("application/vnd.docker.image.rootfs.diff.tar", False, False),  # the containerd store's
        ("application/vnd.oci.image.layer.v1.tar", False, False),
        ("application/vnd.oci.image.layer.v1.tar+zstd", False, True),
        ("application/vnd.docker.image.rootfs.diff.tar.zstd", False, True),
    ],
)
def test_every_layer_type_docker_load_takes_is_carried(layer_type, gzipped, zstd):
    manifest = parsed(image_manifest(layer_type=layer_type))
    assert (manifest.layers[0].gzipped, manifest.layers[0].zstd, manifest.zstd) == (
        gzipped, zstd, zstd,
    )  # fmt: skip


def test_a_docker_manifest_reads_as_config_and_layers():
    manifest = parsed(image_manifest())
    assert manifest.config.digest == D1 and manifest.config.size == 100
    assert [layer.digest for layer in manifest.layers] == [D2]
    assert manifest.layers[0].gzipped and manifest.compressed_size == 5
    assert manifest.layers[0].hex == "2" * 64


def test_an_oci_manifest_without_media_type_is_known_by_its_content_type():
    data = image_manifest(manifests.GZIP_LAYER_TYPES[0], manifests.CONFIG_TYPES[0])
    del data["mediaType"]
    assert (
        parsed(data, manifests.OCI_MANIFEST + "; charset=utf-8").media_type
        == manifests.OCI_MANIFEST
    )


def one_line_error(exc_type, call, *args):
    with pytest.raises(exc_type) as info:
        call(*args)
    assert "\n" not in str(info.value) and IMAGE in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("raw", "content_type", "words"),
    [
        (b"not json", "", "not JSON"),
        (b"[]", "", "not a JSON object"),
        (b'{"schemaVersion": 1, "name": "x"}', "", "schema 1"),
        (b'{"schemaVersion": 2}', "application/vnd.docker.distribution.manifest.v1+prettyjws", "schema 1"),
        (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.artifact.manifest.v1+json"}', "",
         "artifact.manifest"),
        (b'{"schemaVersion": 2}', "text/html", "text/html"),
    ],
)  # fmt: skip
def test_documents_not_understood_are_refused(raw, content_type, words):
    assert words in one_line_error(
        UnsupportedManifest, manifests.document, raw, content_type, IMAGE
    )


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (image_manifest(layer_type="application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
         "nondistributable"),
        (image_manifest(layer_type="application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"), "foreign"),
        (image_manifest(config_type="application/vnd.cncf.helm.config.v1+json"), "not a container image"),
        ({**image_manifest(), "layers": None}, "no list of layers"),
        ({**image_manifest(), "config": config(1, "md5:x")}, "not a sha256 digest"),
        ({**image_manifest(), "config": config(-1, D1)}, "no valid size"),
        ({**image_manifest(), "config": config(True, D1)}, "no valid size"),
        ({**image_manifest(), "config": config(1 << 30, D1)}, "refusing"),
    ],
)  # fmt: skip
def test_manifests_not_carried_are_refused_before_any_layer_moves(data, words):
    assert words in one_line_error(UnsupportedManifest, parsed, data)


def index(*platform_dicts):
    return {
        "schemaVersion": 2,
        "mediaType": manifests.OCI_INDEX,
        "manifests": [
            {"mediaType": manifests.OCI_MANIFEST, "size": 10, "digest": digest, "platform": p}
            for digest, p in zip((D1, D2, D3), platform_dicts, strict=False)
        ],
    }


def test_the_index_entry_for_the_platform_is_chosen():
    data = index(
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
        {"os": "linux", "architecture": "amd64"},
        {"os": "unknown", "architecture": "unknown"},
    )
    assert manifests.choose(data, Platform("linux", "amd64"), IMAGE).digest == D2
    assert manifests.choose(data, Platform("linux", "arm64"), IMAGE).digest == D1


def test_a_platform_the_index_lacks_is_named_with_those_it_has():
    data = index(
        {"os": "linux", "architecture": "arm64"}, {"os": "unknown", "architecture": "unknown"}
    )
    message = one_line_error(
        PlatformMissing, manifests.choose, data, Platform("linux", "s390x"), IMAGE
    )
    assert "linux/s390x" in message and "it has: linux/arm64)" in message


def test_an_index_entry_that_is_not_an_image_manifest_is_refused():
    data = index({"os": "linux", "architecture": "amd64"})
    data["manifests"][0]["mediaType"] = manifests.OCI_INDEX
    one_line_error(UnsupportedManifest, manifests.choose, data, Platform("linux", "amd64"), IMAGE)
