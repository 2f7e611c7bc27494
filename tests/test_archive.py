"""archive: AES-256 zips written and read as streams, 7-Zip opening what we write, the archive's own
hash taken as it is written, and nothing left behind by a writer that fails."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess

import pytest
import pyzipper
from archives import PW, SEVENZIP, listing, sample_payload, write_archive

from airgapkit.crossing import extraction
from airgapkit.crossing.archive import ArchiveReader, ArchiveWriter
from airgapkit.errors import AirgapError, IntegrityError, PasswordError, UnsafeArchive
from airgapkit.fsutil import MEMBER_CHUNK as WRITE_CHUNK


@pytest.fixture
def payload():
    return sample_payload()


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_round_trip_streams_and_format(tmp_path, payload, level):
    src = tmp_path / "node20a.tar"
    src.write_bytes(payload["node20a.tar"])
    dest = tmp_path / "out" / "x.zip"
    with ArchiveWriter(dest, PW, level=level, progress=False) as w:
        assert w.add_file(src, "node20a.tar") == (
            hashlib.sha256(src.read_bytes()).hexdigest(),
            src.stat().st_size,
        )
        chunks = [payload["module.tgz"][i : i + 1000] for i in range(0, 5000, 1000)]
        assert w.add_stream("module.tgz", iter(chunks))[1] == 5000
        w.add_bytes("manifest.json", b"{}")
    assert listing(tmp_path / "out") == ["x.zip"]  # no temporary file left beside it
    with ArchiveReader(dest, PW) as r:
        assert r.names() == ["node20a.tar", "module.tgz", "manifest.json"]
        for info in r.infos():
            assert info.wz_aes_version == 2 and info.wz_aes_strength == 3  # AE-2, AES-256
            assert info.compress_type == (pyzipper.ZIP_DEFLATED if level else pyzipper.ZIP_STORED)
        assert r.read_bytes("manifest.json") == b"{}"
        with r.open("node20a.tar") as f:
            assert f.read(10) == payload["node20a.tar"][:10]
            assert f.read() == payload["node20a.tar"][10:]
        out = extraction.extract_all(r, tmp_path / "ex")
    assert [p.read_bytes() for p in out[:2]] == [payload["node20a.tar"], payload["module.tgz"]]
    raw = dest.read_bytes()
    assert struct.unpack("<H", raw[30 + len("node20a.tar") :][:2])[0] == 0x0001  # ZIP64 extra first


@pytest.mark.parametrize("level", [0, 6])
def test_seven_zip_opens_what_we_write(tmp_path, payload, level):
    archive = write_archive(tmp_path / "x.zip", payload, level=level)
    test = subprocess.run([SEVENZIP, "t", f"-p{PW}", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0 and "Everything is Ok" in test.stdout, test.stdout + test.stderr
    subprocess.run(
        [SEVENZIP, "x", f"-p{PW}", f"-o{tmp_path / 'by7z'}", str(archive)],
        check=True,
        capture_output=True,
    )
    for name, data in payload.items():
        assert (tmp_path / "by7z" / name).read_bytes() == data
    info = subprocess.run([SEVENZIP, "l", "-slt", str(archive)], capture_output=True, text=True)
    assert "AES-256" in info.stdout


@pytest.mark.parametrize("level", [0, 6])
def test_seven_zip_opens_a_file_written_in_many_chunks(tmp_path, level):
    """add_file through the faster writer: several read chunks, deflate output of odd sizes."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * WRITE_CHUNK + 12_345) + b"node_modules/" * 40_000)
    archive = tmp_path / "media" / "x.zip"
    with ArchiveWriter(archive, PW, level=level, progress=False) as w:
        w.add_file(src)
    test = subprocess.run([SEVENZIP, "t", f"-p{PW}", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0 and "Everything is Ok" in test.stdout, test.stdout + test.stderr
    subprocess.run(
        [SEVENZIP, "x", f"-p{PW}", f"-o{tmp_path / 'by7z'}", str(archive)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "by7z" / "big.bin").read_bytes() == src.read_bytes()
    with ArchiveReader(archive, PW) as r:  # and the HMAC checks on our side
        assert r.read_bytes("big.bin") == src.read_bytes()


# --- the archive's own hash, taken while it is written -----------------------------------------


def _local_headers(raw: bytes):
    """(offset, flags, sizes in the local header, extra field) of each local header, in order."""
    at = 0
    while raw[at : at + 4] == b"PK\x03\x04":
        (flags,) = struct.unpack_from("<H", raw, at + 6)
        csize, usize, nlen, elen = struct.unpack_from("<IIHH", raw, at + 18)
        yield at, flags, (csize, usize), raw[at + 30 + nlen : at + 30 + nlen + elen]
        at = raw.index(b"PK\x07\x08", at) + 24  # ZIP64 data descriptor: sig, crc, 2 x 8 bytes


@pytest.mark.parametrize("level", [0, 6])
def test_writer_hashes_the_archive_as_it_writes_it(tmp_path, payload, level):
    archive = write_archive(tmp_path / "x.zip", payload, level=level)
    with ArchiveWriter(archive, PW, level=level, progress=False) as w:
        for name, data in payload.items():
            w.add_bytes(name, data)
        assert w.sha256 is None  # known only once the archive is complete
    sha = subprocess.run(
        ["sha256sum", str(archive)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert (w.sha256, w.size) == (sha, archive.stat().st_size)


def test_members_carry_zip64_data_descriptors(tmp_path, payload):
    """Written forward only: sizes follow each member's data in a ZIP64 data descriptor, and the
    local header still leads with its ZIP64 extra (so a member over 4 GB needs nothing more)."""
    archive = write_archive(tmp_path / "x.zip", payload)
    raw = archive.read_bytes()
    with ArchiveReader(archive, PW) as r:
        infos = r.infos()
    headers = list(_local_headers(raw))
    assert [h[0] for h in headers] == [i.header_offset for i in infos]
    for (at, flags, sizes, extra), info in zip(headers, infos, strict=True):
        assert flags & 0x8 and flags & 0x1 and sizes == (0, 0)  # data descriptor, encrypted
        assert struct.unpack_from("<HH", extra) == (0x0001, 16)  # ZIP64 extra first
        end = at + 30 + len(info.filename) + len(extra) + info.compress_size
        assert struct.unpack_from("<IIQQ", raw, end) == (
            0x08074B50,
            0,
            info.compress_size,
            info.file_size,
        )  # AE-2: CRC 0


# --- writing fails cleanly; reading refuses clearly ---------------------------------------------


def test_writer_leaves_nothing_on_error_or_interrupt(tmp_path):
    dest = tmp_path / "x.zip"
    dest.write_bytes(b"previous archive")
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with ArchiveWriter(dest, PW, progress=False) as w:
                w.add_bytes("a", b"a" * 1000)
                raise exc
        assert listing(tmp_path) == ["x.zip"] and dest.read_bytes() == b"previous archive"


def test_writer_refuses_unsafe_and_duplicate_names(tmp_path):
    with pytest.raises(UnsafeArchive):
        with ArchiveWriter(tmp_path / "x.zip", PW, progress=False) as w:
            w.add_bytes("../evil", b"x")
    with pytest.raises(AirgapError, match="already in the archive"):
        with ArchiveWriter(tmp_path / "x.zip", PW, progress=False) as w:
            w.add_bytes("a", b"x")
            w.add_bytes("a", b"y")
    assert listing(tmp_path) == []


def test_ae1_member_still_has_its_crc_checked(tmp_path):
    """AE-2 members skip the CRC (it is stored as 0); an AE-1 member's CRC is computed and checked."""
    archive = tmp_path / "ae1.zip"
    with pyzipper.AESZipFile(
        archive,
        "w",
        compression=pyzipper.ZIP_DEFLATED,
        encryption=pyzipper.WZ_AES,
        encryption_kwargs={"nbits": 256, "force_wz_aes_version": 1},
    ) as zf:
        zf.setpassword(PW.encode())
        zf.writestr("a.bin", b"abc" * 1000)
    with ArchiveReader(archive, PW) as r:
        assert r.infos()[0].wz_aes_version == 1 and r.read_bytes("a.bin") == b"abc" * 1000
    data = bytearray(archive.read_bytes())
    at = data.index(b"PK\x01\x02")
    data[at + 16] ^= 0x01  # the CRC-32 in the central directory
    archive.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchive, match="another CRC in its local header"):
        ArchiveReader(archive, PW)  # the two records disagree
    data[14] ^= 0x01  # and the same change in the local header: they agree, the data does not
    archive.write_bytes(bytes(data))
    with ArchiveReader(archive, PW) as r, pytest.raises(IntegrityError, match="CRC"):
        r.read_bytes("a.bin")


def test_writer_refuses_a_bad_level_or_a_folder(tmp_path):
    with pytest.raises(AirgapError, match="not 0-9"):
        ArchiveWriter(tmp_path / "x.zip", PW, level=10)
    with pytest.raises(PasswordError, match="empty password"):
        ArchiveWriter(tmp_path / "x.zip", "")
    with pytest.raises(AirgapError, match="is a folder"):
        with ArchiveWriter(tmp_path, PW, progress=False):
            pass
    assert listing(tmp_path) == []


def test_reader_says_what_is_wrong_in_one_line(tmp_path):
    with pytest.raises(AirgapError, match="absent.zip: no such file"):
        ArchiveReader(tmp_path / "absent.zip", PW)
    with pytest.raises(AirgapError, match="is a folder"):
        ArchiveReader(tmp_path, PW)
    archive = write_archive(tmp_path / "x.zip", {"a": b"a" * 5000, "b": b"b"})
    with ArchiveReader(archive, PW) as r:
        with pytest.raises(AirgapError, match="has no member 'c'; it holds a, b"):
            r.open("c")
        with pytest.raises(UnsafeArchive, match="declares 5000 bytes, more than the 4096"):
            r.read_bytes("a", limit=4096)
        assert r.read_bytes("b") == b"b"
    with ArchiveReader(archive, "Not-The-Password-42!") as r:
        with pytest.raises(PasswordError, match="wrong password"):
            r.open("a")


def test_a_member_read_in_small_pieces_is_checked_at_its_end(tmp_path, payload):
    archive = write_archive(tmp_path / "x.zip", payload)
    data = payload["node20a.tar"]
    with ArchiveReader(archive, PW) as r:
        with r.open_raw("node20a.tar", hashlib.sha256(data).hexdigest()) as raw:
            pieces = list(iter(lambda: raw.read(7777), b""))
        assert b"".join(pieces) == data and max(map(len, pieces)) <= 7777
        with r.open("node20a.tar", "0" * 64) as f:
            with pytest.raises(IntegrityError, match="0{64} is listed for it"):
                f.read()
