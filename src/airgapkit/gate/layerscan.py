"""Secrets in image layers: env files and private keys, found in a ``docker save`` stream.

The scanner reads any iterable of ``docker save`` chunks (the engine's stream, or the stream a
release archives anyway), in one pass: the outer tar and each layer tar inside it are opened in
stream mode (``r|``), so nothing is held but the current block and the small files checked for PEM
armour. Both layouts of ``docker save`` are read: ``<id>/layer.tar`` (classic image store) and
``blobs/sha256/<digest>`` (OCI layout, layers possibly compressed).

A file a later layer deletes (a whiteout, ``.wh.<name>``, or an opaque directory, ``.wh..wh..opq``)
is still in the lower layer's tar and so still in the image: it is found, and said to be deleted
later. Whether a file is an env file is decided by ``app.envfiles.holds_settings`` alone.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .. import tarstream
from ..app import envfiles
from ..engine import identity, images
from ..engine.identity import GZIP_MAGIC, ZSTD_MAGIC
from ..fsutil import CHUNK
from ..oci import sizes

_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----\r?\n"  # the armour line ends its line
    rb"(?:[A-Za-z-]+:[^\n]*\r?\n)*\r?\n?"  # optional RFC 1421 headers (Proc-Type, DEK-Info)
    rb"[A-Za-z0-9+/=]{16,}\r?\n(?:[A-Za-z0-9+/=]+\r?\n)*"  # base64 body (one line for Ed25519)
    rb"-----END \1PRIVATE KEY-----"  # and the closing line: a placeholder in docs has neither
)
_KEY_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"}
_READ_LIMIT = 1 << 20  # keys and env files are small; bigger files are not read for PEM armour
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"  # everything the lower layers had in this directory is gone


@dataclass(frozen=True)
class SecretFinding:
    path: str  # absolute, inside the image
    what: str  # ".env file", "SSH private key", "PEM private key"
    layer: str  # the layer's member name in the saved image
    index: int = 0  # 1-based position in the image, bottom first (0: not in the manifest)
    of: int = 0  # how many layers the image has
    deleted_later: bool = False

    def describe(self) -> str:
        where = f"layer {self.index} of {self.of}" if self.index else f"layer {self.layer}"
        gone = ", deleted in a later layer but still in the image" if self.deleted_later else ""
        return f"{self.path} ({self.what}) in {where}{gone}"


def holds_private_key(data: bytes) -> bool:
    """PEM armour around a key body; a placeholder in documentation has no body and no newlines."""
    return b"PRIVATE KEY-----" in data and _PEM_KEY.search(data) is not None


def scan_image(client, ref: str) -> list[SecretFinding]:
    """Save a local image through the engine and scan the stream (nothing written to disk)."""
    return scan_layers(images.save_stream(client, [ref]))


@dataclass(frozen=True)
class Scanned:
    """What one read of a saved image told: its secrets, and the length of its layers' tars
    summed (``engine.identity.size``'s measure; None when a zstd layer's is known only decoded)."""

    findings: list[SecretFinding]
    size: int | None


def scan_layers(chunks: Iterable[bytes]) -> list[SecretFinding]:
    """Find env files and private keys in every layer of a ``docker save`` stream, bottom first."""
    return scan_and_measure(chunks).findings


def scan_and_measure(chunks: Iterable[bytes]) -> Scanned:
    """``scan_layers``, and the image's size learnt from the same read (a release's gate needs
    it, and the containerd store could tell it only by saving the image once more)."""
    found: list[SecretFinding] = []
    deleted: dict[str, set[str]] = {}  # layer -> paths its whiteouts delete
    met: list[str] = []  # layers in the order met, in case the manifest does not say
    listed: list[str] = []  # layers as the manifest lists them, bottom first
    lengths: dict[str, int | None] = {}  # member -> the length of the tar it holds
    for member, data in tarstream.members(chunks):
        if data is None:
            continue
        if member.name == "manifest.json":
            listed = _manifest_layers(data)
        elif member.name.endswith("/layer.tar") or member.name.startswith("blobs/"):
            ends = _Ends(data)
            layer = _open_layer(io.BufferedReader(ends, CHUNK))
            if layer is not None:
                met.append(member.name)
                with layer:
                    deleted[member.name] = _scan_layer(layer, member.name, found)
            ends.drain()
            lengths[member.name] = identity.tar_length(ends.head, ends.tail.bytes, member.size)
    layers = listed or met
    sizes_known = [lengths.get(name) for name in layers]
    size = None if None in sizes_known else sum(sizes_known)
    return Scanned(_placed(found, layers, deleted), size)


def _manifest_layers(fileobj) -> list[str]:
    manifest = json.load(fileobj)
    return list(manifest[0].get("Layers") or []) if manifest else []


def _open_layer(fileobj) -> tarfile.TarFile | None:
    """The layer's tar, read as a stream; a gzip one through an inflater that gives at most a
    chunk at a time (tarfile's own inflates whatever it reads at once: a file of zeros a thousand
    times its compressed size would be held whole)."""
    head = fileobj.peek(len(ZSTD_MAGIC))[: len(ZSTD_MAGIC)]
    if head.startswith(GZIP_MAGIC):
        fileobj = io.BufferedReader(_Inflating(fileobj), CHUNK)
    elif head == ZSTD_MAGIC:  # tarfile knows no zstd: a layer must not go unread for that
        zstd = sizes.zstandard("a layer of the image", "release again")
        fileobj = zstd.ZstdDecompressor().stream_reader(fileobj, read_size=CHUNK)
    try:
        return tarfile.open(fileobj=fileobj, mode="r|*", bufsize=CHUNK)
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        return None  # a config or manifest blob, not a layer


class _Ends(io.RawIOBase):
    """A member's data as it is read, keeping its first and last bytes (``identity.tar_length``)."""

    def __init__(self, data):
        self._data, self.head, self.tail = data, b"", sizes.Tail()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._data.readinto(buffer)
        if count:
            if len(self.head) < len(ZSTD_MAGIC):
                self.head += bytes(buffer[: min(count, len(ZSTD_MAGIC) - len(self.head))])
            self.tail.update(bytes(buffer[max(0, count - sizes.TAIL) : count]))
        return count

    def drain(self) -> None:
        """Read what the layer's tar left (its end blocks, a compressor's trailer) to the end."""
        spare = bytearray(CHUNK)
        while self.readinto(spare):
            pass


