"""zipaes: the pyzipper internals it relies on still exist (an upgrade breaks here, loudly), its
faster classes write what pyzipper's own would, and what pyzipper reports arrives as typed errors."""

from __future__ import annotations

import inspect
import io
import os
import struct
import subprocess
import threading
import zipfile

import pytest
import pyzipper
from archives import PW, SEVENZIP, flip_byte, patch_declared_size, write_archive
from pyzipper.zipfile import _ZipWriteFile
from pyzipper.zipfile_aes import (
    WZ_KEY_LENGTHS,
    WZ_SALT_LENGTHS,
    AESZipDecrypter,
    AESZipExtFile,
    AESZipInfo,
)

from airgapkit.crossing import zipaes


def test_encrypter_output_is_pyzippers_byte_for_byte(monkeypatch):
    """Same password and salt: the faster encrypter writes exactly what pyzipper's own would, over
    chunk sizes that cut AES blocks, and the same HMAC."""
    theirs = pyzipper.zipfile_aes.AESZipEncrypter(PW.encode(), nbits=256, force_wz_aes_version=2)
    monkeypatch.setattr(zipaes.secrets, "token_bytes", lambda n: theirs.salt[:n])
    ours = zipaes.AESEncrypter(PW.encode(), nbits=256, force_wz_aes_version=2)
    assert ours.encryption_header() == theirs.encryption_header()
    data = os.urandom(700_001)
    cuts = [0, 1, 17, 4096, 300_000, 300_013, 700_001]
    for a, b in zip(cuts, cuts[1:], strict=False):
        assert bytes(ours.encrypt_view(memoryview(data)[a:b])) == theirs.encrypt(data[a:b])
    assert ours.encrypt(b"") + ours.flush() == theirs.encrypt(b"") + theirs.flush()


# --- the pyzipper internals zipaes relies on --------------------------------------------------------


def _writer(level: int = 6) -> tuple[zipaes.ForwardSink, zipaes.ZipWriter]:
    sink = zipaes.ForwardSink(io.BytesIO())
    return sink, zipaes.open_writer(sink, PW.encode(), level)


def _zip(members: dict[str, bytes], level: int = 6) -> bytes:
    out = io.BytesIO()
    sink = zipaes.ForwardSink(out)
    zf = zipaes.open_writer(sink, PW.encode(), level)
    for name, data in members.items():
        with zipaes.open_member_writer(
            zf, zipaes.new_member(name, (2024, 1, 2, 3, 4, 6), level)
        ) as w:
            w.write(data)
    zf.close()
    return out.getvalue()


def _read_all(stream: zipaes.MemberStream) -> bytes:
    return b"".join(iter(lambda: stream.read1(1 << 16), b""))


def test_member_writer_is_built_on_pyzippers_private_write_file():
    """WriteFile subclasses zipfile._ZipWriteFile, keeps its constructor, and writes through the
    private fields pyzipper's own write() and close() use."""
    assert issubclass(zipaes.WriteFile, _ZipWriteFile)
    params = list(inspect.signature(_ZipWriteFile.__init__).parameters)
    assert params == ["self", "zf", "zinfo", "zip64", "encrypter"]
    assert zipaes.ZipWriter.zipwritefile_cls is zipaes.WriteFile
    _sink, zf = _writer()
    with zipaes.open_member_writer(zf, zipaes.new_member("a", (2024, 1, 1, 0, 0, 0), 6)) as w:
        assert type(w) is zipaes.WriteFile  # pyzipper builds the class it is told to
        for field in (
            "_fileobj",
            "_file_size",
            "_crc",
            "_compressor",
            "_encrypter",
            "_compress_size",
        ):
            assert hasattr(w, field), f"pyzipper's _ZipWriteFile no longer has {field}"
        assert isinstance(w._encrypter, zipaes.AESEncrypter)  # get_encrypter() is consulted
        w.write(b"x" * 1000)
        assert (w._file_size, w._crc) == (1000, 0)  # AE-2: no CRC computed


def test_encrypter_inherits_what_its_fields_feed():
    """AESEncrypter sets the fields pyzipper's update_zipinfo, compute_aes_version and
    encryption_header read, and hmac_size is still a class attribute."""
    ours = zipaes.AESEncrypter(PW.encode(), **zipaes.AES_KWARGS)
    info = AESZipInfo("a")
    ours.update_zipinfo(info)
    assert (info.wz_aes_version, info.wz_aes_strength, info.wz_aes_vendor_id) == (2, 3, b"AE")
    assert ours.encryption_header() == ours.salt + ours.encpwdverify
    assert len(ours.salt) == 16 and zipaes.AESEncrypter.hmac_size == zipaes.HMAC_SIZE


def test_key_and_salt_tables_are_the_winzip_ones():
    assert WZ_KEY_LENGTHS == {1: 16, 2: 24, 3: 32}
    assert WZ_SALT_LENGTHS == {1: 8, 2: 12, 3: 16}


