"""Deflate on every core, and inflate, with the fastest library installed.

``ParallelDeflater`` has the interface of ``zlib.compressobj(level, zlib.DEFLATED, -15)``
(``compress(data)``, ``flush()``) and makes ONE raw deflate stream that any inflater reads, the way
pigz does: the input is cut into chunks (1 MiB), each chunk is deflated on a thread of its own with
the previous chunk's last 32 KiB as its dictionary and ends with a sync flush (an empty stored block
that brings the stream to a byte boundary), and the chunks are joined in order; only the last one
ends the stream. A chunk that does not compress (random or already-compressed data) goes into the
stream as stored blocks instead, so such input grows by 5 bytes per 64 KiB, and is not deflated for
nothing: a few small samples of it are tried first. A bounded number of chunks is in flight, so
memory stays flat whatever the input size.

Which library deflates depends on the level, from measurements on a tar of /usr/lib (one core,
MB/s and output/input; bench/deflate_levels.md has the whole picture):

- levels 1-3: ISA-L (``isal``) at its own levels 1-3: 300-350 MB/s, 0.505-0.491;
- levels 4-9: zlib-ng (``zlib_ng``) at that level: 50-66 MB/s, 0.477-0.472 (zlib: 21-34 MB/s);
- where a library has no wheel for the platform, the next one down, then the standard zlib.

The output differs from library to library, the inflated content never does. ``inflater()`` is
ISA-L's raw inflater where installed (it reads any deflate stream), zlib's otherwise.
"""

from __future__ import annotations

import collections
import os
import struct
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

from ..fsutil import CHUNK

try:  # ISA-L: the fastest deflate at levels 1-3 and the fastest inflate
    from isal import isal_zlib
except ImportError:  # pragma: no cover - platforms without a wheel
    isal_zlib = None
try:  # zlib-ng: zlib's ratios at twice its speed
    from zlib_ng import zlib_ng
except ImportError:  # pragma: no cover - platforms without a wheel
    zlib_ng = None

WINDOW = 32 << 10  # deflate's window: what a chunk may refer back to in the one before
# 4 threads at level 5 (about 55 MB/s each) outrun docker save; each more costs ~3 MB of memory
MAX_THREADS = 4
STORED_MAX = 0xFFFF  # the longest stored block deflate allows
# spread samples that decide whether a chunk is worth deflating
PROBE_SLICES, PROBE_SIZE = 8, 8 << 10
PROBE_RATIO = 0.98  # samples that shrink less than this mark the chunk incompressible
DEFAULT_LEVEL = 5  # the fastest whose archive is no larger than 7z -mx=1's: bench/deflate_levels.md
# ISA-L has levels 0-3; its level 0 never stores, so random data grows 23%
ISAL_LEVELS = range(1, 4)

BACKENDS = {"isal": isal_zlib, "zlib-ng": zlib_ng, "zlib": zlib}


def available_backends() -> list[str]:
    """The libraries installed here, fastest first."""
    return [name for name, module in BACKENDS.items() if module is not None]


def backend_for(level: int) -> str:
    """Which library deflates at ``level`` (1-9) here: see the module's docstring."""
    if level in ISAL_LEVELS and isal_zlib is not None:
        return "isal"
    return "zlib-ng" if zlib_ng is not None else "zlib"


