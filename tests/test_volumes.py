"""volumes: an archive written as NAME.zip.001, .002, ... that 7-Zip opens as one, read back as one
file with no joined copy, and every volume checked by name before anything is decrypted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from archives import PW, SEVENZIP, listing

from airgapkit.crossing import channels, sumsfile, sumsverify, volumes
from airgapkit.errors import AirgapError, IntegrityError

SPLIT = 300_000


@pytest.fixture
def split_archive(tmp_path):
    """Three inputs (about 1 MB) archived as volumes of at most 300 kB, hashes apart."""
    src = tmp_path / "in"
    src.mkdir()
    payload = {"image.tar": os.urandom(700_000), "app.tgz": os.urandom(200_000), "small": b"s"}
    for name, data in payload.items():
        (src / name).write_bytes(data)
    crossing = channels.create(
        sorted(src.iterdir()),
        tmp_path / "media" / "x.zip",
        sums=tmp_path / "hashes" / "SHA256SUMS",
        password=PW,
        level=0,
        split=SPLIT,
        progress=False,
    )
    return crossing, payload


@pytest.mark.parametrize(
    "text, size",
    [("4g", 4_000_000_000), ("4.7G", 4_700_000_000), ("700m", 700_000_000), ("300MB", 3 * 10**8)],
)
def test_sizes_read_in_powers_of_1000(text, size):
    assert volumes.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "big", "4x", "-1m", "100", "10k"])
def test_nonsense_or_sizes_below_the_headers_are_one_line(text):
    with pytest.raises(AirgapError, match="split size") as exc:
        volumes.parse_size(text)
    assert "\n" not in str(exc.value)


def test_volumes_are_a_byte_split_each_within_the_size(split_archive):
    crossing, _ = split_archive
    media = crossing.archive.parent
    assert listing(media) == ["x.zip.001", "x.zip.002", "x.zip.003", "x.zip.004"]
    sizes = [(media / n).stat().st_size for n in listing(media)]
    assert all(s <= SPLIT for s in sizes) and sizes[:-1] == [SPLIT] * 3
    joined = b"".join((media / n).read_bytes() for n in listing(media))
    entries = sumsfile.read_sums(crossing.sums)
    assert (
        entries["x.zip"]
        == crossing.archive_sha256
        == sumsfile.digest.hashlib.sha256(joined).hexdigest()
    )
    for name in listing(media):
        assert entries[name] == sumsfile.digest.sha256_file(media / name)


def test_seven_zip_opens_the_first_volume_as_the_archive(split_archive, tmp_path):
    crossing, payload = split_archive
    out = tmp_path / "by7z"
    seven = subprocess.run(
        [SEVENZIP, "x", f"-p{PW}", f"-o{out}", str(crossing.archive.parent / "x.zip.001")],
        capture_output=True,
        text=True,
    )
    assert seven.returncode == 0, seven.stdout + seven.stderr
    for name, data in payload.items():
        assert (out / name).read_bytes() == data


@pytest.mark.parametrize("given", ["x.zip.001", "x.zip"])
def test_extract_reads_the_volumes_as_one_from_the_first_or_the_bare_name(
    split_archive, tmp_path, given
):
    crossing, payload = split_archive
    dest = tmp_path / "dest"
    channels.extract(crossing.archive.parent / given, dest, PW, crossing.sums)
    for name, data in payload.items():
        assert (dest / name).read_bytes() == data
    assert listing(crossing.archive.parent) == ["x.zip.001", "x.zip.002", "x.zip.003", "x.zip.004"]


def _refused(crossing, tmp_path, match):
    dest = tmp_path / "dest"
    with pytest.raises(AirgapError, match=match) as exc:
        channels.extract(crossing.archive.parent / "x.zip.001", dest, PW, crossing.sums)
    assert "\n" not in str(exc.value) and not dest.exists()


def test_a_missing_volume_is_named(split_archive, tmp_path):
    crossing, _ = split_archive
    (crossing.archive.parent / "x.zip.003").unlink()
    _refused(crossing, tmp_path, "x.zip.003 of x.zip is missing")
    (crossing.archive.parent / "x.zip.004").unlink()  # the last one: no gap to see, the hashes say
    _refused(crossing, tmp_path, "x.zip.003 of x.zip is missing")


def test_the_last_volume_missing_is_named_from_the_hash_file(split_archive, tmp_path):
    crossing, _ = split_archive
    (crossing.archive.parent / "x.zip.004").unlink()
    _refused(crossing, tmp_path, "volume x.zip.004 of x.zip is missing")


def test_an_extra_volume_is_named(split_archive, tmp_path):
    crossing, _ = split_archive
    (crossing.archive.parent / "x.zip.005").write_bytes(b"from somewhere else")
    _refused(crossing, tmp_path, "volume x.zip.005 is not listed")


def test_reordered_truncated_or_foreign_volumes_are_named(split_archive, tmp_path):
    crossing, _ = split_archive
    media = crossing.archive.parent
    two, three = (media / "x.zip.002").read_bytes(), (media / "x.zip.003").read_bytes()
    (media / "x.zip.002").write_bytes(three)
    (media / "x.zip.003").write_bytes(two)
    _refused(crossing, tmp_path, "x.zip.002: SHA-256 .* differs")
    (media / "x.zip.002").write_bytes(two[:-10])
    _refused(crossing, tmp_path, "x.zip.002: SHA-256 .* differs")
    (media / "x.zip.002").write_bytes(os.urandom(len(two)))
    _refused(crossing, tmp_path, "x.zip.002: SHA-256 .* differs")


def test_a_later_volume_is_not_an_archive(split_archive, tmp_path):
    crossing, _ = split_archive
    with pytest.raises(AirgapError, match="not the first volume; give x.zip.001"):
        channels.extract(crossing.archive.parent / "x.zip.002", tmp_path / "d", PW, crossing.sums)


def test_both_forms_side_by_side_are_refused(split_archive, tmp_path):
    crossing, _ = split_archive
    (crossing.archive.parent / "x.zip").write_bytes(b"an older single archive")
    _refused(crossing, tmp_path, "both .*x.zip and its volumes")


def test_rewriting_unsplit_removes_the_old_volumes_and_force_is_needed(split_archive, tmp_path):
    crossing, payload = split_archive
    src = tmp_path / "in"
    with pytest.raises(AirgapError, match="x.zip.001 already exists; .*--force"):
        channels.create(sorted(src.iterdir()), crossing.archive, sums=crossing.sums, password=PW)
    channels.create(
        sorted(src.iterdir()), crossing.archive, sums=crossing.sums, password=PW, force=True
    )
    assert listing(crossing.archive.parent) == ["x.zip"]
    channels.extract(crossing.archive, tmp_path / "dest", PW, crossing.sums)
    assert (tmp_path / "dest" / "image.tar").read_bytes() == payload["image.tar"]


def test_copied_elsewhere_they_still_open(split_archive, tmp_path):
    """The far side: volumes in an inbox, the hash file from the second channel."""
    crossing, payload = split_archive
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for volume in crossing.archive.parent.iterdir():
        shutil.copy(volume, inbox / volume.name)
    channels.extract(inbox / "x.zip", tmp_path / "dest", PW, crossing.sums)
    assert (tmp_path / "dest" / "app.tgz").read_bytes() == payload["app.tgz"]


def test_reading_across_a_volume_boundary(split_archive):
    crossing, _ = split_archive
    media = crossing.archive.parent
    joined = b"".join((media / n).read_bytes() for n in sorted(os.listdir(media)))
    with volumes.open_archive(Path(media / "x.zip")) as f:
        assert f.size == len(joined)
        f.seek(SPLIT - 5)
        assert f.read(10) == joined[SPLIT - 5 : SPLIT + 5]
        f.seek(-7, os.SEEK_END)
        assert f.read() == joined[-7:]
        f.seek(0)
        assert f.read(len(joined) + 100) == joined


def test_a_volume_changed_after_it_was_hashed_is_refused(split_archive, tmp_path, monkeypatch):
    """A file rewritten in place between the hash and the read. Provoked by running the change right
    after the real hash check (a race made deterministic)."""
    crossing, _ = split_archive
    real = sumsverify.verify_archive

    def verify_then_change(source, sums):
        whole = real(source, sums)
        target = crossing.archive.parent / "x.zip.004"
        data = target.read_bytes()
        with open(target, "r+b") as f:  # same file, same size, other bytes
            f.write(bytes([data[0] ^ 1]))
        return whole

    monkeypatch.setattr(sumsverify, "verify_archive", verify_then_change)
    with pytest.raises((AirgapError, IntegrityError)):
        channels.extract(
            crossing.archive.parent / "x.zip.001", tmp_path / "dest", PW, crossing.sums
        )
    assert not (tmp_path / "dest").exists()
