"""vault: AES-256 zips written and read as streams, 7-Zip both ways, and every refusal crafted for real."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import pyzipper
from pyzipper.zipfile_aes import AESZipInfo

from airgapkit.crossing import archive as vault
from airgapkit.crossing import digest
from airgapkit.crossing import zipaes as aeszip
from airgapkit.errors import AirgapError, IntegrityError, PasswordError, UnsafeArchive

PW = "Tq8#vLx2!mZr5@kWp9$e"
SEVENZIP = "7z"


def write_archive(dest: Path, members: dict[str, bytes], level: int = 6, password=PW) -> Path:
    with vault.ArchiveWriter(dest, password, level=level, progress=False) as w:
        for name, data in members.items():
            w.add_bytes(name, data)
    return dest


def sums_for(archive: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    sums = folder / "SHA256SUMS"
    digest.write_sums({archive.name: digest.sha256_file(archive)}, sums)
    return sums


def crafted(dest: Path, infos: list[tuple[AESZipInfo, bytes]], password=PW) -> Path:
    """A zip written by pyzipper from hand-made ZipInfo records (names and attributes as given)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        with pyzipper.AESZipFile(
            dest, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as zf:
            zf.setpassword(password.encode())
            for info, data in infos:
                info.compress_type = pyzipper.ZIP_DEFLATED
                zf.writestr(info, data)
    return dest


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture
def payload():
    return {"node20a.tar": os.urandom(300_000) + b"layer " * 50_000, "module.tgz": os.urandom(5000)}


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_round_trip_streams_and_format(tmp_path, payload, level):
    src = tmp_path / "node20a.tar"
    src.write_bytes(payload["node20a.tar"])
    dest = tmp_path / "out" / "x.zip"
    with vault.ArchiveWriter(dest, PW, level=level, progress=False) as w:
        assert w.add_file(src, "node20a.tar") == (
            hashlib.sha256(src.read_bytes()).hexdigest(),
            src.stat().st_size,
        )
        chunks = [payload["module.tgz"][i : i + 1000] for i in range(0, 5000, 1000)]
        assert w.add_stream("module.tgz", iter(chunks))[1] == 5000
        w.add_bytes("manifest.json", b"{}")
    assert listing(tmp_path / "out") == ["x.zip"]  # no temporary file left beside it
    with vault.ArchiveReader(dest, PW) as r:
        assert r.names() == ["node20a.tar", "module.tgz", "manifest.json"]
        for info in r.infos():
            assert info.wz_aes_version == 2 and info.wz_aes_strength == 3  # AE-2, AES-256
            assert info.compress_type == (pyzipper.ZIP_DEFLATED if level else pyzipper.ZIP_STORED)
        assert r.read_bytes("manifest.json") == b"{}"
        with r.open("node20a.tar") as f:
            assert f.read(10) == payload["node20a.tar"][:10]
            assert f.read() == payload["node20a.tar"][10:]
        out = r.extract_all(tmp_path / "ex")
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


def test_we_extract_what_seven_zip_writes(tmp_path, payload):
    src = tmp_path / "src"
    src.mkdir()
    for name, data in payload.items():
        (src / name).write_bytes(data)
    archive = tmp_path / "media" / "from7z.zip"
    archive.parent.mkdir()
    subprocess.run(
        [SEVENZIP, "a", "-tzip", "-mem=AES256", "-mx=5", f"-p{PW}", str(archive), *payload],
        cwd=src,
        check=True,
        capture_output=True,
    )
    hashes = tmp_path / "hashes"
    hashes.mkdir()
    sha = subprocess.run(
        ["sha256sum", archive.name], cwd=archive.parent, capture_output=True, text=True, check=True
    ).stdout
    (hashes / "SHA256SUMS").write_text(sha)
    out = vault.extract(archive, tmp_path / "dest", PW, hashes / "SHA256SUMS")
    assert sorted(p.name for p in out) == sorted(payload)
    for name, data in payload.items():
        assert (tmp_path / "dest" / name).read_bytes() == data


def test_encrypter_output_is_pyzippers_byte_for_byte(monkeypatch):
    """Same password and salt: the faster encrypter writes exactly what pyzipper's own would, over
    chunk sizes that cut AES blocks, and the same HMAC."""
    theirs = pyzipper.zipfile_aes.AESZipEncrypter(PW.encode(), nbits=256, force_wz_aes_version=2)
    monkeypatch.setattr(aeszip.secrets, "token_bytes", lambda n: theirs.salt[:n])
    ours = aeszip.AESEncrypter(PW.encode(), nbits=256, force_wz_aes_version=2)
    assert ours.encryption_header() == theirs.encryption_header()
    data = os.urandom(700_001)
    cuts = [0, 1, 17, 4096, 300_000, 300_013, 700_001]
    for a, b in zip(cuts, cuts[1:], strict=False):
        assert bytes(ours.encrypt_view(memoryview(data)[a:b])) == theirs.encrypt(data[a:b])
    assert ours.encrypt(b"") + ours.flush() == theirs.encrypt(b"") + theirs.flush()


@pytest.mark.parametrize("level", [0, 6])
def test_seven_zip_opens_a_file_written_in_many_chunks(tmp_path, level):
    """add_file through the faster writer: several read chunks, deflate output of odd sizes."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * vault.WRITE_CHUNK + 12_345) + b"node_modules/" * 40_000)
    archive = tmp_path / "media" / "x.zip"
    with vault.ArchiveWriter(archive, PW, level=level, progress=False) as w:
        w.add_file(src)
    test = subprocess.run([SEVENZIP, "t", f"-p{PW}", str(archive)], capture_output=True, text=True)
    assert test.returncode == 0 and "Everything is Ok" in test.stdout, test.stdout + test.stderr
    subprocess.run(
        [SEVENZIP, "x", f"-p{PW}", f"-o{tmp_path / 'by7z'}", str(archive)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "by7z" / "big.bin").read_bytes() == src.read_bytes()
    with vault.ArchiveReader(archive, PW) as r:  # and the HMAC checks on our side
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
    with vault.ArchiveWriter(archive, PW, level=level, progress=False) as w:
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
    with vault.ArchiveReader(archive, PW) as r:
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


def test_create_takes_the_hash_written_not_a_second_read(tmp_path, payload, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in payload.items():
        (src / name).write_bytes(data)

    def no_second_read(*_a, **_k):
        raise AssertionError("the archive was read again to hash it")

    monkeypatch.setattr(digest, "sha256_file", no_second_read)
    crossing = vault.create(
        sorted(src.iterdir()),
        tmp_path / "media" / "x.zip",
        sums=tmp_path / "hashes" / "SHA256SUMS",
        password=PW,
        progress=False,
    )
    assert crossing.archive_sha256 == hashlib.sha256(crossing.archive.read_bytes()).hexdigest()
    monkeypatch.undo()
    vault.extract(crossing.archive, tmp_path / "dest", PW, crossing.sums)  # the sums check out


def test_bundle_create_returns_the_hash_written(tmp_path, monkeypatch):
    from airgapkit.crossing import bundle

    (tmp_path / "app.tgz").write_bytes(os.urandom(50_000))
    monkeypatch.setattr(digest, "sha256_file", lambda *_a, **_k: pytest.fail("second read"))
    manifest = bundle.Manifest(kind="base", app={"image_name": "demo", "version": "1"})
    dest = tmp_path / "media" / "demo-1-base.zip"
    sha = bundle.create(
        None,
        dest,
        manifest,
        images=[],
        files=[(tmp_path / "app.tgz", "app/app.tgz")],
        password=PW,
        level=6,
    )
    assert sha == hashlib.sha256(dest.read_bytes()).hexdigest()


def test_extract_checks_members_against_listed_hashes(tmp_path, payload):
    archive = write_archive(tmp_path / "media" / "x.zip", payload)
    sums = tmp_path / "hashes" / "SHA256SUMS"
    sums.parent.mkdir()
    entries = {
        archive.name: digest.sha256_file(archive),
        "node20a.tar": hashlib.sha256(payload["node20a.tar"]).hexdigest(),
        "module.tgz": "0" * 64,
    }  # the listed hash of one member is not what is inside
    digest.write_sums(entries, sums)
    with pytest.raises(IntegrityError, match="module.tgz has SHA-256"):
        vault.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []  # all or nothing: node20a.tar was checked, not kept


def test_writer_leaves_nothing_on_error_or_interrupt(tmp_path):
    dest = tmp_path / "x.zip"
    dest.write_bytes(b"previous archive")
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with vault.ArchiveWriter(dest, PW, progress=False) as w:
                w.add_bytes("a", b"a" * 1000)
                raise exc
        assert listing(tmp_path) == ["x.zip"] and dest.read_bytes() == b"previous archive"


def test_writer_refuses_unsafe_and_duplicate_names(tmp_path):
    with pytest.raises(UnsafeArchive):
        with vault.ArchiveWriter(tmp_path / "x.zip", PW, progress=False) as w:
            w.add_bytes("../evil", b"x")
    with pytest.raises(AirgapError, match="already in the archive"):
        with vault.ArchiveWriter(tmp_path / "x.zip", PW, progress=False) as w:
            w.add_bytes("a", b"x")
            w.add_bytes("a", b"y")
    assert listing(tmp_path) == []


# --- refusals, each crafted for real; each leaves the destination as it was --------------------


@pytest.fixture
def delivered(tmp_path, payload):
    """An archive on the media, its SHA256SUMS apart, and a destination holding one file already."""
    archive = write_archive(tmp_path / "media" / "x.zip", payload)
    sums = sums_for(archive, tmp_path / "hashes")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("was here")
    return archive, sums, dest


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_flipped_byte_refused_before_decrypting(delivered, where):
    archive, sums, dest = delivered
    data = bytearray(archive.read_bytes())
    at = {"start": 0, "middle": len(data) // 2, "end": len(data) - 1}[where]
    data[at] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="x.zip: SHA-256 .* differs") as exc:
        vault.extract(archive, dest, PW, sums)
    assert "\n" not in str(exc.value)
    assert listing(dest) == ["keep.txt"]


def test_flipped_byte_in_member_data_fails_the_hmac_even_without_sums(delivered):
    archive, _sums, dest = delivered
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x80  # inside node20a.tar's encrypted data
    archive.write_bytes(bytes(data))
    with vault.ArchiveReader(archive, PW) as r, pytest.raises(IntegrityError, match="HMAC"):
        r.extract_all(dest)
    assert listing(dest) == ["keep.txt"]


def test_truncated_archive_refused(delivered):
    archive, sums, dest = delivered
    archive.write_bytes(archive.read_bytes()[:-5000])
    with pytest.raises(IntegrityError, match="differs"):
        vault.extract(archive, dest, PW, sums)
    with pytest.raises(IntegrityError, match="not a readable zip"):
        vault.ArchiveReader(archive, PW)
    assert listing(dest) == ["keep.txt"]


def test_wrong_password_is_one_clear_line(delivered):
    archive, sums, dest = delivered
    with pytest.raises(PasswordError) as exc:
        vault.extract(archive, dest, "Not-The-Password-42!", sums)
    message = str(exc.value)
    assert message.startswith("wrong password for") and "\n" not in message
    assert PW not in message and "Not-The-Password-42!" not in message
    assert listing(dest) == ["keep.txt"]


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "a/../../evil.txt",
        "/etc/evil.txt",
        "C:/Windows/evil.txt",
        "C:evil.txt",
        "..\\evil.txt",
        "a\\..\\..\\evil.txt",
    ],
)
def test_member_names_that_escape_are_refused(tmp_path, name):
    archive = crafted(
        tmp_path / "bad.zip", [(AESZipInfo("fine.txt"), b"ok"), (AESZipInfo(name), b"evil")]
    )
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="refusing the archive"):
        vault.extract(archive, tmp_path / "dest" / "inner", PW, sums)
    assert listing(tmp_path / "dest") == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_member_refused(tmp_path):
    link = AESZipInfo("passwd")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = crafted(tmp_path / "link.zip", [(link, b"/etc/passwd")])
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        vault.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []


def test_duplicate_members_refused(tmp_path):
    archive = crafted(
        tmp_path / "dup.zip",
        [(AESZipInfo("app.tar"), b"first"), (AESZipInfo("APP.tar"), b"second")],
    )
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="twice"):
        vault.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []


def test_unencrypted_member_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as zf:
        zf.writestr("a.txt", b"plain")
    sums = sums_for(tmp_path / "plain.zip", tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="not encrypted"):
        vault.extract(tmp_path / "plain.zip", tmp_path / "dest", PW, sums)


def _patch_central_file_size(archive: Path, name: bytes, new_size: int) -> None:
    data = bytearray(archive.read_bytes())
    at = data.index(b"PK\x01\x02" + b"\0" * 0)
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, new_size)  # uncompressed size in the central directory
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("big", [False, True])  # read in one chunk, or over several
@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize("declared", ["smaller", "larger"])
def test_member_whose_declared_size_lies(tmp_path, declared, level, big):
    body = b"0123456789abcdef" * 10_000 + os.urandom((3 << 20) if big else 10_000)
    archive = write_archive(tmp_path / "lie.zip", {"data.bin": body}, level=level)
    lie = 1000 if declared == "smaller" else len(body) + 1000
    _patch_central_file_size(archive, b"data.bin", lie)
    with vault.ArchiveReader(archive, PW) as r:
        assert r.infos()[0].file_size == lie
    sums = sums_for(archive, tmp_path / "hashes")  # the hash matches: the lie was made before it
    expected = UnsafeArchive if declared == "smaller" or level == 0 else IntegrityError
    with pytest.raises(expected, match="declare"):
        vault.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []


def test_expansion_ratio_and_total_cap(tmp_path):
    archive = write_archive(tmp_path / "bomb.zip", {"zeros": bytes(9 << 20)}, level=9)
    with vault.ArchiveReader(archive, PW) as r:
        with pytest.raises(UnsafeArchive, match="zip bomb"):
            r.extract_all(tmp_path / "dest")  # 9 MiB of zeros deflate to about 9 KiB: over 1000:1
        with pytest.raises(UnsafeArchive, match="cap"):
            r.extract_all(tmp_path / "dest", max_total=1 << 20, max_ratio=10**9)
    assert listing(tmp_path / "dest") == []


def test_existing_files_kept_unless_force(tmp_path, payload):
    archive = write_archive(tmp_path / "media" / "x.zip", payload)
    sums = sums_for(archive, tmp_path / "hashes")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "module.tgz").write_text("mine")
    with pytest.raises(AirgapError, match="module.tgz already exists; .*--force"):
        vault.extract(archive, dest, PW, sums)
    assert listing(dest) == ["module.tgz"] and (dest / "module.tgz").read_text() == "mine"
    vault.extract(archive, dest, PW, sums, force=True)
    assert (dest / "module.tgz").read_bytes() == payload["module.tgz"]


def test_symlinked_folder_in_destination_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    archive = write_archive(tmp_path / "x.zip", {"sub/file.txt": b"x"})
    with vault.ArchiveReader(archive, PW) as r, pytest.raises(UnsafeArchive, match="outside"):
        r.extract_all(dest)
    assert listing(outside) == []


def test_interrupted_extraction_leaves_no_final_name(tmp_path):
    archive = tmp_path / "big.zip"
    with vault.ArchiveWriter(archive, PW, level=0, progress=False) as w:
        w.add_bytes("first.bin", b"small")
        w.add_stream("big.bin", (os.urandom(1 << 20) for _ in range(160)))
    dest = tmp_path / "dest"
    code = (
        "import sys; from pathlib import Path; from airgapkit.crossing import archive as vault\n"
        "with vault.ArchiveReader(Path(sys.argv[1]), sys.argv[3]) as r:\n"
        "    r.extract_all(Path(sys.argv[2]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(archive), str(dest), PW], stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".big.bin") for p in (dest.iterdir() if dest.exists() else [])):
        assert proc.poll() is None and time.monotonic() < deadline, "extraction ended too soon"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert b"KeyboardInterrupt" in proc.stderr.read()
    assert listing(dest) == []  # neither first.bin (already complete) nor any temporary file


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
    with vault.ArchiveReader(archive, PW) as r:
        assert r.infos()[0].wz_aes_version == 1 and r.read_bytes("a.bin") == b"abc" * 1000
    data = bytearray(archive.read_bytes())
    at = data.index(b"PK\x01\x02")
    data[at + 16] ^= 0x01  # the CRC-32 in the central directory
    archive.write_bytes(bytes(data))
    with vault.ArchiveReader(archive, PW) as r, pytest.raises(IntegrityError, match="CRC"):
        r.read_bytes("a.bin")
