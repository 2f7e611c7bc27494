"""The parallel deflater and the inflater: one valid raw deflate stream, whatever the library."""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc
import zlib

import pytest
from archives import PW, SEVENZIP, write_archive

from airgapkit.crossing import deflate
from airgapkit.crossing.archive import ArchiveReader, ArchiveWriter

SMALL_CHUNK = 64 << 10  # many chunks from a few MiB, so joins and windows are exercised
BACKENDS = deflate.available_backends()


def compressible(size: int, seed: int = 1) -> bytes:
    """Text-like bytes: words from a small vocabulary, with repeats deflate finds across chunks."""
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible on purpose
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(400)]
    out = bytearray()
    while len(out) < size:
        out += " ".join(rng.choices(words, k=64)).encode() + b"\n"
    return bytes(out[:size])


def incompressible(size: int, seed: int = 2) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - test data, reproducible


def mixed(size: int) -> bytes:
    """Alternating runs of text and random bytes, cut at odd places, as a tar of layers is."""
    parts, total, n = [], 0, 0
    while total < size:
        run = 50_000 + 37_000 * (n % 5)
        parts.append(compressible(run, n) if n % 2 else incompressible(run, n))
        total, n = total + run, n + 1
    return b"".join(parts)[:size]


DATA = {
    "compressible": compressible(3 << 20),
    "random": incompressible(2 << 20),
    "mixed": mixed(3 << 20),
}


def deflate_all(data: bytes, level: int, piece: int = 100_003, **kwargs) -> bytes:
    """Feed ``data`` in pieces of an odd size through one reused buffer, as the archive does."""
    deflater = deflate.ParallelDeflater(
        level, chunk_size=kwargs.pop("chunk_size", SMALL_CHUNK), **kwargs
    )
    reused = bytearray(piece)
    out = []
    for start in range(0, len(data), piece):
        size = len(data[start : start + piece])
        reused[:size] = data[start : start + piece]
        out.append(deflater.compress(memoryview(reused)[:size]))
    out.append(deflater.flush())
    return b"".join(out)


def zlib_inflate(stream: bytes) -> bytes:
    """Plain zlib, as every unzip reads a member; the stream must end exactly where it ends."""
    inflater = zlib.decompressobj(-15)
    out = inflater.decompress(stream) + inflater.flush()
    assert inflater.eof, "the stream has no final block"
    assert inflater.unused_data == b"", "bytes after the final block"
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("level", range(1, 10))
@pytest.mark.parametrize("kind", DATA)
def test_round_trip_through_plain_zlib(kind, level, backend):
    data = DATA[kind]
    assert zlib_inflate(deflate_all(data, level, backend=backend)) == data


@pytest.mark.parametrize("level", [1, 3, 5, 9])
def test_every_library_gives_the_same_content_back(level):
    """zlib where ISA-L or zlib-ng has no wheel: other bytes in the archive, the same content out."""
    data = DATA["mixed"]
    streams = {name: deflate_all(data, level, backend=name) for name in BACKENDS}
    assert "zlib" in streams
    for name, stream in streams.items():
        assert zlib_inflate(stream) == data, name
        assert deflate.inflater().decompress(stream) == data, name


def test_levels_pick_the_library_the_measurements_chose():
    expected_fast = "isal" if "isal" in BACKENDS else deflate.backend_for(6)
    assert [deflate.backend_for(level) for level in (1, 2, 3)] == [expected_fast] * 3
    expected = "zlib-ng" if "zlib-ng" in BACKENDS else "zlib"
    assert {deflate.backend_for(level) for level in range(4, 10)} == {expected}