def test_a_members_compression_level_is_the_private_compresslevel():
    """pyzipper has no public way to give one member its level: new_member sets ZipInfo's
    _compresslevel, which must still exist and still reach the compressor."""
    assert "_compresslevel" in pyzipper.zipfile.ZipInfo.__slots__
    text = b"".join(b"GET /health %d HTTP/1.1 200 OK\n" % i for i in range(40_000))
    sizes = {}
    for level in (1, 9):
        with zipaes.open_reader(io.BytesIO(_zip({"t": text}, level)), PW.encode()) as zf:
            (info,) = zf.infolist()
            sizes[level] = info.compress_size
    assert sizes[9] < sizes[1]


def test_a_sink_that_cannot_seek_gets_data_descriptors():
    """ForwardSink refuses seek(); ZipFile then writes each member's sizes after its data."""
    raw = _zip({"a": os.urandom(5000)})
    (flags,) = struct.unpack_from("<H", raw, 6)
    assert flags & 0x8 and flags & 0x1  # data descriptor, encrypted


def test_abandon_keeps_close_from_writing_a_central_directory():
    sink, zf = _writer()
    with zipaes.open_member_writer(zf, zipaes.new_member("a", (2024, 1, 1, 0, 0, 0), 6)) as w:
        w.write(b"data")
    written = sink.size
    zf.abandon()
    zf.close()
    del zf  # pyzipper's __del__ closes too
    assert sink.size == written


def test_reader_uses_our_member_reader_and_its_private_fields():
    assert issubclass(zipaes.ExtFile, AESZipExtFile)
    assert zipaes.ZipReader.zipextfile_cls is zipaes.ExtFile
    for hook in ("setup_aeszipdecrypter", "setup_crczipdecrypter", "setup_decrypter"):
        assert callable(getattr(AESZipExtFile, hook)), f"pyzipper no longer calls {hook}"
    params = list(inspect.signature(AESZipDecrypter.__init__).parameters)
    assert params == ["self", "zinfo", "pwd", "encryption_header"]
    assert AESZipDecrypter.hmac_size == zipaes.HMAC_SIZE
    raw = _zip({"deflated": b"abc" * 10_000})
    with zipaes.open_reader(io.BytesIO(raw), PW.encode()) as zf:
        stream = zipaes.MemberStream(zf, zf.getinfo("deflated"))
        fp = stream._fp
        assert type(fp) is zipaes.ExtFile
        assert isinstance(fp._decrypter, zipaes.AESDecrypter)
        assert isinstance(
            fp._decompressor, zipaes.CountingDecompressor
        )  # installed by MemberStream
        assert fp._zinfo.filename == "deflated" and fp._expected_crc is None  # AE-2: no CRC run
        assert fp._compress_left > 0
        assert _read_all(stream) == b"abc" * 10_000
        assert fp._compress_left == 0 and stream._counter.produced == 30_000
        stream.close()


@pytest.mark.parametrize("level", [0, 6], ids=["stored", "deflated"])
def test_a_member_is_decrypted_ahead_on_a_thread_that_ends_with_it(level):
    """The reader overrides pyzipper's ``_read2`` and ``read_init`` and reads ``_fileobj``: the
    member comes out whole either way, and a member closed half read leaves no thread behind."""
    for name in ("_read2", "read_init", "_read1"):
        assert callable(getattr(AESZipExtFile, name)), f"pyzipper no longer has {name}"
    data = os.urandom(3 << 20) + b"abc" * 500_000  # several chunks for the thread
    raw = _zip({"m": data}, level=level)
    with zipaes.open_reader(io.BytesIO(raw), PW.encode()) as zf:
        stream = zipaes.MemberStream(zf, zf.getinfo("m"))
        assert _read_all(stream) == data
        stream.close()
        half = zipaes.MemberStream(zf, zf.getinfo("m"))
        assert half.read1(1 << 20)
        assert any(t.name == "decrypt" for t in threading.enumerate())
        half.close()
    assert not any(t.name == "decrypt" for t in threading.enumerate())


def test_pyzipper_still_cuts_a_member_at_its_declared_size(tmp_path):
    """Why CountingDecompressor exists: pyzipper's own reader hands over only the declared bytes of
    a deflated member that holds more, and says nothing (its HMAC still checks out)."""
    archive = write_archive(tmp_path / "x.zip", {"data.bin": b"0123456789" * 10_000})
    patch_declared_size(archive, b"data.bin", 1000)
    with pyzipper.AESZipFile(archive) as zf:
        zf.setpassword(PW.encode())
        assert zf.read("data.bin") == b"0123456789" * 100  # 99,000 bytes dropped without a word


# --- typed errors instead of message text -----------------------------------------------------------