def default_threads() -> int:
    """The cores this process may run on, at most MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def stored_blocks(data, final: bool) -> bytes:
    """``data`` as deflate stored blocks, starting at a byte boundary (as every chunk here does).

    A stored block is a header byte (BFINAL, type 00, padding), LEN and its complement NLEN, then
    LEN raw bytes; the stream stays byte-aligned after it. Empty data makes one empty block.
    """
    view = memoryview(data)
    out = bytearray()
    start = 0
    while True:
        piece = view[start : start + STORED_MAX]
        start += len(piece)
        last = final and start >= len(view)
        out += struct.pack("<BHH", last, len(piece), len(piece) ^ 0xFFFF)
        out += piece
        if start >= len(view):
            return bytes(out)


def _stored_size(length: int) -> int:
    return length + 5 * max(1, -(-length // STORED_MAX))


def _looks_incompressible(module, chunk) -> bool:
    """Deflate a few small slices spread over the chunk, at the fastest level; True when together
    they barely shrink. Costs about 1/16 of deflating the chunk."""
    if len(chunk) < PROBE_SLICES * PROBE_SIZE * 2:
        return False  # small: deflate it whole and let the size decide
    step = len(chunk) // PROBE_SLICES
    view = memoryview(chunk)
    level = 1 if module is isal_zlib else zlib.Z_BEST_SPEED
    probe = module.compressobj(level, module.DEFLATED, -15)
    out = sum(
        len(probe.compress(view[i * step : i * step + PROBE_SIZE])) for i in range(PROBE_SLICES)
    )
    out += len(probe.flush())
    return out >= PROBE_RATIO * PROBE_SLICES * PROBE_SIZE


def deflate_chunk(module, level: int, chunk, window: bytes, final: bool) -> bytes:
    """One chunk of the stream: deflated with ``window`` as dictionary and ended with a sync flush
    (or the end of the stream when ``final``), or stored when deflating would not make it smaller."""
    if not _looks_incompressible(module, chunk):
        if window:
            compressor = module.compressobj(level, module.DEFLATED, -15, zdict=window)
        else:
            compressor = module.compressobj(level, module.DEFLATED, -15)
        out = compressor.compress(chunk)
        out += compressor.flush(module.Z_FINISH if final else module.Z_SYNC_FLUSH)
        if len(out) < _stored_size(len(chunk)):
            return out
    return stored_blocks(chunk, final)


class ParallelDeflater:
    """``zlib.compressobj(level, zlib.DEFLATED, -15)``'s interface, deflating on ``threads`` threads.

    The libraries release the GIL while they deflate, so the chunks really run side by side. At most
    ``threads + 1`` chunks are in flight (more would add memory, not speed): ``compress`` waits
    for the oldest before it takes more.
    ``compress`` copies what it is given (the caller may reuse its buffer) and returns what is done,
    in order; ``flush`` waits for the rest and ends the stream. ``close`` drops unfinished work.
    """

    def __init__(
        self,
        level: int = DEFAULT_LEVEL,
        *,
        threads: int | None = None,
        chunk_size: int = CHUNK,
        backend: str | None = None,
    ):
        if not (isinstance(level, int) and 1 <= level <= 9):
            raise ValueError(f"deflate level {level!r} is not 1-9")
        backend = backend or backend_for(level)
        if BACKENDS.get(backend) is None:
            raise ValueError(f"deflate backend {backend!r} is not installed here")
        if chunk_size < WINDOW:
            raise ValueError(f"chunk size {chunk_size} is under deflate's window ({WINDOW})")
        self.level = level
        self.backend = backend
        self.threads = threads or default_threads()
        self.in_flight = self.threads + 1  # one ready to start when a thread finishes its chunk
        self.chunk_size = chunk_size
        self._module = BACKENDS[backend]
        # ISA-L knows levels 0-3 only; the levels that reach it are 1-3 (see backend_for)
        self._level = min(level, ISAL_LEVELS[-1]) if backend == "isal" else level
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="deflate")
        self._pending: collections.deque[Future] = collections.deque()
        self._buffer = bytearray(chunk_size)
        self._filled = 0
        self._window = b""
        self._finished = False

    def compress(self, data) -> bytes:
        self._check_open()
        view = memoryview(data).cast("B")
        while view:
            take = min(len(view), self.chunk_size - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == self.chunk_size:
                self._submit(final=False)
        return self._collect(block=False)

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        """End the stream (only Z_FINISH: the chunks are already sync-flushed on their own)."""
        if mode != zlib.Z_FINISH:
            raise ValueError("ParallelDeflater.flush only ends the stream (Z_FINISH)")
        self._check_open()
        self._submit(final=True)
        try:
            return self._collect(block=True)
        finally:
            self._finished = True
            self._pool.shutdown(wait=True)

    def close(self) -> None:
        """Drop whatever is in flight (after an error): the threads end when their chunk does."""
        self._finished = True
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _check_open(self) -> None:
        if self._finished:
            raise ValueError("the deflate stream has ended")

    def _submit(self, final: bool) -> None:
        chunk = self._buffer if self._filled == self.chunk_size else self._buffer[: self._filled]
        self._pending.append(
            self._pool.submit(deflate_chunk, self._module, self._level, chunk, self._window, final)
        )
        self._window = bytes(chunk[-WINDOW:])
        self._buffer = bytearray(self.chunk_size)  # the submitted one now belongs to its thread
        self._filled = 0

    def _collect(self, block: bool) -> bytes:
        """The finished chunks at the head of the line, in order; with ``block``, all of them.

        Without it, waits only while more than ``threads + 1`` chunks are in flight.
        """
        done = []
        while self._pending and (
            block or self._pending[0].done() or len(self._pending) > self.in_flight
        ):
            done.append(self._pending.popleft().result())
        return b"".join(done)


# What the inflater raises for data that is not valid deflate (ISA-L's error is not zlib's).
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,) + (
    (isal_zlib.error,) if isal_zlib is not None else ()
)


def inflater():
    """A raw inflater with ``zlib.decompressobj(-15)``'s interface: ISA-L's where installed."""
    module = isal_zlib if isal_zlib is not None else zlib
    return module.decompressobj(-15)
