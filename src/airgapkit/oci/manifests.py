"""Manifests and indexes as registries serve them: the media types airgapkit carries, and checks.

An image in a registry is a manifest (a config blob and an ordered list of layer blobs, each named by
digest and size), or an index of such manifests, one per platform. Both Docker's (schema 2) and the
OCI's media types are read, with layers in gzip, zstd or plain tar, as ``docker load`` takes them
(zstd from Docker 23.0 on: ``delta.apply`` refuses it on an older engine). Anything else (schema 1,
artifacts, foreign layers) is refused with one line naming the image and the type, before a byte
of a layer moves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from . import platforms
from .errors import PlatformMissing, UnsupportedManifest
from .platforms import Platform

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_INDEX = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_INDEX)

CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
GZIP_LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)
# Plain tar: what the containerd image store pushes for a layer it keeps uncompressed.
TAR_LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
)
# zstd: OCI's type, and the Docker-style one containerd and buildkit write.
ZSTD_LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
)
LAYER_TYPES = GZIP_LAYER_TYPES + ZSTD_LAYER_TYPES + TAR_LAYER_TYPES

MAX_MANIFEST_BYTES = 4 << 20  # the limit registries themselves apply to a manifest
MAX_CONFIG_BYTES = 16 << 20  # an image config is a few KB; this bounds what is read into memory

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Descriptor:
    """A blob (or manifest) by its media type, digest and size in bytes."""

    media_type: str
    digest: str
    size: int

    @property
    def hex(self) -> str:
        return self.digest.removeprefix("sha256:")

    @property
    def gzipped(self) -> bool:
        return self.media_type in GZIP_LAYER_TYPES

    @property
    def zstd(self) -> bool:
        return self.media_type in ZSTD_LAYER_TYPES


@dataclass(frozen=True)
class Manifest:
    """One platform's image manifest: its exact bytes (they are what the digest names) and its blobs."""

    media_type: str
    digest: str
    raw: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @property
    def compressed_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def zstd(self) -> bool:
        """Whether a layer is zstd-compressed: ``docker load`` before Docker 23.0 cannot read it."""
        return any(layer.zstd for layer in self.layers)


def json_object(raw: bytes, what: str) -> dict:
    """``raw`` parsed as a JSON object, or UnsupportedManifest saying ``what`` is not one."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsupportedManifest(f"{what} is not JSON; check the registry serves images") from exc
    if not isinstance(data, dict):
        raise UnsupportedManifest(f"{what} is not a JSON object; check the registry serves images")
    return data


def document(raw: bytes, content_type: str, image: str) -> tuple[str, dict]:
    """The media type and parsed JSON of a manifest or index as served, or UnsupportedManifest."""
    data = json_object(raw, f"the registry's manifest for {image}")
    # OCI documents may omit mediaType; the response's Content-Type then says what they are.
    media_type = data.get("mediaType") or content_type.split(";", 1)[0].strip()
    schema1 = media_type.startswith("application/vnd.docker.distribution.manifest.v1")
    if data.get("schemaVersion") == 1 or schema1:
        raise UnsupportedManifest(
            f"{image} is served as a schema 1 manifest, which Docker itself no longer loads; "
            "push it again with a current docker or skopeo"
        )
    if media_type not in MANIFEST_TYPES + INDEX_TYPES:
        raise UnsupportedManifest(
            f"{image} has a manifest of type {media_type or 'unknown'!r}, which is not an image "
            f"airgapkit can carry (it reads {', '.join(MANIFEST_TYPES + INDEX_TYPES)})"
        )
    return media_type, data


def descriptor(entry: object, image: str, what: str) -> Descriptor:
    """A descriptor from a manifest's JSON, its digest and size checked for shape."""
    if not isinstance(entry, dict):
        raise UnsupportedManifest(f"the manifest of {image} has a malformed {what}")
    digest, size = entry.get("digest"), entry.get("size")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise UnsupportedManifest(
            f"the manifest of {image} names its {what} by {digest!r}, not a sha256 digest"
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UnsupportedManifest(f"the manifest of {image} gives its {what} no valid size")
    return Descriptor(str(entry.get("mediaType") or ""), digest, size)


def manifest(raw: bytes, media_type: str, data: dict, digest: str, image: str) -> Manifest:
    """A platform manifest, each blob's type checked: a config, then gzip or plain tar layers."""
    config = descriptor(data.get("config"), image, "config")
    if config.media_type not in CONFIG_TYPES:
        raise UnsupportedManifest(
            f"{image} is not a container image: its config is of type {config.media_type!r}"
        )
    if config.size > MAX_CONFIG_BYTES:
        raise UnsupportedManifest(f"{image} declares a config of {config.size} bytes; refusing")
    entries = data.get("layers")
    if not isinstance(entries, list):
        raise UnsupportedManifest(f"the manifest of {image} has no list of layers")
    layers = tuple(descriptor(e, image, f"layer {n}") for n, e in enumerate(entries, 1))
    for n, layer in enumerate(layers, 1):
        if layer.media_type not in LAYER_TYPES:
            raise UnsupportedManifest(
                f"layer {n} of {image} is of type {layer.media_type!r}; airgapkit carries gzip, "
                "zstd or plain tar layers (docker load takes no other); use the engine source for it"
            )
    return Manifest(media_type, digest, raw, config, layers)


def choose(data: dict, wanted: Platform, image: str) -> Descriptor:
    """The index entry for ``wanted``, or PlatformMissing listing the platforms the index has."""
    entries = data.get("manifests")
    if not isinstance(entries, list):
        raise UnsupportedManifest(f"the index of {image} has no list of manifests")
    offered = []
    for entry in entries:
        platform = platforms.from_descriptor(entry) if isinstance(entry, dict) else None
        if platform is None or platform.os == "unknown":  # attestations, not images
            continue
        offered.append(str(platform))
        if platform.matches(wanted):
            found = descriptor(entry, image, f"{platform} manifest")
            if found.media_type not in MANIFEST_TYPES:
                raise UnsupportedManifest(
                    f"the {platform} entry of {image} is of type {found.media_type!r}, not an image manifest"
                )
            return found
    raise PlatformMissing(
        f"{image} has no {wanted} image (it has: {', '.join(offered) or 'none'}); "
        "set platform to one of those"
    )
