"""An image as its registry describes it: the manifest for one platform and its config, both checked.

``resolve`` reads what the reference names (a manifest, or an index of them), picks the configured
platform's manifest from an index, and reads the config blob. Every document is checked against the
digest that names it: the manifest a digest pins, the platform manifest the index names, the config
the manifest names. Layers are not read here; ``layout`` streams them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from . import manifests, platforms
from .errors import IntegrityError, PlatformMissing, UnsupportedManifest
from .manifests import Manifest
from .platforms import Platform
from .reference import ImageRef
from .registry import Registry


@dataclass(frozen=True)
class RemoteImage:
    ref: ImageRef
    repo_digest: str  # digest of what the reference names (the index, for a multi-platform image)
    manifest: Manifest  # the one platform's manifest
    config_raw: bytes
    config: dict

    @property
    def image_id(self) -> str:
        """sha256 of the config: the ID every engine gives the image once loaded."""
        return self.manifest.config.digest

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(self.config["rootfs"]["diff_ids"])

    @property
    def platform(self) -> Platform | None:
        return platforms.from_config(self.config)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def resolve(registry: Registry, wanted: Platform) -> RemoteImage:
    """The image ``registry.ref`` names, for ``wanted``: manifest and config read and checked."""
    ref, image = registry.ref, registry.ref.familiar
    raw, content_type = registry.manifest(ref.reference)
    repo_digest = sha256(raw)
    if ref.digest and repo_digest != ref.digest:
        raise IntegrityError(
            f"registry {registry.host} served a manifest for {image} whose digest is {repo_digest}; "
            "the registry's copy is damaged or tampered with"
        )
    media_type, data = manifests.document(raw, content_type, image)
    digest = repo_digest
    if media_type in manifests.INDEX_TYPES:
        entry = manifests.choose(data, wanted, image)
        raw, content_type = registry.manifest(entry.digest)
        digest = sha256(raw)
        if digest != entry.digest or len(raw) != entry.size:
            raise IntegrityError(
                f"registry {registry.host} served the {wanted} manifest of {image} with digest "
                f"{digest}, not {entry.digest}; the registry's copy is damaged or tampered with"
            )
        media_type, data = manifests.document(raw, content_type, image)
        if media_type not in manifests.MANIFEST_TYPES:
            raise UnsupportedManifest(
                f"the {wanted} entry of {image} is itself an index; not an image"
            )
    manifest = manifests.manifest(raw, media_type, data, digest, image)
    config_raw = registry.blob_bytes(manifest.config, f"the config of {image}")
    config = _config(config_raw, manifest, image)
    found = platforms.from_config(config)
    if found is not None and not found.matches(wanted):
        raise PlatformMissing(
            f"{image} is a {found} image, not {wanted}; set platform to {found} or choose another image"
        )
    return RemoteImage(ref, repo_digest, manifest, config_raw, config)


def _config(raw: bytes, manifest: Manifest, image: str) -> dict:
    """The parsed config, with one diff ID per layer (what docker load checks each layer against)."""
    config = manifests.json_object(raw, f"the config of {image}")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    listed = len(diff_ids) if isinstance(diff_ids, list) else 0
    if listed != len(manifest.layers) or not isinstance(diff_ids, list):
        raise UnsupportedManifest(
            f"the config of {image} lists {listed} layer diff IDs for "
            f"{len(manifest.layers)} layers; not a loadable image"
        )
    return config
