"""Registry-direct export: the image straight from its registry, with its facts and its record.

``open_image`` is what the export flow uses: the image is resolved once (manifest, config, checked),
its facts go to the gate, then ``tar()`` streams it into the bundle's image member and ``record()``
says what the manifest keeps of it (the repository digest among it). ``export_image`` does all of it
into any sink, for a tar on disk. No engine is asked anything; the layers stay compressed as the
registry holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .. import display, pipes
from ..fsutil import AtomicFile, human_size
from ..imagefacts import ImageFacts
from . import platforms, reference
from .facts import from_image, uncompressed_sizes
from .layout import ImageTar, Written
from .registry import Access, Registry
from .remote import RemoteImage, resolve

SOURCE = "registry"  # what the bundle's manifest records as the image's source
console = display.plain(stderr=True)


class RegistryImage:
    """An image resolved in its registry for one export; the registry session stays open with it.

    As a bundle's image source (``crossing.bundle.ImageSource``) its member is stored: its layers
    are gzip already, so deflating them again would cost time and gain nothing.
    """

    level: int | None = 0

    def __init__(self, ref: str, registry: Registry, image: RemoteImage):
        self.ref, self.registry, self.image = ref, registry, image
        self._facts: ImageFacts | None = None
        self._streamed: ImageTar | None = None

    @property
    def tar_name(self) -> str:
        return reference.tar_name(self.ref)

    def chunks(self) -> Iterable[bytes]:
        """The tar for a bundle member; the registry read runs on its own thread, beside the
        hashing and encryption of the member."""
        self._streamed = self.tar()
        return pipes.read_ahead(self._streamed, name=f"pull {self.ref}")

    @property
    def repo_digest(self) -> str:
        """name@sha256:... of what the reference names: what ``release`` checks the load against."""
        return self.image.ref.with_digest(self.image.repo_digest)

    def default_tags(self) -> tuple[str, ...]:
        return (self.ref,) if self.image.ref.tag else ()

    def facts(self) -> ImageFacts:
        """The gate's facts; the uncompressed size from each layer's last bytes (ranged reads)."""
        if self._facts is None:
            self._facts = from_image(
                self.ref, self.image, uncompressed_sizes(self.registry, self.image)
            )
        return self._facts

    def tar(self, tags: Sequence[str] | None = None) -> ImageTar:
        """The loadable tar as chunks to pull (a bundle member), tagged ``tags`` (default: ref)."""
        return ImageTar(self.registry, self.image, self.default_tags() if tags is None else tags)

    def record(self, member: str, tar: ImageTar | None = None) -> dict:
        """What a bundle's manifest keeps of the image, once ``tar`` (default: the one ``chunks``
        gave) has been streamed whole."""
        tar = tar or self._streamed
        platform = self.image.platform
        zstd = {"compression": "zstd"} if self.image.manifest.zstd else {}  # Docker 23.0 and later
        return {
            "ref": self.ref,
            "member": member,
            "id": self.image.image_id,
            "repo_tags": [reference.parse(tag).familiar for tag in tar.tags],
            "layers": list(self.image.diff_ids),
            "size": sum(tar.written.uncompressed),
            "source": SOURCE,
            "repo_digest": self.repo_digest,
            "platform": str(platform) if platform else "",
            **zstd,
        }


@contextmanager
def open_image(
    ref: str, *, platform: str = platforms.DEFAULT, access: Access | None = None
) -> Iterator[RegistryImage]:
    """The image ``ref`` names, resolved for ``platform``, its registry open until the block ends."""
    with Registry(reference.parse(ref), access) as registry:
        yield RegistryImage(ref, registry, resolve(registry, platforms.parse(platform)))


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
    with open_image(ref, platform=platform, access=access) as opened:
        tar = opened.tar(tags)
        for chunk in tar:
            sink.write(chunk)
    return Exported(
        opened.image, from_image(ref, opened.image, tar.written.uncompressed), tar.written
    )


def export_to_file(
    ref: str,
    dest: Path,
    *,
    platform: str = platforms.DEFAULT,
    access: Access | None = None,
) -> Exported:
    """``export_image`` into a file that gets its name only once the whole tar is written."""
    with AtomicFile(dest) as out:
        exported = export_image(ref, out.file, platform=platform, access=access)
    console.print(
        f"wrote {dest} ({ref}, {exported.repo_digest}; {human_size(exported.written.size)})"
    )
    return exported
