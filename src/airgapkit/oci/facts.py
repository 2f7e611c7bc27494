"""The facts the image rules judge (``imagefacts.ImageFacts``), from the registry alone, no engine.

Everything but the uncompressed size is in the manifest and the config: the image ID (the config's
digest), the layers' diff IDs, ``Env`` and ``User``, the compressed size (the layers' sizes in the
manifest) and the repository digest (what the tag names, the index for a multi-platform image; the
``name@digest`` that pins it). No manifest or config records the uncompressed size, and the config's
history holds no sizes either; each gzip layer records its own in its last four bytes (``sizes``).
``image_facts`` asks the registry for those four bytes of each layer (a ranged read; a registry that
ignores ranges sends the layer, which is then read through and dropped); an export reads them as
it streams the layers, after their digests are checked. A zstd layer's length is counted by
decoding it: ``image_facts`` reads such a layer through.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..imagefacts import ImageFacts, parse_env
from . import platforms, reference, sizes
from .manifests import Descriptor
from .registry import Access, Registry
from .remote import RemoteImage, resolve


def from_image(ref: str, image: RemoteImage, uncompressed: Sequence[int]) -> ImageFacts:
    """The facts of ``image`` (named ``ref`` by the user), given each layer's uncompressed size."""
    config = image.config.get("config")
    config = config if isinstance(config, dict) else {}  # an image with no runtime config at all
    return ImageFacts(
        ref=ref,
        image_id=image.image_id,
        size=sum(uncompressed),
        layers=image.diff_ids,
        env=parse_env(config.get("Env") or []),
        user=(config.get("User") or "").strip(),
        repo_tags=(image.ref.familiar,) if image.ref.tag else (),
        repo_digests=(image.ref.with_digest(image.repo_digest),),
        compressed_size=image.manifest.compressed_size,
    )


def image_facts(
    ref: str, *, platform: str = platforms.DEFAULT, access: Access | None = None
) -> ImageFacts:
    """The facts of the image ``ref`` names in its registry, for ``platform``; no layer is kept."""
    with Registry(reference.parse(ref), access) as registry:
        image = resolve(registry, platforms.parse(platform))
        return from_image(ref, image, uncompressed_sizes(registry, image))


def uncompressed_sizes(registry: Registry, image: RemoteImage) -> tuple[int, ...]:
    """Each layer's uncompressed size, from its gzip trailer (a plain tar layer is its own size)."""
    return tuple(
        _uncompressed(registry, image, n, layer) for n, layer in enumerate(image.manifest.layers, 1)
    )


def _uncompressed(registry: Registry, image: RemoteImage, n: int, layer: Descriptor) -> int:
    what = f"layer {n} of {image.ref.familiar} ({layer.digest})"
    if layer.zstd:  # its length is nowhere but in its decoded bytes: the layer is read through
        decoded = sizes.ZstdLength(what)
        for chunk in registry.blob(layer, what):
            decoded.update(chunk)
        return decoded.size
    if not layer.gzipped:
        return layer.size
    tail = registry.blob_tail(layer, sizes.TAIL, what)
    if tail is None:  # no ranges here: read the layer through, checked, keeping its last bytes
        kept = sizes.Tail()
        for chunk in registry.blob(layer, what):
            kept.update(chunk)
        tail = kept.bytes
    return sizes.uncompressed_size(tail, layer.size)
