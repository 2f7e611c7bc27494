"""``docker save`` archives as streams: layers left out on the near side, put back on the far side.

A ``docker save`` archive lists its image's layers, bottom first, in ``manifest.json`` (``Layers``:
paths inside the archive, ``<id>/layer.tar`` in the classic layout, ``blobs/sha256/<digest>`` in
the OCI one); the image config lists their diff IDs in the same order. Leaving a layer out keeps
that list whole and drops the member, so the partial archive still says everything the image
needs. Putting layers back makes a complete archive again: ``docker load`` is never asked to skip
a layer that is absent (the classic store would, the containerd image store does not).

Everything here reads and writes chunks, one member at a time: memory stays flat. Leaving layers
out reads the engine's stream once (``without_held``): a layer is told by its name where the layout
allows (``legacyids``, or a blob named by its diff ID), else by its diff ID, known only at its end
(a temporary file holds it while it is hashed); it is sent on when the far side lacks it.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from .. import tarstream
from ..engine.identity import GZIP_MAGIC
from ..errors import AirgapError
from ..fsutil import CHUNK
from . import legacyids

MANIFEST = "manifest.json"
LEGACY_CONFIG = "json"  # a classic layout folder's layer config, before its layer.tar
OCI_INDEX = ("index.json", "oci-layout")  # they would name the blobs left out: dropped
REUSED = "airgapkit-reused"  # where a prerequisite's layers go in a put-together archive
_MAX_MANIFEST = 1 << 20  # a manifest.json of one image is a few hundred bytes
BLOBS = "blobs/sha256/"


def layer_paths(chunks: Iterable[bytes]) -> list[str]:
    """The ``Layers`` of the one image in a ``docker save`` stream (read to its end)."""
    found = None
    for info, data in tarstream.members(chunks):
        if info.name == MANIFEST and data is not None:
            found = _read_manifest(info, data)
    if found is None:
        raise AirgapError("the docker save stream has no manifest.json; the engine's save failed")
    return list(found[0]["Layers"])


def without(chunks: Iterable[bytes], leave_out: set[str]) -> Iterator[bytes]:
    """The ``docker save`` stream again, without the members at ``leave_out`` (and OCI indexes)."""
    for info, data in tarstream.members(chunks):
        if info.name not in leave_out and info.name not in OCI_INDEX:
            yield from tarstream.member(info, data)
    yield tarstream.end()


def without_held(
    chunks: Iterable[bytes], held: set[str], diff_ids: Sequence[str] = ()
) -> Iterator[bytes]:
    """The ``docker save`` stream again, read once, without the layers whose diff IDs are in
    ``held`` (and OCI indexes). ``diff_ids``: the image's layers, bottom first.

    Which layer a member holds is known before its bytes where the layout says it: an OCI blob
    named by a held diff ID (a plain layer is named by it), and a classic folder whose ``json``
    gives its chain ID (``legacyids``); such a held layer is dropped unread, any other sent on as
    it streams. Otherwise a layer's diff ID, the digest of its plain tar, is known once it has gone
    by: it is hashed into a temporary file and sent on only when not held (a gzip one, as the
    containerd store saves what it built, is hashed as it is inflated). A link to a layer (the
    classic layout's second copy) is sent last, and only when its target was.
    """
    chains = legacyids.chain_ids(diff_ids)
    known: dict[str, str] = {}  # classic folder -> the diff ID of its layer
    dropped: set[str] = set()
    links = []
    for info, data in tarstream.members(chunks):
        folder, base = posixpath.split(info.name)
        if info.name in OCI_INDEX:
            continue
        if base == LEGACY_CONFIG and data is not None and info.size <= _MAX_MANIFEST:
            config = data.read()
            index = legacyids.layer_of(config, folder, chains)
            if index is not None:
                known[folder] = diff_ids[index]
            yield from tarstream.member(info, io.BytesIO(config))
        elif info.issym() and _may_be_layer(info.name):
            links.append(info)
        elif data is None or not _may_be_layer(info.name):
            yield from tarstream.member(info, data)
        elif (told := _blob_digest(info.name) or known.get(folder)) in held:
            dropped.add(info.name)
        elif told in diff_ids:
            yield from tarstream.member(info, data)  # a layer the far side lacks, named
        else:
            yield from _unless_held(info, data, held, dropped)
    for link in links:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(link.name), link.linkname))
        if target not in dropped:
            yield from tarstream.member(link)
    yield tarstream.end()


def _unless_held(info, data: IO[bytes], held: set[str], dropped: set[str]) -> Iterator[bytes]:
    with tempfile.TemporaryFile(prefix="airgapkit-layer-") as spool:
        if _spooled_diff_ids(data, spool) & held:
            dropped.add(info.name)
            return
        spool.seek(0)
        yield from tarstream.member(info, spool)


def _spooled_diff_ids(data: IO[bytes], spool: IO[bytes]) -> set[str]:
    """Copy ``data`` into ``spool``; the digests it may be known by: of its bytes, and of its
    plain tar when it is gzip-compressed."""
    plain, inflated, inflate = hashlib.sha256(), hashlib.sha256(), None
    while chunk := data.read(CHUNK):
        if not spool.tell() and chunk[:2] == GZIP_MAGIC:
            inflate = zlib.decompressobj(wbits=31)
        plain.update(chunk)
        spool.write(chunk)
        while inflate is not None and chunk:  # a chunk at a time out too: no bomb in memory
            inflated.update(inflate.decompress(chunk, CHUNK))
            chunk = inflate.unconsumed_tail
    found = {f"sha256:{plain.hexdigest()}"}
    return found | {f"sha256:{inflated.hexdigest()}"} if inflate is not None else found


def _blob_digest(name: str) -> str | None:
    return f"sha256:{name[len(BLOBS) :]}" if name.startswith(BLOBS) else None


def put_together(
    prerequisite: Iterable[bytes],
    prerequisite_layers: Sequence[str],
    partial: Iterable[bytes],
    layers: Sequence[str],
) -> Iterator[bytes]:
    """A complete ``docker save`` archive from a partial one and the image its layers came from.

    ``prerequisite``: the ``docker save`` stream of the image on the far side, whose diff IDs are
    ``prerequisite_layers``; ``partial``: the archive that travelled, for an image whose diff IDs
    are ``layers``. The prerequisite's layers go first under names of their own, then the partial
    archive's members, then its ``manifest.json`` with every layer it left out pointed at the
    prerequisite's copy.
    """
    reused: dict[str, str] = {}  # diff ID -> path of the prerequisite's copy
    yield from _reused_layers(prerequisite, prerequisite_layers, reused)
    present: set[str] = set()
    manifest = None
    for info, data in tarstream.members(partial):
        if info.name == MANIFEST and data is not None:
            manifest = _read_manifest(info, data)
            continue
        present.add(info.name)
        yield from tarstream.member(info, data)
    if manifest is None:
        raise AirgapError("the partial image archive has no manifest.json; make the delta again")
    manifest[0]["Layers"] = _relinked(manifest[0]["Layers"], layers, present, reused)
    yield from tarstream.file_member(MANIFEST, json.dumps(manifest).encode())
    yield tarstream.end()


def _reused_layers(
    chunks: Iterable[bytes], diff_ids: Sequence[str], reused: dict[str, str]
) -> Iterator[bytes]:
    """Every layer member of the prerequisite's archive, renamed; ``reused`` learns which is which.

    Which member is which layer is only known from ``manifest.json``, which the engine writes
    after the layers: so every file that may be a layer is passed on, and matched at the end.
    """
    renamed: dict[str, str] = {}  # the prerequisite's path -> the new one
    manifest = None
    for info, data in tarstream.members(chunks):
        if info.name == MANIFEST and data is not None:
            manifest = _read_manifest(info, data)
        elif data is not None and _may_be_layer(info.name):
            renamed[info.name] = f"{REUSED}/{len(renamed)}/layer.tar"
            info.name = renamed[info.name]
            yield from tarstream.member(info, data)
    if manifest is None:
        raise AirgapError("the prerequisite's docker save stream has no manifest.json")
    paths = manifest[0]["Layers"]
    if len(paths) != len(diff_ids):
        raise AirgapError(
            f"the prerequisite's archive lists {len(paths)} layers, the engine {len(diff_ids)}"
        )
    for path, diff_id in zip(paths, diff_ids, strict=True):
        if path in renamed:  # a link to a copy of the same layer is matched through that copy
            reused.setdefault(diff_id, renamed[path])


def _may_be_layer(name: str) -> bool:
    return name.endswith("/layer.tar") or name.startswith("blobs/")


def _relinked(
    paths: Sequence[str], layers: Sequence[str], present: set[str], reused: dict[str, str]
) -> list[str]:
    if len(paths) != len(layers):
        raise AirgapError(
            f"the partial archive lists {len(paths)} layers, its bundle's manifest {len(layers)}; "
            "make the delta again"
        )
    out = []
    for path, diff_id in zip(paths, layers, strict=True):
        if path in present:
            out.append(path)
        elif diff_id in reused:
            out.append(reused[diff_id])
        else:
            raise AirgapError(
                f"layer {diff_id[:19]} is neither in the delta nor in its prerequisite image; "
                "the prerequisite is not the image the delta was made against"
            )
    return out


def _read_manifest(info, data) -> list[dict]:
    if info.size > _MAX_MANIFEST:
        raise AirgapError(f"manifest.json of {info.size} bytes in an image archive; refused")
    manifest = json.load(data)
    if not isinstance(manifest, list) or len(manifest) != 1 or "Layers" not in manifest[0]:
        raise AirgapError("the image archive's manifest.json does not describe one image")
    return manifest
