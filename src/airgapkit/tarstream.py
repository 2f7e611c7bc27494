"""Tar archives as streams of chunks: read one member at a time, write members out as chunks.

``docker save`` and ``docker load`` speak tar. The layer scanner reads such a stream; the delta
work reads one and writes another with layers left out or put back. Both go one member at a time
in tar's stream mode: nothing is held but the current block, nothing is staged on disk.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from typing import IO

from .errors import AirgapError
from .fsutil import CHUNK

BLOCK = tarfile.BLOCKSIZE  # 512: a member's data is padded to whole blocks
FORMAT = tarfile.PAX_FORMAT  # long names and big sizes, as docker itself writes and reads


class ChunkReader(io.RawIOBase):
    """A readable file over an iterable of byte chunks (an engine's ``docker save`` stream)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._view = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._pos >= len(self._view):
            try:
                self._view, self._pos = memoryview(next(self._chunks)), 0
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n


def reader(chunks: Iterable[bytes]) -> io.BufferedReader:
    """A buffered binary file over ``chunks``: what tarfile and ``docker load`` read from."""
    return io.BufferedReader(ChunkReader(chunks), buffer_size=CHUNK)


def members(chunks: Iterable[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Each member of the tar in ``chunks`` with its data (None for directories and links).

    The data can only be read before the next member is asked for: the stream moves on. The
    chunks are read to their end, padding after the archive included.
    """
    stream = reader(chunks)
    # tarfile's stream mode reads 10 KiB at a time unless told: 1 MiB costs a third of the CPU.
    with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
        for info in tar:
            yield info, tar.extractfile(info) if info.isfile() else None
    # tarfile stops at the end-of-archive blocks; the source is read to its very end all the same,
    # so a decrypting member checks its hash and a watched stream is seen whole.
    while stream.read(CHUNK):
        pass


def member(info: tarfile.TarInfo, data: IO[bytes] | None = None) -> Iterator[bytes]:
    """One member written out: its header, its data a chunk at a time, padding to a whole block."""
    yield info.tobuf(format=FORMAT)
    if not info.isfile():
        return
    copied = 0
    while chunk := data.read(CHUNK):
        copied += len(chunk)
        yield chunk
    if copied != info.size:
        raise AirgapError(
            f"tar member {info.name} ended after {copied} of {info.size} bytes; "
            "the stream it came from is cut short"
        )
    if info.size % BLOCK:
        yield padding(info.size)


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
    """The header of a member made here: owned by root, dated 0, so the same bytes every run."""
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mode, info.mtime = size, kind, mode, 0
    return info.tobuf(format=FORMAT)


def directory(name: str) -> bytes:
    """A directory member made here (``blobs/``): a header alone."""
    return header(name, 0, tarfile.DIRTYPE, 0o755)


def padding(size: int) -> bytes:
    """The zeros after ``size`` bytes of member data, to a whole block."""
    return bytes(-size % BLOCK)


def file_member(name: str, payload: bytes) -> Iterator[bytes]:
    """A small member made here (a manifest), written out like any other."""
    yield header(name, len(payload))
    if payload:
        yield payload
    if len(payload) % BLOCK:
        yield padding(len(payload))


def end() -> bytes:
    """The end-of-archive marker: two zero blocks."""
    return bytes(2 * BLOCK)
