"""What the image rules need to know about an image, wherever it comes from.

The rules judge an ``ImageFacts``, not a docker SDK object: the facts come from the local engine
(``from_engine``) on every side, or from a registry's manifest and config without any engine (on a
desk with no Docker). One shape for both keeps each rule written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import identity, images


@dataclass(frozen=True)
class ImageFacts:
    ref: str  # the name the user gave
    image_id: str  # sha256:<hex> of the image config: the same on both image stores
    size: int  # bytes, uncompressed, every layer (the classic store's SIZE; engine.identity.size)
    layers: tuple[str, ...] = ()  # the layers' diff IDs, bottom first
    env: dict[str, str] = field(default_factory=dict)  # Config.Env
    user: str = ""  # Config.User ("" means root)
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()  # name@sha256:<manifest digest>, where known
    compressed_size: int | None = None  # bytes of the compressed layers, where known (registry)
    engine_id: str = ""  # what the local engine calls the image (its lookups); "" from a registry

    @property
    def names(self) -> list[str]:
        """Every name the image goes by, the given one first (reports are matched by them)."""
        return [self.ref, *self.repo_tags]


def from_engine(client, ref: str) -> ImageFacts:
    """The facts of a local image (never pulled: ImageMissing says which tar to load)."""
    image = images.require_image(client, ref)
    attrs = image.attrs
    config = attrs.get("Config") or {}
    return ImageFacts(
        ref=ref,
        image_id=identity.of(client, image),
        size=identity.size(client, image),
        layers=tuple((attrs.get("RootFS") or {}).get("Layers") or ()),
        env=parse_env(config.get("Env") or []),
        user=(config.get("User") or "").strip(),
        repo_tags=tuple(attrs.get("RepoTags") or ()),
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        engine_id=image.id,
    )


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``["KEY=value", ...]`` (an image config's Env) as a mapping."""
    env = {}
    for item in pairs:
        key, _, value = item.partition("=")
        env[key] = value
    return env
