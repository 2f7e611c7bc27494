"""A layer's uncompressed size, which no manifest or config records, from the layer's own gzip trailer.

A gzip stream ends with ISIZE: the uncompressed length modulo 2**32, little-endian (RFC 1952, 2.3.1).
The layers docker, buildkit and containerd push are one gzip member each, so those four bytes are
the length of the layer's tar (a little more than ``docker image ls`` counts, which is the files'
bytes without tar headers). The export reads them from the end of each layer as it streams it,
after the layer's digest has been checked; the gate, which moves no layer, asks the registry for the
last four bytes alone (``dxfcompat.blob_tail``).

Past 4 GiB the modulus hides whole multiples of 4 GiB: the smallest length that is consistent with
the compressed size is taken. Deflate grows data it cannot compress by 5 bytes a stored block, and
blocks are shorter than 65,535 bytes where the compressor flushes often (Go's, in the containerd
image store, adds about 0.1% to random data): 1% is allowed for.

A zstd layer records its length nowhere a reader can count on (the frame header may leave it out,
and does when the compressor streams), so it is counted by decoding the layer as it passes, a
block at a time (``ZstdLength``); a plain tar layer is its own size. Decoding zstd needs the
``zstd`` extra (``zstandard``, 5.6 MB a wheel; ``zstandard()`` gives it, or the line saying what to
install): registry-direct export meets zstd layers, and so does a release's secrets scan on a
containerd store holding them (``gate/layerscan.py``); the kit carried to the far side stays small
without it.
"""

from __future__ import annotations

import importlib

from ..errors import AirgapError

WRAP = 1 << 32
TAIL = 4  # bytes of ISIZE at the end of a gzip member
_SLACK = 1024  # gzip header with a file name and comment, trailer: generous
_GROWTH = 100  # deflate grows incompressible data by well under 1 part in this many


def uncompressed_size(gzip_tail: bytes, compressed_size: int) -> int:
    """The uncompressed size a gzip member's last four bytes give, lifted past 4 GiB if it must be."""
    if len(gzip_tail) < TAIL:
        raise ValueError("a gzip member ends with at least four bytes")
    isize = int.from_bytes(gzip_tail[-TAIL:], "little")
    at_least = compressed_size * (_GROWTH - 1) // _GROWTH - _SLACK
    while isize < at_least:
        isize += WRAP
    return isize


class Tail:
    """The last four bytes of a stream, kept as it passes (for ``uncompressed_size``)."""

    def __init__(self) -> None:
        self.bytes = b""

    def update(self, chunk: bytes) -> None:
        self.bytes = (self.bytes + chunk[-TAIL:])[-TAIL:]


class ZstdLength:
    """The decoded length of a zstd stream (one frame or several), counted as it passes.

    zstd's decoder writes into ``self`` a block at a time, so memory stays flat however well the
    layer compresses. ``what`` names the layer in the error a stream that is not zstd raises; ``then``
    says what to run again once the zstd extra is installed.
    """

    def __init__(self, what: str, then: str = "export again") -> None:
        self.what, self.size = what, 0
        self._zstd = zstandard(what, then)
        decoder = self._zstd.ZstdDecompressor()
        self._decoder = decoder.stream_writer(self, write_return_read=True, closefd=False)

    def update(self, chunk: bytes) -> None:
        try:
            self._decoder.write(chunk)
        except self._zstd.ZstdError as exc:
            raise AirgapError(
                f"{self.what} is not the zstd stream its media type says ({exc}); the registry's "
                "copy is damaged or mislabelled: push the image again"
            ) from exc

    def write(self, data: bytes) -> int:  # the decoder's sink
        self.size += len(data)
        return len(data)


def zstandard(what: str, then: str):
    """The zstd decoder's module, or one line saying how to install it (and ``then`` what)."""
    try:
        return importlib.import_module("zstandard")
    except ImportError as exc:
        raise AirgapError(
            f"{what} is zstd-compressed, and reading zstd needs airgapkit's zstd extra: "
            f"pip install 'airgapkit[zstd]' on this machine, then {then}"
        ) from exc
