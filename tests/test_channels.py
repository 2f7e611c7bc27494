"""channels: create writes the archive and its SHA256SUMS to places apart; extract checks the archive
against the separately delivered hashes before decrypting anything."""

from __future__ import annotations

import hashlib
import subprocess

import archives
import pytest
from archives import PW, SEVENZIP, listing, sample_payload, write_archive

from airgapkit.crossing import channels, digest, sumsfile
from airgapkit.crossing.archive import ArchiveReader
from airgapkit.errors import IntegrityError, PasswordError


@pytest.fixture
def payload():
    return sample_payload()


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
    out = channels.extract(archive, tmp_path / "dest", PW, hashes / "SHA256SUMS")
    assert sorted(p.name for p in out) == sorted(payload)
    for name, data in payload.items():
        assert (tmp_path / "dest" / name).read_bytes() == data


def test_create_takes_the_hash_written_not_a_second_read(tmp_path, payload, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in payload.items():
        (src / name).write_bytes(data)

    def no_second_read(*_a, **_k):
        raise AssertionError("the archive was read again to hash it")

    monkeypatch.setattr(digest, "sha256_file", no_second_read)
    crossing = channels.create(
        sorted(src.iterdir()),
        tmp_path / "media" / "x.zip",
        sums=tmp_path / "hashes" / "SHA256SUMS",
        password=PW,
        progress=False,
    )
    assert crossing.archive_sha256 == hashlib.sha256(crossing.archive.read_bytes()).hexdigest()
    monkeypatch.undo()
    channels.extract(crossing.archive, tmp_path / "dest", PW, crossing.sums)  # the sums check out


def test_extract_checks_members_against_listed_hashes(tmp_path, payload):
    archive = write_archive(tmp_path / "media" / "x.zip", payload)
    sums = tmp_path / "hashes" / "SHA256SUMS"
    sums.parent.mkdir()
    entries = {
        archive.name: digest.sha256_file(archive),
        "node20a.tar": hashlib.sha256(payload["node20a.tar"]).hexdigest(),
        "module.tgz": "0" * 64,
    }  # the listed hash of one member is not what is inside
    sumsfile.write_sums(entries, sums)
    with pytest.raises(IntegrityError, match="module.tgz has SHA-256"):
        channels.extract(archive, tmp_path / "dest", PW, sums)
    assert listing(tmp_path / "dest") == []  # all or nothing: node20a.tar was checked, not kept


# --- refusals before decrypting; each leaves the destination as it was ---------------------------


@pytest.fixture
def delivered(tmp_path, payload):
    """An archive on the media, its SHA256SUMS apart, and a destination holding one file already."""
    return archives.delivered(tmp_path, payload)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_flipped_byte_refused_before_decrypting(delivered, where):
    archive, sums, dest = delivered
    data = bytearray(archive.read_bytes())
    at = {"start": 0, "middle": len(data) // 2, "end": len(data) - 1}[where]
    data[at] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="x.zip: SHA-256 .* differs") as exc:
        channels.extract(archive, dest, PW, sums)
    assert "\n" not in str(exc.value)
    assert listing(dest) == ["keep.txt"]


def test_truncated_archive_refused(delivered):
    archive, sums, dest = delivered
    archive.write_bytes(archive.read_bytes()[:-5000])
    with pytest.raises(IntegrityError, match="differs"):
        channels.extract(archive, dest, PW, sums)
    with pytest.raises(IntegrityError, match="not a readable zip"):
        ArchiveReader(archive, PW)
    assert listing(dest) == ["keep.txt"]


def test_wrong_password_is_one_clear_line(delivered):
    archive, sums, dest = delivered
    with pytest.raises(PasswordError) as exc:
        channels.extract(archive, dest, "Not-The-Password-42!", sums)
    message = str(exc.value)
    assert message.startswith("wrong password for") and "\n" not in message
    assert PW not in message and "Not-The-Password-42!" not in message
    assert listing(dest) == ["keep.txt"]