def test_compressible_data_shrinks():
    data = DATA["compressible"]
    assert len(deflate_all(data, 1)) < len(data) * 0.6


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("level", [1, 6, 9])
def test_incompressible_data_is_stored_not_inflated(level, backend):
    """Random data costs 5 bytes per stored block of at most 64 KiB, plus one flush per chunk."""
    data = incompressible(5 * SMALL_CHUNK + 12_345)
    stream = deflate_all(data, level, backend=backend)
    chunks = -(-len(data) // SMALL_CHUNK)
    blocks = chunks * -(-SMALL_CHUNK // deflate.STORED_MAX)
    assert len(stream) <= len(data) + 5 * blocks
    assert zlib_inflate(stream) == data


def test_stored_blocks_are_valid_deflate():
    data = incompressible(3 * deflate.STORED_MAX + 7)
    assert zlib_inflate(deflate.stored_blocks(data, final=True)) == data
    assert zlib_inflate(deflate.stored_blocks(b"", final=True)) == b""
    assert len(deflate.stored_blocks(data, final=True)) == len(data) + 4 * 5


def test_the_thread_count_does_not_change_the_stream():
    """Chunks are cut by size alone, so one thread or four make the same bytes."""
    data = DATA["mixed"]
    assert deflate_all(data, 2, threads=1) == deflate_all(data, 2, threads=4)


@pytest.mark.parametrize("size", [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, 2 * SMALL_CHUNK])
def test_sizes_at_chunk_edges(size):
    data = DATA["compressible"][:size]
    assert zlib_inflate(deflate_all(data, 1, piece=max(size, 1))) == data


def test_memory_stays_bounded_whatever_the_input_size():
    """200 MiB through 1 MiB chunks: a deflater that queued every chunk would hold them all."""
    block = compressible(1 << 20) + incompressible(1 << 20)
    deflater = deflate.ParallelDeflater(1, threads=2)
    tracemalloc.start()
    try:
        produced = 0
        for _ in range(100):
            produced += len(deflater.compress(block))
        produced += len(deflater.flush())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert produced < 200 << 20
    # threads + 1 chunks in flight, their outputs, the one being filled and the windows
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_the_stream_ends_once():
    deflater = deflate.ParallelDeflater(1)
    deflater.compress(b"abc")
    deflater.flush()
    with pytest.raises(ValueError, match="ended"):
        deflater.compress(b"more")
    with pytest.raises(ValueError, match="Z_FINISH"):
        deflate.ParallelDeflater(1).flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize("level", [0, 10, "6"])
def test_levels_outside_1_to_9_are_refused(level):
    with pytest.raises(ValueError, match="not 1-9"):
        deflate.ParallelDeflater(level)


def test_close_drops_work_in_flight():
    deflater = deflate.ParallelDeflater(9, chunk_size=SMALL_CHUNK)
    deflater.compress(DATA["compressible"])
    deflater.close()
    with pytest.raises(ValueError, match="ended"):
        deflater.flush()


def test_inflater_reads_in_bounded_pieces():
    """The reader asks for at most max_length bytes at a time, and feeds what is left back."""
    data = DATA["mixed"]
    stream = deflate_all(data, 1)
    inflater = deflate.inflater()
    out, pending = [], stream
    while not inflater.eof:
        piece = inflater.decompress(pending, 50_000)
        assert len(piece) <= 50_000
        out.append(piece)
        pending = inflater.unconsumed_tail
    assert b"".join(out) == data
    assert inflater.unused_data == b""


def test_inflater_is_isal_where_installed():
    inflater = deflate.inflater()
    if "isal" in BACKENDS:
        assert type(inflater).__module__.startswith("isal")
    assert inflater.decompress(zlib.compress(b"x" * 1000)[2:-4]) == b"x" * 1000


# --- inside the archive: what 7-Zip and our reader make of members written this way ------------


def test_archive_members_go_through_the_parallel_deflater_and_the_isal_inflater(
    tmp_path, monkeypatch
):
    """The writer and reader really use this module (not pyzipper's one-thread zlib objects)."""
    from airgapkit.crossing import zipaes

    archive = write_archive(tmp_path / "x.zip", {"m.bin": DATA["mixed"]}, level=5)
    with zipaes.open_reader(archive, PW.encode()) as zf:
        stream = zipaes.MemberStream(zf, zf.getinfo("m.bin"))
        inner = stream._counter._inner
        assert type(inner) is type(deflate.inflater())
        stream.close()
    seen = []
    real = deflate.ParallelDeflater.__init__

    def spy(self, level, **kwargs):
        seen.append(level)
        real(self, level, **kwargs)

    # a spy on the real class, not a fake: it still deflates
    monkeypatch.setattr(deflate.ParallelDeflater, "__init__", spy)
    write_archive(tmp_path / "y.zip", {"m.bin": b"x" * 1000}, level=7)
    assert seen == [7]


@pytest.mark.parametrize("level", range(10))
def test_seven_zip_tests_and_extracts_members_at_every_level(tmp_path, level):
    """Several 1 MiB chunks of text, random bytes (stored chunks) and both, added in odd pieces."""
    members = {"mixed.tar": mixed(5 << 20), "random.bin": incompressible(3 << 20), "empty": b""}
    archive = tmp_path / "x.zip"
    with ArchiveWriter(archive, PW, level=level, progress=False) as writer:
        for name, data in members.items():
            writer.add_stream(name, (data[i : i + 77_777] for i in range(0, len(data), 77_777)))
    test = subprocess.run([SEVENZIP, "t", f"-p{PW}", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0 and "Everything is Ok" in test.stdout, test.stdout + test.stderr
    out = tmp_path / "by7z"
    subprocess.run(
        [SEVENZIP, "x", f"-p{PW}", f"-o{out}", str(archive)], check=True, capture_output=True
    )
    with ArchiveReader(archive, PW) as reader:
        for name, data in members.items():
            assert (out / name).read_bytes() == data, name
            assert reader.read_bytes(name, limit=len(data) + 1) == data, name
    if level:
        assert archive.stat().st_size < sum(map(len, members.values()))


# Over 4 GiB, so the member needs ZIP64 sizes; repeated text deflates at GB/s, so it fits CI time.
BIG = (4 << 30) + (3 << 20) + 12_345

WRITE_BIG = """
import sys
from airgapkit.crossing.archive import ArchiveWriter
block = bytes.fromhex(sys.argv[3]) * ((1 << 20) // 64)
def chunks(total=int(sys.argv[2])):
    while total:
        piece = block[: min(total, len(block))]
        total -= len(piece)
        yield piece
with ArchiveWriter(sys.argv[1], sys.argv[4], level=1, progress=False) as writer:
    writer.add_stream("big.tar", chunks())
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) // 1024)
"""


@pytest.mark.timeout(600)
def test_a_member_over_4_gib_opens_in_7zip_and_memory_stays_flat(tmp_path):
    """Written in a process of its own, whose peak RSS (with its deflate threads) is read back."""
    archive = tmp_path / "big.zip"
    pattern = compressible(64, seed=9).hex()
    written = subprocess.run(
        [sys.executable, "-c", WRITE_BIG, str(archive), str(BIG), pattern, PW],
        check=True,
        capture_output=True,
        text=True,
    )
    peak_mb = int(written.stdout.split()[-1])
    assert peak_mb < 100, f"the writing process peaked at {peak_mb} MB"
    listed = subprocess.run(
        [SEVENZIP, "l", "-slt", f"-p{PW}", str(archive)], capture_output=True, text=True
    )
    assert f"Size = {BIG}" in listed.stdout, listed.stdout
    test = subprocess.run([SEVENZIP, "t", f"-p{PW}", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0 and "Everything is Ok" in test.stdout, test.stdout + test.stderr
