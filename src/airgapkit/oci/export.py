"""Registry-direct export: the image straight from its registry into a sink, with its facts.

``export_image`` is what the export flow calls with the bundle's image member as ``sink``: no engine
is asked anything, the layers stay compressed as the registry holds them, and what comes back says
what was written (the repository digest to record, the facts for the gate, the tar's size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..gate.facts import ImageFacts
from . import layout, platforms, reference
from .facts import from_image
from .layout import Written
from .registry import Access, Registry
from .remote import RemoteImage, resolve


@dataclass(frozen=True)
class Exported:
    image: RemoteImage
    facts: ImageFacts
    written: Written

    @property
    def repo_digest(self) -> str:
        """name@sha256:... : what the manifest records and ``release`` checks the loaded image by."""
        return self.image.ref.with_digest(self.image.repo_digest)


def export_image(
    ref: str,
    sink: BinaryIO,
    *,
    platform: str = platforms.DEFAULT,
    access: Access | None = None,
    tags: Sequence[str] | None = None,
) -> Exported:
    """Write the image ``ref`` names, for ``platform``, into ``sink`` as a tar ``docker load`` takes.

    ``tags`` are the names the loaded image gets (default: ``ref`` itself when it has a tag). On an
    error the sink holds part of a tar: the caller discards it.
    """
    parsed = reference.parse(ref)
    if tags is None:
        tags = (ref,) if parsed.tag else ()
    with Registry(parsed, access) as registry:
        image = resolve(registry, platforms.parse(platform))
        written = layout.write(sink, registry, image, tags)
    return Exported(image, from_image(ref, image, written.uncompressed), written)
