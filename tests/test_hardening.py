"""The crossing against an attacker and a careless operator (issue 9): each refusal one line, each
leaving nothing behind, what was verified being what is used."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest
from archives import PW, SEVENZIP, crafted, listing, sums_for, write_archive
from pyzipper.zipfile_aes import AESZipInfo

from airgapkit import fsutil
from airgapkit.crossing import channels, extraction, sumsfile, sumsverify
from airgapkit.crossing.archive import ArchiveReader
from airgapkit.errors import AirgapError, UnsafeArchive


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- 1. what is hashed is what is read ---------------------------------------------------------------


def test_an_archive_replaced_after_its_hash_check_is_not_what_gets_extracted(tmp_path, monkeypatch):
    """Swapping the file under the same name after the check: the reader still reads the file that
    was hashed. Provoked by running the swap right after the real check (a race made certain)."""
    archive = write_archive(tmp_path / "media" / "x.zip", {"a.txt": b"the real one"})
    sums = sums_for(archive, tmp_path / "hashes")
    evil = write_archive(tmp_path / "evil.zip", {"a.txt": b"the attacker's"})
    real = sumsverify.verify_archive

    def verify_then_swap(source, sums_path):
        whole = real(source, sums_path)
        os.replace(evil, archive)
        return whole

    monkeypatch.setattr(sumsverify, "verify_archive", verify_then_swap)
    channels.extract(archive, tmp_path / "dest", PW, sums)
    assert (tmp_path / "dest" / "a.txt").read_bytes() == b"the real one"


def test_an_archive_written_to_after_its_hash_check_is_refused(tmp_path, monkeypatch):
    archive = write_archive(tmp_path / "media" / "x.zip", {"a.txt": os.urandom(50_000)})
    sums = sums_for(archive, tmp_path / "hashes")
    real = sumsverify.verify_archive

    def verify_then_append(source, sums_path):
        whole = real(source, sums_path)
        with open(archive, "ab") as f:
            f.write(b"more")
        return whole

    monkeypatch.setattr(sumsverify, "verify_archive", verify_then_append)
    with pytest.raises(AirgapError, match="changed while it was being read") as exc:
        channels.extract(archive, tmp_path / "dest", PW, sums)
    one_line(exc)
    assert not (tmp_path / "dest").exists()


def test_only_a_regular_file_is_read(tmp_path):
    fifo = tmp_path / "x.zip"
    os.mkfifo(fifo)
    sums = tmp_path / "hashes" / "SHA256SUMS"
    sums.parent.mkdir()
    sums.write_text(f"{'0' * 64}  x.zip\n")
    with pytest.raises(AirgapError, match="not a regular file"):
        channels.extract(fifo, tmp_path / "dest", PW, sums)


# --- 2. AES-256 only ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, found", [("ZipCrypto", "ZipCrypto"), ("AES128", "AES-128"), ("AES192", "AES-192")]
)
def test_weaker_encryption_is_refused_naming_what_was_found(tmp_path, method, found):
    (tmp_path / "a.txt").write_bytes(b"data " * 100)
    archive = tmp_path / "media" / "old.zip"
    archive.parent.mkdir()
    subprocess.run(
        [SEVENZIP, "a", "-tzip", f"-mem={method}", f"-p{PW}", str(archive), "a.txt"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match=f"encrypted with {found}; .*only AES-256") as exc:
        channels.extract(archive, tmp_path / "dest", PW, sums)
    one_line(exc)
    assert not (tmp_path / "dest").exists()


# --- 3. the central directory agrees with the local headers ---------------------------------------------


def _local_patch(archive: Path, offset: int, fmt: str, value) -> None:
    data = bytearray(archive.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "offset, fmt, value, what",
    [
        (6, "<H", 0x0809, "other flags"),  # flags: UTF-8 bit added
        (8, "<H", 8, "another encryption or method"),  # method: deflate, not AES (99)
        (30, "<B", ord("b"), "another name"),  # the name's first byte
    ],
)
def test_a_local_header_that_disagrees_is_refused(tmp_path, offset, fmt, value, what):
    archive = write_archive(tmp_path / "x.zip", {"a.txt": b"a" * 1000, "b.txt": b"b"})
    _local_patch(archive, offset, fmt, value)
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match=what) as exc:
        channels.extract(archive, tmp_path / "dest", PW, sums)
    one_line(exc)


def test_a_data_descriptor_that_disagrees_is_refused(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a.txt": b"a" * 1000})
    data = archive.read_bytes()
    at = data.index(b"PK\x07\x08")
    _local_patch(archive, at + 16, "<Q", 999)  # the size after the data: not the central one
    with pytest.raises(UnsafeArchive, match="other sizes"):
        ArchiveReader(archive, PW)


# --- 4. a full disk: one line, nothing left ----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted for the test (root only: CI runs as root) and unmounted after."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the disk-full tests need root to mount a tmpfs")
        pytest.skip("needs root to mount a tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_archiving_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, small_disk):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3_000_000))
    with pytest.raises(AirgapError, match="no space left in .* while writing x.zip") as exc:
        channels.create(
            [big], small_disk / "media" / "x.zip", sums=tmp_path / "h" / "SUMS", password=PW
        )
    one_line(exc)
    assert listing(small_disk / "media") == [] and not (tmp_path / "h" / "SUMS").exists()


def test_a_known_size_is_checked_before_writing(tmp_path, small_disk):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3_000_000))
    with pytest.raises(AirgapError, match="needs 3.0 MB in .* but only .* is free") as exc:
        channels.create(
            [big],
            small_disk / "media" / "x.zip",
            sums=tmp_path / "h" / "SUMS",
            password=PW,
            level=0,
        )
    one_line(exc)
    archive = write_archive(tmp_path / "x.zip", {"big.bin": big.read_bytes()}, level=0)
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(AirgapError, match="extracting x.zip needs 3.0 MB") as exc:
        channels.extract(archive, small_disk / "dest", PW, sums)
    assert listing(small_disk) == []


def test_hashes_that_cannot_be_written_leave_no_archive(tmp_path, small_disk):
    with open(small_disk / "filler", "wb") as filler:  # the hashes' disk made full
        try:
            while True:
                filler.write(b"x" * 65536)
                filler.flush()
        except OSError:
            pass
    src = tmp_path / "a.bin"
    src.write_bytes(b"a" * 1000)
    with pytest.raises(AirgapError) as exc:
        channels.create(
            [src],
            tmp_path / "media" / "x.zip",
            sums=small_disk / "SHA256SUMS",
            generate_password=tmp_path / "pw" / "x.password",
        )
    one_line(exc)
    assert listing(tmp_path / "media") == [] and listing(tmp_path / "pw") == []


# --- 5. bad inputs -------------------------------------------------------------------------------------


def test_a_damaged_tail_is_one_line(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a": b"a" * 1000})
    data = bytearray(archive.read_bytes())
    eocd = data.rindex(b"PK\x05\x06")
    struct.pack_into("<I", data, eocd + 16, 0x7FFFFFF0)  # the directory's offset: past the end
    archive.write_bytes(bytes(data))
    with pytest.raises(AirgapError, match="damaged.*fetch it again") as exc:
        ArchiveReader(archive, PW)
    one_line(exc)


@pytest.mark.parametrize(
    "name, what",
    [("n" * 300 + ".txt", "too long"), ("/".join(["d"] * 80) + "/f", "nested 81 folders deep")],
)
def test_names_the_file_system_cannot_hold_are_refused(tmp_path, name, what):
    archive = crafted(tmp_path / "x.zip", [(AESZipInfo(name), b"x")])
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match=what) as exc:
        channels.extract(archive, tmp_path / "dest", PW, sums)
    one_line(exc)
    assert not (tmp_path / "dest").exists()


def test_a_file_where_a_member_needs_a_folder(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"app/a.txt": b"a"})
    sums = sums_for(archive, tmp_path / "hashes")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "app").write_text("a file")
    with pytest.raises(AirgapError, match="app is a file, but member app/a.txt needs a folder"):
        channels.extract(archive, dest, PW, sums)
    assert listing(dest) == ["app"]


def test_dest_naming_a_file_is_refused(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a": b"a"})
    sums = sums_for(archive, tmp_path / "hashes")
    (tmp_path / "dest").write_text("a file")
    with pytest.raises(AirgapError, match="--dest .* is a file, not a folder") as exc:
        channels.extract(archive, tmp_path / "dest", PW, sums)
    one_line(exc)


# --- 7, 8, 9: order, leftovers, replacing ----------------------------------------------------------


def test_the_destination_folder_is_made_only_for_an_archive_that_passed(tmp_path):
    archive = crafted(tmp_path / "x.zip", [(AESZipInfo("../evil"), b"x")])
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive):
        channels.extract(archive, tmp_path / "new" / "dest", PW, sums)
    assert not (tmp_path / "new").exists()


def test_leftovers_of_a_killed_run_are_removed_and_said(tmp_path, capfd):
    media = tmp_path / "media"
    media.mkdir()
    old = fsutil.temp_path(media / "x.zip")
    old.write_bytes(b"half an archive")
    busy = fsutil.temp_path(media / "y.zip")
    busy.write_bytes(b"being written")
    past = time.time() - 60
    for path in (old, busy):
        os.utime(path, (past, past))
    (media / ".not-ours.part").write_bytes(b"someone else's")
    src = tmp_path / "a.bin"
    src.write_bytes(b"a")
    with open(busy, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run still writing it
        channels.create([src], media / "x.zip", sums=tmp_path / "h" / "SUMS", password=PW)
    assert not old.exists() and busy.exists() and (media / ".not-ours.part").exists()
    assert "removed 1 leftover file(s) of an interrupted airgapkit run" in capfd.readouterr().err


def test_archive_refuses_to_replace_an_archive_without_force(tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(b"first")
    sums = tmp_path / "h" / "SHA256SUMS"
    first = channels.create([src], tmp_path / "media" / "x.zip", sums=sums, password=PW)
    src.write_bytes(b"second")
    with pytest.raises(AirgapError, match="x.zip already exists; .*--force") as exc:
        channels.create([src], tmp_path / "media" / "x.zip", sums=sums, password=PW)
    one_line(exc)
    assert sumsfile.read_sums(sums)["x.zip"] == first.archive_sha256
    second = channels.create(
        [src], tmp_path / "media" / "x.zip", sums=sums, password=PW, force=True
    )
    assert sumsfile.read_sums(sums)["x.zip"] == second.archive_sha256 != first.archive_sha256


def test_extraction_is_planned_before_anything_is_touched(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a": b"a", "b/c": b"c"})
    with ArchiveReader(archive, PW) as r:
        laid_out = extraction.plan(r, None, tmp_path / "dest")
    assert [f.final.name for f in laid_out.files] == ["a", "c"] and not (tmp_path / "dest").exists()
