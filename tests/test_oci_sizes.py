"""A gzip layer's uncompressed size from its own last four bytes."""

from __future__ import annotations

import gzip
import os
import sys
import zlib

import pytest

from airgapkit.errors import AirgapError
from airgapkit.oci import sizes


@pytest.mark.parametrize("data", [b"", b"x" * 100_000, os.urandom(300_000)])
def test_the_trailer_gives_the_uncompressed_length(data):
    blob = gzip.compress(data)
    assert sizes.uncompressed_size(blob[-4:], len(blob)) == len(data)


def test_past_four_gib_the_compressed_size_lifts_the_modulus():
    # 5 GiB of random data deflates into stored blocks (5 bytes more per 65,535) with gzip's
    # 18-byte frame: a little over 5 GiB; its ISIZE reads 1 GiB.
    isize = (5 << 30) % sizes.WRAP
    tail = isize.to_bytes(4, "little")
    stored = (5 << 30) + -(-(5 << 30) // 65535) * 5 + 18
    assert sizes.uncompressed_size(tail, stored) == 5 << 30
    # A well compressed layer cannot be told apart: the smallest consistent length is taken.
    assert sizes.uncompressed_size(tail, 100 << 20) == 1 << 30


def test_random_data_in_short_stored_blocks_is_not_taken_for_four_gib_more():
    """Go's gzip (the containerd image store's) flushes stored blocks more often than every 65,535
    bytes: incompressible data grows by more than 5 bytes in 65,535, yet is far from 4 GiB."""
    data = os.urandom(20 << 20)
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip stream
    parts = [packer.compress(data[i : i + 4096]) + packer.flush(zlib.Z_FULL_FLUSH)
             for i in range(0, len(data), 4096)]  # fmt: skip
    blob = b"".join(parts) + packer.flush()
    assert len(blob) > len(data) * 65540 // 65535 + 1024  # more growth than 5 bytes in 65,535
    assert sizes.uncompressed_size(blob[-4:], len(blob)) == len(data)


def test_tail_keeps_the_last_four_bytes_across_chunks():
    tail = sizes.Tail()
    for chunk in (b"abcdef", b"g", b"", b"hi"):
        tail.update(chunk)
    assert tail.bytes == b"fghi"


def test_fewer_than_four_bytes_is_no_gzip_trailer():
    with pytest.raises(ValueError):
        sizes.uncompressed_size(b"ab", 2)


def test_a_zstd_layer_without_the_zstd_extra_is_one_line(monkeypatch):
    # Faked: zstandard is installed wherever the tests run; None in sys.modules makes its import fail.
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(AirgapError, match=r"layer 2 of x is zstd-compressed.*airgapkit\[zstd\]"):
        sizes.ZstdLength("layer 2 of x")


def test_a_zstd_stream_is_counted_as_it_passes():
    zstandard = pytest.importorskip("zstandard")
    data = os.urandom(300_000) + bytes(700_000)
    packed = zstandard.ZstdCompressor().compress(data)
    counted = sizes.ZstdLength("layer 1 of x")
    for start in range(0, len(packed), 4096):
        counted.update(packed[start : start + 4096])
    assert counted.size == len(data)
    with pytest.raises(AirgapError, match="not the zstd stream its media type says"):
        sizes.ZstdLength("layer 1 of x").update(b"not zstd at all")
