"""extraction: every refusal crafted for real, each leaving the destination as it was; all files
appear, or none, even when interrupted."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import archives
import pytest
from archives import (
    PW,
    crafted,
    listing,
    patch_declared_size,
    sample_payload,
    sums_for,
    write_archive,
)
from pyzipper.zipfile_aes import AESZipInfo

from airgapkit.crossing import channels, extraction
from airgapkit.crossing.archive import ArchiveReader, ArchiveWriter
from airgapkit.errors import AirgapError, IntegrityError, UnsafeArchive


@pytest.fixture
def payload():
    return sample_payload()


@pytest.fixture
def delivered(tmp_path, payload):
    """An archive on the media, its SHA256SUMS apart, and a destination holding one file already."""
    return archives.delivered(tmp_path, payload)


def test_flipped_byte_in_member_data_fails_the_hmac_even_without_sums(delivered):
    archive, _sums, dest = delivered
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x80  # inside node20a.tar's encrypted data
    archive.write_bytes(bytes(data))
    with ArchiveReader(archive, PW) as r, pytest.raises(IntegrityError, match="HMAC"):
        extraction.extract_all(r, dest)
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
        channels.extract(archive, tmp_path / "dest" / "inner", PW, sums)
    assert listing(tmp_path / "dest") == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_member_refused(tmp_path):
    link = AESZipInfo("passwd")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = crafted(tmp_path / "link.zip", [(link, b"/etc/passwd")])
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        channels.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []


def test_duplicate_members_refused(tmp_path):
    archive = crafted(
        tmp_path / "dup.zip",
        [(AESZipInfo("app.tar"), b"first"), (AESZipInfo("APP.tar"), b"second")],
    )
    sums = sums_for(archive, tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="twice"):
        channels.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []


def test_unencrypted_member_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as zf:
        zf.writestr("a.txt", b"plain")
    sums = sums_for(tmp_path / "plain.zip", tmp_path / "hashes")
    with pytest.raises(UnsafeArchive, match="not encrypted"):
        channels.extract(tmp_path / "plain.zip", tmp_path / "dest", PW, sums)


@pytest.mark.parametrize("big", [False, True])  # read in one chunk, or over several
@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize("declared", ["smaller", "larger"])
def test_member_whose_declared_size_lies(tmp_path, declared, level, big):
    body = b"0123456789abcdef" * 10_000 + os.urandom((3 << 20) if big else 10_000)
    archive = write_archive(tmp_path / "lie.zip", {"data.bin": body}, level=level)
    lie = 1000 if declared == "smaller" else len(body) + 1000
    patch_declared_size(archive, b"data.bin", lie)
    with ArchiveReader(archive, PW) as r:
        assert r.infos()[0].file_size == lie
    sums = sums_for(archive, tmp_path / "hashes")  # the hash matches: the lie was made before it
    expected = UnsafeArchive if declared == "smaller" or level == 0 else IntegrityError
    with pytest.raises(expected, match="declare"):
        channels.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []


def test_expansion_ratio_and_total_cap(tmp_path):
    archive = write_archive(tmp_path / "bomb.zip", {"zeros": bytes(9 << 20)}, level=9)
    with ArchiveReader(archive, PW) as r:
        with pytest.raises(UnsafeArchive, match="zip bomb"):
            extraction.extract_all(
                r, tmp_path / "dest"
            )  # 9 MiB of zeros deflate to about 9 KiB: over 1000:1
        with pytest.raises(UnsafeArchive, match="cap"):
            extraction.extract_all(r, tmp_path / "dest", max_total=1 << 20, max_ratio=10**9)
    assert listing(tmp_path / "dest") == []


def test_existing_files_kept_unless_force(tmp_path, payload):
    archive = write_archive(tmp_path / "media" / "x.zip", payload)
    sums = sums_for(archive, tmp_path / "hashes")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "module.tgz").write_text("mine")
    with pytest.raises(AirgapError, match="module.tgz already exists; .*--force"):
        channels.extract(archive, dest, PW, sums)
    assert listing(dest) == ["module.tgz"] and (dest / "module.tgz").read_text() == "mine"
    channels.extract(archive, dest, PW, sums, force=True)
    assert (dest / "module.tgz").read_bytes() == payload["module.tgz"]


def test_symlinked_folder_in_destination_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    archive = write_archive(tmp_path / "x.zip", {"sub/file.txt": b"x"})
    with ArchiveReader(archive, PW) as r, pytest.raises(UnsafeArchive, match="outside"):
        extraction.extract_all(r, dest)
    assert listing(outside) == []


def test_interrupted_extraction_leaves_no_final_name(tmp_path):
    archive = tmp_path / "big.zip"
    with ArchiveWriter(archive, PW, level=0, progress=False) as w:
        w.add_bytes("first.bin", b"small")
        w.add_stream("big.bin", (os.urandom(1 << 20) for _ in range(160)))
    dest = tmp_path / "dest"
    code = (
        "import sys; from pathlib import Path; from airgapkit.crossing import extraction\n"
        "from airgapkit.crossing.archive import ArchiveReader\n"
        "with ArchiveReader(Path(sys.argv[1]), sys.argv[3]) as r:\n"
        "    extraction.extract_all(r, Path(sys.argv[2]))\n"
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


# --- plan, then commit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, safe",
    [
        ("a.txt", "a.txt"),
        ("./a/./b.txt", "a/b.txt"),
        ("a\\b.txt", "a/b.txt"),
        ("a//b/", "a/b/"),
    ],
)
def test_safe_member_names_are_normalised(name, safe):
    assert extraction.safe_member_name(name) == safe


@pytest.mark.parametrize("name", ["", "a\0b", ".", "./", "//server/share/x"])
def test_names_that_name_nothing_or_a_share_are_refused(name):
    with pytest.raises(UnsafeArchive):
        extraction.safe_member_name(name)


def test_plan_writes_nothing_and_commit_writes_everything(tmp_path, payload):
    archive = write_archive(
        tmp_path / "x.zip", {"sub/deep/a.bin": payload["node20a.tar"], "b": b"b"}
    )
    dest = tmp_path / "dest"
    with ArchiveReader(archive, PW) as r:
        plan = extraction.plan(r, None, dest)
        assert not dest.exists()  # nothing made yet, not even the folder
        assert [f.final for f in plan.files] == [dest / "sub" / "deep" / "a.bin", dest / "b"]
        assert extraction.commit(r, plan) == [dest / "sub" / "deep" / "a.bin", dest / "b"]
    assert (dest / "sub" / "deep" / "a.bin").read_bytes() == payload["node20a.tar"]
    assert stat.S_IMODE((dest / "b").stat().st_mode) == 0o644


def test_a_file_that_appears_during_extraction_is_kept_and_nothing_else_lands(tmp_path):
    archive = write_archive(tmp_path / "x.zip", {"a": b"from the archive", "b": b"b"})
    dest = tmp_path / "dest"
    with ArchiveReader(archive, PW) as r:
        plan = extraction.plan(r, None, dest)
        assert not dest.exists()  # made only when the plan is carried out
        dest.mkdir()
        (dest / "a").write_text("someone else's")
        with pytest.raises(AirgapError, match="already exists"):
            extraction.commit(r, plan)
    assert listing(dest) == ["a"] and (dest / "a").read_text() == "someone else's"


def test_named_members_only_but_the_whole_archive_checked(tmp_path):
    archive = crafted(
        tmp_path / "x.zip", [(AESZipInfo("wanted.txt"), b"ok"), (AESZipInfo("../evil"), b"x")]
    )
    with ArchiveReader(archive, PW) as r:
        with pytest.raises(UnsafeArchive, match="climbs out"):
            extraction.extract_members(r, ["wanted.txt"], tmp_path / "dest")
    good = write_archive(tmp_path / "good.zip", {"a": b"a", "b": b"b"})
    with ArchiveReader(good, PW) as r:
        assert extraction.extract_members(r, ["b"], tmp_path / "dest") == [tmp_path / "dest" / "b"]
        with pytest.raises(AirgapError, match="has no member 'c'; it holds a, b"):
            extraction.extract_members(r, ["c"], tmp_path / "dest")
    assert listing(tmp_path / "dest") == ["b"]


def test_a_file_member_and_a_folder_of_the_same_name_are_refused(tmp_path):
    archive = crafted(
        tmp_path / "x.zip", [(AESZipInfo("app"), b"file"), (AESZipInfo("app/x"), b"x")]
    )
    with ArchiveReader(archive, PW) as r, pytest.raises(UnsafeArchive, match="under a file member"):
        extraction.extract_all(r, tmp_path / "dest")
    assert listing(tmp_path / "dest") == []


def test_an_unlisted_member_is_refused_when_hashes_are_given(tmp_path, payload):
    archive = write_archive(tmp_path / "x.zip", payload)
    listed = {"node20a.tar": "0" * 64}
    with (
        ArchiveReader(archive, PW) as r,
        pytest.raises(IntegrityError, match="module.tgz .* not listed"),
    ):
        extraction.extract_all(r, tmp_path / "dest", expected=listed)
    assert listing(tmp_path / "dest") == []
