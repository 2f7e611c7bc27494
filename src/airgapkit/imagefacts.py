"""What the image rules judge about an image, wherever it was read: ``ImageFacts``.

The rules (``gate``) judge this record, not a docker SDK object: the local engine fills it in
(``gate.facts.from_engine``) on every side, a registry's manifest and config without any engine
(``oci.facts``, on a desk with no Docker). One shape for both keeps each rule written once, and
neither reader needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``["KEY=value", ...]`` (an image config's Env) as a mapping."""
    env = {}
    for item in pairs:
        key, _, value = item.partition("=")
        env[key] = value
    return env
