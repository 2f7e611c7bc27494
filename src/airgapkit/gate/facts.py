"""The facts of a local image for the image rules (``imagefacts.ImageFacts``), from the engine.

A registry's image gets the same record from ``oci.facts``, with no engine.
"""

from __future__ import annotations

from ..engine import identity, images
from ..imagefacts import ImageFacts, parse_env


def from_engine(client, ref: str) -> ImageFacts:
    """The facts of a local image (never pulled: ImageMissing says which tar to load)."""
    image = images.require_image(client, ref)
    attrs = image.attrs
    config = attrs.get("Config") or {}
    size = identity.size(client, image)  # first: where it reads the whole save, it learns the ID
    return ImageFacts(
        ref=ref,
        image_id=identity.of(client, image),
        size=size,
        layers=tuple((attrs.get("RootFS") or {}).get("Layers") or ()),
        env=parse_env(config.get("Env") or []),
        user=(config.get("User") or "").strip(),
        repo_tags=tuple(attrs.get("RepoTags") or ()),
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        engine_id=image.id,
    )
