"""sumsfile: SHA256SUMS against the real sha256sum, PowerShell-shaped samples, and check reports."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from airgapkit.crossing import digest, sumsfile, sumsverify
from airgapkit.errors import AirgapError, IntegrityError


@pytest.fixture
def files(tmp_path):
    (tmp_path / "node20a.tar").write_bytes(b"tar bytes " * 100_000)
    (tmp_path / "module.tgz").write_bytes(bytes(range(256)) * 999)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes with space.txt").write_text("hello\n")
    return tmp_path


def real_sha256sum(*args, cwd):
    return subprocess.run(["sha256sum", *args], cwd=cwd, capture_output=True, text=True)


def test_our_sums_pass_real_sha256sum_check(files):
    sums = files / "SHA256SUMS"
    sumsfile.record(
        [files / "node20a.tar", files / "module.tgz", files / "sub" / "notes with space.txt"], sums
    )
    result = real_sha256sum("-c", "--strict", "SHA256SUMS", cwd=files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sub/notes with space.txt: OK" in result.stdout
    (files / "module.tgz").write_bytes(b"tampered")
    result = real_sha256sum("-c", "SHA256SUMS", cwd=files)
    assert result.returncode == 1 and "module.tgz: FAILED" in result.stdout


def test_sha256sum_output_passes_our_check(files):
    out = real_sha256sum("node20a.tar", "-b", "module.tgz", cwd=files).stdout  # -b: '*name' marker
    (files / "SHA256SUMS").write_text(out)
    assert "*module.tgz" in out
    report = sumsverify.check_sums(files / "SHA256SUMS")
    assert report.passed and sorted(report.ok) == ["module.tgz", "node20a.tar"]
    sumsverify.verify_file(files / "module.tgz", files / "SHA256SUMS")


def test_gnu_escaped_names_round_trip(tmp_path):
    odd = tmp_path / "back\\slash.bin"
    odd.write_bytes(b"x")
    sumsfile.record([odd], tmp_path / "SHA256SUMS")
    assert (tmp_path / "SHA256SUMS").read_text().startswith("\\")
    assert real_sha256sum("-c", "SHA256SUMS", cwd=tmp_path).returncode == 0
    assert sumsfile.read_sums(tmp_path / "SHA256SUMS") == {
        "back\\slash.bin": digest.sha256_file(odd)
    }
    report = sumsverify.check_sums(tmp_path / "SHA256SUMS")  # read back as written: not MISSING
    assert report.passed and report.ok == ["back\\slash.bin"]
    sumsverify.verify_file(odd, tmp_path / "SHA256SUMS")


def test_check_names_every_missing_different_and_extra_file_with_both_hashes(files):
    sums = files / "SHA256SUMS"
    sumsfile.record([files / "node20a.tar", files / "module.tgz"], sums)
    good = sumsfile.read_sums(sums)
    (files / "node20a.tar").unlink()
    (files / "module.tgz").write_bytes(b"changed")
    (files / "stray.bin").write_bytes(b"?")
    report = sumsverify.check_sums(sums, extra=True)
    assert report.missing == [("node20a.tar", good["node20a.tar"])]
    assert report.different == [
        ("module.tgz", good["module.tgz"], hashlib.sha256(b"changed").hexdigest())
    ]
    assert report.extra == ["stray.bin"]
    with pytest.raises(IntegrityError) as exc:
        report.raise_for_problems()
    message = str(exc.value)
    assert "\n" not in message
    for piece in (
        "node20a.tar is missing",
        "module.tgz differs",
        good["module.tgz"],
        hashlib.sha256(b"changed").hexdigest(),
        "stray.bin is not listed",
    ):
        assert piece in message


def test_verify_file_names_file_expected_and_actual(files):
    sums = files / "SHA256SUMS"
    sumsfile.record([files / "module.tgz"], sums)
    expected = sumsfile.read_sums(sums)["module.tgz"]
    (files / "module.tgz").write_bytes(b"other")
    with pytest.raises(IntegrityError) as exc:
        sumsverify.verify_file(files / "module.tgz", sums)
    assert "module.tgz" in str(exc.value) and expected in str(exc.value)
    assert hashlib.sha256(b"other").hexdigest() in str(exc.value)
    with pytest.raises(IntegrityError, match="node20a.tar is not listed"):
        sumsverify.verify_file(files / "node20a.tar", sums)


def test_write_sums_is_atomic_and_relative(tmp_path):
    dest = tmp_path / "SHA256SUMS"
    dest.write_text("old\n")
    with pytest.raises(AirgapError):
        sumsfile.write_sums({"/etc/passwd": "0" * 64}, dest)
    assert dest.read_text() == "old\n"
    sumsfile.write_sums({"a": "A" * 64}, dest)
    assert dest.read_text() == "a" * 64 + "  a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["SHA256SUMS"]


def test_find_sums(tmp_path):
    (tmp_path / "x.tar").write_bytes(b"")
    assert sumsfile.find_sums(tmp_path / "x.tar") is None
    (tmp_path / "SHA256SUMS").write_text("")
    assert sumsfile.find_sums(tmp_path / "x.tar") == tmp_path / "SHA256SUMS"


# Get-FileHash output as PowerShell writes it: CRLF, upper-case hex, full Windows paths.
def _get_filehash_table(rows):
    lines = [
        "",
        "Algorithm       Hash                                                      "
        "             Path",
        "---------       ----                                     "
        "                              ----",
    ]
    lines += [f"SHA256          {h.upper()}       {p}" for p, h in rows]
    return "\r\n".join(lines + ["", ""])


def test_get_filehash_table_utf16_crlf(files):
    tar_hash = digest.sha256_file(files / "node20a.tar")
    tgz_hash = digest.sha256_file(files / "module.tgz")
    text = _get_filehash_table(
        [
            (r"C:\Users\ops\transfer\node20a.tar", tar_hash),
            (r"C:\Users\ops\transfer\module.tgz", tgz_hash),
        ]
    )
    # Windows PowerShell's `> output.txt` writes UTF-16 LE with a BOM
    (files / "output.txt").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    entries = sumsfile.read_sums(files / "output.txt")
    assert entries["C:/Users/ops/transfer/node20a.tar"] == tar_hash
    report = sumsverify.check_sums(files / "output.txt")
    assert report.passed and len(report.ok) == 2
    sumsverify.verify_file(files / "node20a.tar", files / "output.txt")


def test_get_filehash_table_with_cut_path(files):
    tar_hash = digest.sha256_file(files / "node20a.tar")
    text = _get_filehash_table([(r"C:\Users\ops\Documents\transfer\node2...", tar_hash)])
    (files / "output.txt").write_text(text, newline="")
    sumsverify.verify_file(files / "node20a.tar", files / "output.txt")


def test_get_filehash_list_style_with_wrapped_path(files):
    tar_hash = digest.sha256_file(files / "node20a.tar")
    text = (
        "\r\n\r\nAlgorithm : SHA256\r\n"
        f"Hash      : {tar_hash.upper()}\r\n"
        "Path      : C:\\Users\\ops\\a\\very\\long\\folder\\name\\that\\wraps\\over\\the\\\r\n"
        "            line\\node20a.tar\r\n\r\n"
    )
    (files / "list.txt").write_text(text, newline="")
    assert sumsfile.read_sums(files / "list.txt") == {
        "C:/Users/ops/a/very/long/folder/name/that/wraps/over/the/line/node20a.tar": tar_hash
    }
    sumsverify.verify_file(files / "node20a.tar", files / "list.txt")


def test_get_filehash_export_csv(files):
    tar_hash = digest.sha256_file(files / "node20a.tar")
    tgz_hash = digest.sha256_file(files / "module.tgz")
    text = (
        "#TYPE Microsoft.Powershell.Utility.FileHash\r\n"
        '"Algorithm","Hash","Path"\r\n'
        f'"SHA256","{tar_hash.upper()}","C:\\transfer\\node20a.tar"\r\n'
        f'"SHA256","{"0" * 64}","C:\\transfer\\module.tgz"\r\n'
    )
    (files / "hashes.csv").write_text(text, newline="")
    report = sumsverify.check_sums(files / "hashes.csv")
    assert report.ok == ["C:/transfer/node20a.tar"]
    assert report.different == [("C:/transfer/module.tgz", "0" * 64, tgz_hash)]


def test_windows_relative_paths_normalised(files):
    tgz_hash = digest.sha256_file(files / "module.tgz")
    (files / "SUMS").write_text(f"{tgz_hash.upper()}  .\\module.tgz\r\n", newline="")
    assert sumsfile.read_sums(files / "SUMS") == {"module.tgz": tgz_hash}
    assert sumsverify.check_sums(files / "SUMS").passed


def test_ambiguous_and_garbage_hash_files_are_refused(files):
    (files / "amb").write_text(f"{'1' * 64}  a/module.tgz\n{'2' * 64}  b/module.tgz\n")
    with pytest.raises(IntegrityError, match="more than once"):
        sumsverify.verify_file(files / "module.tgz", files / "amb")
    (files / "junk").write_text("this is not a hash file\n")
    with pytest.raises(IntegrityError, match="not a SHA-256 line"):
        sumsfile.read_sums(files / "junk")
    with pytest.raises(AirgapError, match="no such file"):
        sumsfile.read_sums(files / "absent")


def test_hash_task_writes_sums_and_check_lists_mismatch(files, capsys):
    from invoke import Context, Exit

    from airgapkit.tasks import hash_, ns

    c = Context(config=ns.configuration())
    hash_(c, files=f"{files / 'node20a.tar'},{files / 'module.tgz'}")
    out = capsys.readouterr().out
    assert "Algorithm" in out and digest.sha256_file(files / "module.tgz").upper() in out
    assert real_sha256sum("-c", "SHA256SUMS", cwd=files).returncode == 0
    hash_(c, check=str(files / "SHA256SUMS"))
    (files / "module.tgz").write_bytes(b"x")
    with pytest.raises(Exit) as exc:
        hash_(c, check=str(files / "SHA256SUMS"))
    assert "module.tgz differs" in str(exc.value.message)
    assert "DIFFERENT" in capsys.readouterr().out


def test_find_sums_prefers_the_files_own_hash(tmp_path):
    """A bundle's hash travels as <archive>.sha256; it wins over a SHA256SUMS in the same folder."""
    (tmp_path / "SHA256SUMS").write_text("")
    (tmp_path / "x.zip.sha256").write_text("")
    assert sumsfile.find_sums(tmp_path / "x.zip") == tmp_path / "x.zip.sha256"


@pytest.mark.parametrize("name", ["C:x.tar", "c:/x.tar", "a/../b.tar", "//server/x.tar"])
def test_names_that_leave_the_folder_are_not_written(tmp_path, name):
    with pytest.raises(AirgapError, match="must be relative"):
        sumsfile.write_sums({name: "0" * 64}, tmp_path / "SHA256SUMS")
    assert not (tmp_path / "SHA256SUMS").exists()


def test_add_entries_keeps_what_is_there_and_replaces_what_is_given(tmp_path):
    sums = tmp_path / "SHA256SUMS"
    sumsfile.add_entries(sums, {"a": "1" * 64, "b": "2" * 64})
    sumsfile.add_entries(sums, {"b": "3" * 64, "c": "4" * 64})
    assert sumsfile.read_sums(sums) == {"a": "1" * 64, "b": "3" * 64, "c": "4" * 64}
    assert os.listdir(tmp_path) == ["SHA256SUMS"]
