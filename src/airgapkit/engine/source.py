"""An image of this engine as a bundle carries it (``crossing.bundle.ImageSource``): its tar as
``docker save`` streams it, and what the manifest keeps of it (identity, tags, layers, size)."""

from __future__ import annotations

from collections.abc import Iterable

import docker
from docker.models.images import Image

from ..oci.reference import tar_name
from ..pipes import Ahead
from . import identity, images


class SavedImage:
    """The image ``ref`` names in the engine, saved into a bundle member (deflated as the archive
    is). Asking for its chunks finds it first: a missing image is ImageMissing before any byte."""

    level: int | None = None  # the archive's compression: a saved tar's layers are not compressed

    def __init__(self, client: docker.DockerClient, ref: str):
        self.client, self.ref = client, ref
        self._image: Image | None = None
        self._early: Ahead | None = None

    @property
    def tar_name(self) -> str:
        return tar_name(self.ref)

    def start(self) -> SavedImage:
        """Ask the engine for the tar now, while other work goes on: the classic store makes the
        whole tar before it sends a byte. A few chunks wait; ``close`` ends it if it goes unread."""
        self._image = images.require_image(self.client, self.ref)
        self._early = images.save_stream(self.client, [self.ref], now=True)
        return self

    def close(self) -> None:
        """End an early save not read to its end, without waiting for the engine's first byte."""
        if self._early is not None:
            self._early.close(wait=False)

    def chunks(self) -> Iterable[bytes]:
        if self._early is not None:
            return self._early
        self._image = images.require_image(self.client, self.ref)
        return images.save_stream(self.client, [self.ref])

    def record(self, member: str) -> dict:
        image = self._image or images.require_image(self.client, self.ref)
        attrs = image.attrs
        return {
            "ref": self.ref,
            "member": member,
            "id": identity.of(self.client, image),  # the config digest, whichever store holds it
            "repo_tags": attrs.get("RepoTags") or [],
            "layers": attrs.get("RootFS", {}).get("Layers", []),
            "size": attrs.get("Size"),
        }


def saved(client: docker.DockerClient, refs: Iterable[str | SavedImage]) -> list[SavedImage]:
    """The images ``refs`` name in the engine, as a bundle's image sources (one already started
    is taken as it is)."""
    return [ref if isinstance(ref, SavedImage) else SavedImage(client, ref) for ref in refs]