def test_wrong_password_is_typed(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a": b"data"})
    with zipaes.open_reader(archive, b"not-the-password") as zf:
        with pytest.raises(zipaes.WrongPassword):
            zipaes.MemberStream(zf, zf.getinfo("a"))


def test_zipcrypto_members_open_and_refuse_a_wrong_password_typed(tmp_path):
    """7-Zip still writes the old ZipCrypto when asked; pyzipper's decrypter for it raises a bare
    RuntimeError for a wrong password, which zipaes types."""
    (tmp_path / "a.txt").write_bytes(b"zipcrypto " * 100)
    archive = tmp_path / "old.zip"
    subprocess.run(
        [SEVENZIP, "a", "-tzip", "-mem=ZipCrypto", f"-p{PW}", str(archive), "a.txt"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    with zipaes.open_reader(archive, PW.encode()) as zf:
        info = zf.getinfo("a.txt")
        assert zipaes.is_encrypted(info) and zipaes.stored_data_size(info) is None
        assert _read_all(zipaes.MemberStream(zf, info)) == b"zipcrypto " * 100
    # ZipCrypto's check byte lets one wrong password in 256 through; the read then refuses it.
    for attempt in range(600):
        with zipaes.open_reader(archive, f"Not-The-Password-{attempt}!".encode()) as zf:
            with pytest.raises(zipaes.WrongPassword):
                _read_all(zipaes.MemberStream(zf, zf.getinfo("a.txt")))


@pytest.mark.parametrize("level", [0, 6])
def test_altered_data_fails_authentication_typed(tmp_path, level):
    archive = write_archive(tmp_path / "x.zip", {"a": os.urandom(200_000)}, level=level)
    flip_byte(archive, 5000, 0x80)  # inside the member's encrypted data
    with zipaes.open_reader(archive, PW.encode()) as zf:
        stream = zipaes.MemberStream(zf, zf.getinfo("a"))
        with pytest.raises(zipaes.AuthenticationFailed):
            _read_all(stream)


def test_altered_compressed_data_is_refused_typed_by_whichever_inflater(tmp_path):
    """A flipped bit inside deflate data breaks the inflater (ISA-L's or zlib's) before the HMAC is
    reached: still a typed refusal, never the inflater's own error."""
    body = b"".join(b"line %d of a compressible text\n" % i for i in range(20_000))
    archive = write_archive(tmp_path / "x.zip", {"a": body}, level=6)
    refused = 0
    for offset in range(200, 4200, 200):
        copy = tmp_path / f"x{offset}.zip"
        copy.write_bytes(archive.read_bytes())
        flip_byte(copy, offset, 0x10)
        with zipaes.open_reader(copy, PW.encode()) as zf:
            with pytest.raises(zipaes.ZipAesError):
                _read_all(zipaes.MemberStream(zf, zf.getinfo("a")))
            refused += 1
    assert refused == 20


@pytest.mark.parametrize("big", [False, True])
def test_data_beyond_the_declared_size_is_typed(tmp_path, big):
    body = b"0123456789abcdef" * 10_000 + os.urandom((3 << 20) if big else 10_000)
    archive = write_archive(tmp_path / "x.zip", {"data.bin": body})
    patch_declared_size(archive, b"data.bin", 1000)
    with zipaes.open_reader(archive, PW.encode()) as zf:
        stream = zipaes.MemberStream(zf, zf.getinfo("data.bin"))
        with pytest.raises(zipaes.DataBeyondDeclaredSize, match="1000 bytes"):
            _read_all(stream)


def test_a_stored_members_declared_size_is_checked_before_reading(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a": b"x" * 5000, "b": b"y" * 10}, level=0)
    patch_declared_size(archive, b"a", 4000)
    with zipaes.open_reader(archive, PW.encode()) as zf:
        a, b = zf.getinfo("a"), zf.getinfo("b")
        assert (a.file_size, zipaes.stored_data_size(a)) == (4000, 5000)
        assert zipaes.stored_data_size(b) == b.file_size == 10


@pytest.mark.parametrize(
    "damage", ["truncated", "garbage"], ids=["truncated archive", "not a zip at all"]
)
def test_an_archive_that_is_not_a_zip_is_typed(tmp_path, damage):
    archive = write_archive(tmp_path / "x.zip", {"a": os.urandom(10_000)})
    if damage == "truncated":
        archive.write_bytes(archive.read_bytes()[:-100])
    else:
        archive.write_bytes(b"this is not a zip file\n" * 100)
    with pytest.raises(zipaes.DamagedArchive):
        zipaes.open_reader(archive, PW.encode())


def test_an_ae1_members_bad_crc_is_typed(tmp_path):
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
    raw = archive.read_bytes()
    flip_byte(archive, raw.index(b"PK\x01\x02") + 16)  # the CRC-32 in the central directory
    with zipaes.open_reader(archive, PW.encode()) as zf:
        stream = zipaes.MemberStream(zf, zf.getinfo("a.bin"))
        with pytest.raises(zipaes.DamagedArchive, match="CRC"):
            _read_all(stream)


def test_an_unencrypted_member_is_told_apart(tmp_path):
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as zf:
        zf.writestr("a.txt", b"plain")
    with zipaes.open_reader(tmp_path / "plain.zip", PW.encode()) as zf:
        assert not zipaes.is_encrypted(zf.getinfo("a.txt"))
