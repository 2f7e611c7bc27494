"""One tar that ``docker load`` takes on both image stores, streamed from the registry into any sink.

The tar is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``), which the
containerd image store reads, plus Docker's ``manifest.json`` whose ``Config`` and ``Layers`` point at
the same blobs, which the classic store reads (Docker 20.10 loads it as it is, gzip layers included).
It is the shape ``docker save`` itself writes on current Docker. The blobs are the registry's bytes:
layers stay compressed as pushed, nothing is unpacked or compressed again.

The sink is any binary file object with ``write`` (a bundle's archive member, a file); nothing is
staged on disk and memory stays flat: each layer moves ``fsutil.CHUNK`` at a time, checked against its
size and digest as it streams (``Registry.blob``). On an error the sink holds part of a tar and must be
discarded, as a bundle's temporary member is. ``ImageTar`` is the same tar as chunks to pull.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from .. import tarstream
from ..errors import AirgapError
from . import reference, sizes
from .manifests import OCI_INDEX, Descriptor
from .registry import Registry
from .remote import RemoteImage

BLOCK = tarstream.BLOCK
RECORD = 20 * BLOCK  # tar's record: the archive's length is padded to a multiple of it
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
NAME_ANNOTATION = "io.containerd.image.name"  # the full name the containerd store gives the image
TAG_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Written:
    size: int  # bytes of tar written to the sink
    uncompressed: tuple[int, ...]  # each layer's uncompressed (tar) size, in manifest order


def blob_path(blob: Descriptor) -> str:
    return f"blobs/sha256/{blob.hex}"


def index_json(image: RemoteImage, tags: Sequence[str]) -> bytes:
    """The layout's index: the platform manifest, once per tag with the names containerd reads."""
    manifest = image.manifest
    entry = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.raw)}
    entries = []
    for tag in tags:
        ref = _tagged(tag)
        name = f"{ref.full_name}:{ref.tag}"
        entries.append({**entry, "annotations": {NAME_ANNOTATION: name, TAG_ANNOTATION: ref.tag}})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries or [entry]}
    return json.dumps(index, separators=(",", ":")).encode()


def docker_manifest_json(image: RemoteImage, tags: Sequence[str]) -> bytes:
    """Docker's manifest.json: config, tags and layers (in order, repeats kept) as blob paths."""
    manifest = image.manifest
    entry = {
        "Config": blob_path(manifest.config),
        "RepoTags": [_tagged(tag).familiar for tag in tags],
        "Layers": [blob_path(layer) for layer in manifest.layers],
    }
    return json.dumps([entry], separators=(",", ":")).encode()


def _tagged(tag: str) -> reference.ImageRef:
    ref = reference.parse(tag)
    if not ref.tag:
        raise AirgapError(f"{tag!r} names no tag to give the loaded image; write it as name:tag")
    return ref


def write(sink: BinaryIO, registry: Registry, image: RemoteImage, tags: Sequence[str]) -> Written:
    """Stream ``image`` from ``registry`` into ``sink`` as one loadable tar tagged ``tags``."""
    tar = ImageTar(registry, image, tags)
    for chunk in tar:
        sink.write(chunk)
    return tar.written


class ImageTar:
    """The tar as an iterable of chunks, for a consumer that pulls (an archive member); after it has
    been iterated to its end, ``written`` says what it was.

    The member headers come from ``tarstream``; the data goes straight through, because tarfile's
    stream mode copies every chunk twice through a buffer of its own.
    """

    def __init__(self, registry: Registry, image: RemoteImage, tags: Sequence[str]):
        self.registry, self.image, self.tags = registry, image, tuple(tags)
        self.written: Written | None = None

    def __iter__(self) -> Iterator[bytes]:
        size, uncompressed = 0, {}
        for chunk in self._chunks(uncompressed):
            size += len(chunk)
            yield chunk
        end = 2 * BLOCK  # two zero blocks end a tar; then pad the archive to whole records
        padding = bytes(end + (-(size + end) % RECORD))
        yield padding
        layers = self.image.manifest.layers
        self.written = Written(size + len(padding), tuple(uncompressed[x.digest] for x in layers))

    def _chunks(self, uncompressed: dict[str, int]) -> Iterator[bytes]:
        image, manifest = self.image, self.image.manifest
        yield from tarstream.file_member("oci-layout", OCI_LAYOUT)
        yield from tarstream.file_member("index.json", index_json(image, self.tags))
        yield from tarstream.file_member("manifest.json", docker_manifest_json(image, self.tags))
        yield tarstream.directory("blobs/")
        yield tarstream.directory("blobs/sha256/")
        yield from tarstream.file_member(blob_path(manifest.config), image.config_raw)
        yield from tarstream.file_member(
            f"blobs/sha256/{manifest.digest.removeprefix('sha256:')}", manifest.raw
        )
        for n, layer in enumerate(manifest.layers, 1):
            if layer.digest in uncompressed:  # a layer listed twice is stored once
                continue
            what = f"layer {n} of {image.ref.familiar} ({layer.digest})"
            tail, decoded = sizes.Tail(), sizes.ZstdLength(what) if layer.zstd else None
            yield tarstream.header(blob_path(layer), layer.size)
            for chunk in self.registry.blob(layer, what):  # checked: length, then digest at the end
                tail.update(chunk)
                if decoded is not None:
                    decoded.update(chunk)
                yield chunk
            yield tarstream.padding(layer.size)
            if decoded is not None:
                uncompressed[layer.digest] = decoded.size
            elif layer.gzipped:
                uncompressed[layer.digest] = sizes.uncompressed_size(tail.bytes, layer.size)
            else:
                uncompressed[layer.digest] = layer.size
