"""channels: create writes the archive and its SHA256SUMS to places apart; extract checks the archive
against the separately delivered hashes before decrypting anything."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess

import archives
import pytest
from archives import PW, SEVENZIP, listing, sample_payload, write_archive

from airgapkit.crossing import channels, digest, passwords, sumsfile
from airgapkit.crossing.archive import ArchiveReader
from airgapkit.errors import AirgapError, IntegrityError, PasswordError

WEAK = "summer2024"


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


# --- what goes where, and where the password comes from ----------------------------------------------


@pytest.fixture
def inputs(tmp_path, payload):
    src = tmp_path / "in"
    src.mkdir()
    for name, data in payload.items():
        (src / name).write_bytes(data)
    return sorted(src.iterdir())


def test_create_lists_archive_and_members_and_keeps_other_entries(tmp_path, inputs, payload):
    sums = tmp_path / "hashes" / "SHA256SUMS"
    sums.parent.mkdir()
    sumsfile.write_sums({"earlier.tar": "e" * 64}, sums)
    crossing = channels.create(
        inputs, tmp_path / "media" / "x.zip", sums=sums, password=PW, progress=False
    )
    entries = sumsfile.read_sums(sums)
    assert entries == {
        "earlier.tar": "e" * 64,
        "x.zip": crossing.archive_sha256,
        **{name: hashlib.sha256(data).hexdigest() for name, data in payload.items()},
    }
    assert crossing.password_file is None
    assert crossing.members["module.tgz"] == (entries["module.tgz"], len(payload["module.tgz"]))


def test_an_archive_written_again_replaces_every_line_it_had(tmp_path):
    """Split smaller, then larger: the first run's .004 and .005 are gone, and so are their lines
    (the far side would refuse the new archive as missing them); other entries stay."""
    src = tmp_path / "in" / "image.tar"
    src.parent.mkdir()
    src.write_bytes(os.urandom(300_000))
    sums, dest = tmp_path / "hashes" / "SHA256SUMS", tmp_path / "media" / "x.zip"
    sums.parent.mkdir()
    sumsfile.write_sums({"earlier.tar": "e" * 64, "x.zip.notes": "f" * 64}, sums)
    for split, force in ((64_000, False), (128_000, True)):
        made = channels.create(
            [src], dest, sums=sums, password=PW, level=0, progress=False, split=split, force=force
        )
    volumes = sorted(p.name for p in dest.parent.iterdir())
    assert volumes == ["x.zip.001", "x.zip.002", "x.zip.003"]
    assert set(sumsfile.read_sums(sums)) == {
        "earlier.tar", "x.zip.notes", "x.zip", "image.tar", *volumes
    }  # fmt: skip
    out = channels.extract(dest.with_name("x.zip.001"), tmp_path / "out", PW, sums)
    assert [p.read_bytes() for p in out] == [src.read_bytes()]
    assert made.archive_sha256 == sumsfile.read_sums(sums)["x.zip"]


def test_a_generated_password_goes_to_a_third_place_with_mode_0600(tmp_path, inputs):
    pw_file = tmp_path / "secret" / "x.zip.password"
    crossing = channels.create(
        inputs,
        tmp_path / "media" / "x.zip",
        sums=tmp_path / "hashes" / "SHA256SUMS",
        generate_password=pw_file,
        progress=False,
    )
    assert crossing.password_file == pw_file
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    password = pw_file.read_text().strip()
    assert len(password) >= 32 and passwords.seconds_to_find(password) > 1e15
    with ArchiveReader(crossing.archive, password) as r:
        assert r.names() == ["module.tgz", "node20a.tar"]


@pytest.mark.parametrize(
    "where, message",
    [
        ({"dest": "media/x.tar"}, "must end in .zip"),
        ({"sums": "media/SHA256SUMS"}, "same or nested"),
        ({"sums": "media/inner/SHA256SUMS"}, "same or nested"),
        ({"generate_password": "hashes/x.password"}, "same or nested"),
        ({"password_file": "media/pw"}, "travels separately"),
        ({"password_file": "hashes/pw"}, "apart from the hashes"),
    ],
)
def test_things_that_travel_apart_must_be_written_apart(tmp_path, inputs, where, message):
    args = {"dest": "media/x.zip", "sums": "hashes/SHA256SUMS", **where}
    paths = {k: tmp_path / v for k, v in args.items()}
    dest, sums = paths.pop("dest"), paths.pop("sums")
    with pytest.raises(AirgapError, match=message):
        channels.create(inputs, dest, sums=sums, password=PW, progress=False, **paths)
    assert not dest.exists() and not sums.exists()


def test_the_hashes_file_itself_is_not_archived(tmp_path):
    sums = tmp_path / "hashes" / "SHA256SUMS"
    sums.parent.mkdir()
    sums.write_text("")
    with pytest.raises(AirgapError, match="is the hashes file itself"):
        channels.create([sums], tmp_path / "media" / "x.zip", sums=sums, password=PW)
    with pytest.raises(AirgapError, match="no files to archive"):
        channels.create([], tmp_path / "media" / "x.zip", sums=sums, password=PW)


def test_the_password_comes_from_one_source(tmp_path, monkeypatch):
    monkeypatch.delenv(passwords.ENV_VAR, raising=False)
    new = tmp_path / "new.password"
    given = tmp_path / "given.password"
    given.write_text(PW + "\n")
    generated = channels.choose_password(
        password=None, password_file=None, generate_password=new, allow_weak=False
    )
    assert len(generated) >= 32 and not new.exists()  # written later, beside the archive's making
    with pytest.raises(PasswordError, match="do not also give --password-file"):
        channels.choose_password(
            password=None, password_file=given, generate_password=new, allow_weak=False
        )
    monkeypatch.setenv(passwords.ENV_VAR, PW)
    with pytest.raises(PasswordError, match=passwords.ENV_VAR):
        channels.choose_password(
            password=None, password_file=None, generate_password=new, allow_weak=False
        )
    monkeypatch.delenv(passwords.ENV_VAR)
    given.rename(new)
    with pytest.raises(PasswordError, match="already exists"):
        channels.choose_password(
            password=None, password_file=None, generate_password=new, allow_weak=False
        )
    with pytest.raises(PasswordError, match="weak"):
        channels.choose_password(
            password=WEAK, password_file=None, generate_password=None, allow_weak=False
        )
    assert (
        channels.choose_password(
            password=WEAK, password_file=None, generate_password=None, allow_weak=True
        )
        == WEAK
    )
    assert (
        channels.choose_password(
            password=None, password_file=new, generate_password=None, allow_weak=False
        )
        == PW
    )


def test_print_crossing_names_the_three_channels(tmp_path, inputs, capsys):
    crossing = channels.create(
        inputs,
        tmp_path / "media" / "x.zip",
        sums=tmp_path / "hashes" / "SHA256SUMS",
        generate_password=tmp_path / "secret" / "x.zip.password",
        progress=False,
    )
    channels.print_crossing(crossing)
    out = capsys.readouterr().out
    for piece in ("on the transfer media", "by a second channel", "by a third channel", "0600"):
        assert piece in out
    assert f"SHA256 {crossing.archive_sha256.upper()}  x.zip" in out
    assert crossing.password_file.read_text().strip() not in out


def test_check_separate_names_both_folders(tmp_path):
    channels.check_separate(a_folder=tmp_path / "a", b_folder=tmp_path / "b", c_folder=None)
    with pytest.raises(AirgapError) as exc:
        channels.check_separate(archive_folder=tmp_path / "a", hashes_folder=tmp_path / "a" / "b")
    message = str(exc.value)
    assert message.startswith(f"the archive folder ({tmp_path / 'a'}) and the hashes folder")
    assert "\n" not in message