class _Inflating(io.RawIOBase):
    """A gzip stream's content, inflated a buffer's length at a time."""

    def __init__(self, compressed):
        self._compressed, self._inflater = compressed, zlib.decompressobj(wbits=31)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._inflater.eof:
            data = self._inflater.unconsumed_tail or self._compressed.read(CHUNK)
            if not data:
                raise EOFError("the gzip layer ends before its end")
            out = self._inflater.decompress(data, len(buffer))
            if out:
                buffer[: len(out)] = out
                return len(out)
        return 0


def _scan_layer(layer: tarfile.TarFile, name: str, found: list[SecretFinding]) -> set[str]:
    """Append the layer's secrets to ``found``; return the paths its whiteouts delete."""
    deleted: set[str] = set()
    for entry in layer:
        path = posixpath.normpath("/" + entry.name)
        gone = _whiteout_target(path)
        if gone:
            deleted.add(gone)
        elif entry.isfile():
            what = _secret_in(layer, entry, path)
            if what:
                found.append(SecretFinding(path, what, name))
    return deleted


def _whiteout_target(path: str) -> str:
    """What a whiteout file deletes (its directory's lower contents, when opaque); "" otherwise."""
    parent, base = posixpath.split(path)
    if base == _OPAQUE:
        return parent
    return posixpath.join(parent, base[len(_WHITEOUT) :]) if base.startswith(_WHITEOUT) else ""


def _secret_in(layer: tarfile.TarFile, entry: tarfile.TarInfo, path: str) -> str:
    """What secret the file is, by name first, then by content for small files; "" for none."""
    name = posixpath.basename(path)
    if envfiles.holds_settings(name):
        return ".env file"
    if name in _KEY_NAMES:
        return "SSH private key"
    if entry.size <= _READ_LIMIT and holds_private_key(layer.extractfile(entry).read()):
        return "PEM private key"
    return ""


def _placed(
    found: list[SecretFinding], layers: list[str], deleted: dict[str, set[str]]
) -> list[SecretFinding]:
    """The findings with their layer's position and whether a layer above deletes them."""
    placed = []
    for finding in found:
        if finding.layer in layers:
            index = layers.index(finding.layer) + 1
            above = (deleted.get(name, ()) for name in layers[index:])
            finding = replace(
                finding,
                index=index,
                of=len(layers),
                deleted_later=any(_deletes(paths, finding.path) for paths in above),
            )
        placed.append(finding)
    return sorted(placed, key=lambda f: (f.index, f.path))


def _deletes(deleted: Iterable[str], path: str) -> bool:
    """Whether a deleted path is ``path`` or a directory above it."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deleted)
