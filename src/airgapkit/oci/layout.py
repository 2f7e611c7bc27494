"""One tar that ``docker load`` takes on both image stores, streamed from the registry into any sink.

The tar is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/<hex>``), which the
containerd image store reads, plus Docker's ``manifest.json`` whose ``Config`` and ``Layers`` point at
the same blobs, which the classic store reads (Docker 20.10 loads it as it is, gzip layers included).
It is the shape ``docker save`` itself writes on current Docker. The blobs are the registry's bytes:
layers stay compressed as pushed, nothing is unpacked or compressed again.

The sink is any binary file object with ``write`` (a bundle's archive member, a file); nothing is
staged on disk and memory stays flat: each layer moves ``fsutil.CHUNK`` at a time, checked against its
size and digest as it streams (``Registry.blob``). On an error the sink holds part of a tar and must be
discarded, as a bundle's temporary member is.

The member headers come from ``tarfile``; the data goes straight to the sink, because tarfile's stream
mode copies every chunk twice through a buffer of its own.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import AirgapError
from . import reference, sizes
from .manifests import OCI_INDEX, Descriptor
from .registry import Registry
from .remote import RemoteImage

BLOCK = 512
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
    out = _TarWriter(sink)
    manifest = image.manifest
    out.add("oci-layout", OCI_LAYOUT)
    out.add("index.json", index_json(image, tags))
    out.add("manifest.json", docker_manifest_json(image, tags))
    out.add_dir("blobs/")
    out.add_dir("blobs/sha256/")
    out.add(blob_path(manifest.config), image.config_raw)
    out.add(f"blobs/sha256/{manifest.digest.removeprefix('sha256:')}", manifest.raw)
    uncompressed: dict[str, int] = {}
    for n, layer in enumerate(manifest.layers, 1):
        if layer.digest in uncompressed:  # a layer listed twice is stored once
            continue
        tail = sizes.Tail()
        what = f"layer {n} of {image.ref.familiar} ({layer.digest})"
        out.add_stream(blob_path(layer), layer.size, _tracked(registry.blob(layer, what), tail))
        uncompressed[layer.digest] = (
            sizes.uncompressed_size(tail.bytes, layer.size) if layer.gzipped else layer.size
        )
    out.close()
    return Written(out.size, tuple(uncompressed[layer.digest] for layer in manifest.layers))


def _tracked(chunks: Iterable[bytes], tail: sizes.Tail) -> Iterable[bytes]:
    for chunk in chunks:
        tail.update(chunk)
        yield chunk


class _TarWriter:
    """Members written one after another: a tarfile header, the data as it comes, zero padding."""

    def __init__(self, sink: BinaryIO):
        self.sink = sink
        self.size = 0

    def _write(self, data: bytes) -> None:
        self.sink.write(data)
        self.size += len(data)

    def _header(
        self, name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644
    ) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.type, info.mode, info.mtime = size, kind, mode, 0  # same bytes every run
        self._write(info.tobuf(format=tarfile.PAX_FORMAT))

    def _pad(self, size: int) -> None:
        if size % BLOCK:
            self._write(bytes(BLOCK - size % BLOCK))

    def add(self, name: str, data: bytes) -> None:
        self._header(name, len(data))
        self._write(data)
        self._pad(len(data))

    def add_dir(self, name: str) -> None:
        self._header(name, 0, tarfile.DIRTYPE, 0o755)

    def add_stream(self, name: str, size: int, chunks: Iterable[bytes]) -> None:
        """A member of ``size`` bytes from ``chunks``; the iterator is run to its end, where the
        registry's checks (length, digest) happen."""
        self._header(name, size)
        for chunk in chunks:
            self._write(chunk)
        self._pad(size)

    def close(self) -> None:
        end = 2 * BLOCK  # two zero blocks end a tar; then pad the archive to whole records
        self._write(bytes(end + (-(self.size + end) % RECORD)))
