"""airgapkit.platform: both systems' modules offer the same names; the parts of the Windows module
that need no Windows run here for real (reads and writes at an offset by seeking, quoting)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from airgapkit import platform
from airgapkit.platform import posix, shells, windows
from conftest import REPO_ROOT, UNDER_CI


def test_both_systems_offer_the_same_names():
    assert posix.__all__ == windows.__all__
    for name in posix.__all__:
        assert hasattr(posix, name) and hasattr(windows, name), name
    assert set(platform.__all__) == {"lock", "try_lock", "unlock", *posix.__all__}
    assert platform.SYSTEM == ("windows" if os.name == "nt" else "posix")


@pytest.mark.parametrize("system", [posix, windows], ids=["posix", "windows"])
def test_reads_and_writes_at_an_offset_leave_the_position_alone(system, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDWR | system.BINARY)
    try:
        os.lseek(fd, 3, os.SEEK_SET)
        assert system.pread(fd, 4, 5) == b"5678"
        assert system.pwrite(fd, b"ab", 8) == 2
        assert os.lseek(fd, 0, os.SEEK_CUR) == 3
        assert system.pread(fd, 100, 0) == b"01234567ab"
    finally:
        os.close(fd)


def test_locks_exclude_another_descriptor_and_keep_the_contents(tmp_path):
    path = tmp_path / "lock"
    path.write_bytes(b"note")
    first, second = (os.open(path, os.O_RDWR) for _ in range(2))
    try:
        assert platform.try_lock(first)
        assert not platform.try_lock(second)
        platform.unlock(first)
        assert platform.try_lock(second)
    finally:
        os.close(first), os.close(second)
    assert path.read_bytes() == b"note"


WORDS = [
    "plain-name_1.0.zip",
    "with space",
    "it's",
    "$HOME",
    "a,b",
    "@x",
    "-x",
    "back\\slash",
    "`t",
]


def test_sh_quoting_gives_each_word_back_whole():
    line = shells.sh_join(["printf", "%s\\n", *WORDS])
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == WORDS
    assert shells.sh_join(["inv", "deploy", "tms-api-1.0.0-release.zip"]) == (
        "inv deploy tms-api-1.0.0-release.zip"
    )


def test_powershell_quoting():
    """No PowerShell here: the rule is checked against PowerShell's documented quoting (single
    quotes expand nothing; a quote inside, straight or curly, is written twice)."""
    q = shells.powershell_quote
    assert q("tms-api-1.0.0-release.zip") == "tms-api-1.0.0-release.zip"
    assert q("C:\\Users\\me\\dist\\a.zip") == "C:\\Users\\me\\dist\\a.zip"
    assert q("--sums") == "--sums"
    assert q("with space") == "'with space'"
    assert q("$HOME") == "'$HOME'"
    assert q("a,b") == "'a,b'"  # a comma makes an array
    assert q("@x") == "'@x'"  # a splat
    assert q("it's") == "'it''s'"
    assert q("it\u2019s") == "'it\u2019\u2019s'"
    assert q("`t") == "'`t'"


def test_the_private_wording_says_what_each_system_does():
    assert posix.PRIVATE == "mode 0600"
    assert "ACL" in windows.PRIVATE and "0600" not in windows.PRIVATE
    assert posix.private_command("my key.key") == "chmod 600 'my key.key'"
    assert windows.private_command("my key.key").startswith("icacls 'my key.key' /inheritance:r")


def test_for_either_gives_one_line_when_both_shells_read_it_alike():
    argv = ["inv", "deploy", "a-1.0.0-release.zip", "--sums", "x.sha256"]
    assert shells.for_either(argv) == [("", "inv deploy a-1.0.0-release.zip --sums x.sha256")]
    assert shells.for_either(["inv", "deploy", "it's.zip"]) == [
        ("sh", "inv deploy 'it'\"'\"'s.zip'"),
        ("PowerShell", "inv deploy 'it''s.zip'"),
    ]


@pytest.mark.parametrize("several", [False, True])
def test_the_printed_sha256sum_line_checks_the_files(tmp_path, several):
    (tmp_path / "a.zip").write_bytes(b"archive")
    sums = subprocess.run(
        ["sha256sum", "a.zip"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    if several:
        sums += "0" * 64 + "  something-not-here.zip\n"
    (tmp_path / "a.zip.sha256").write_text(sums)
    (system, line), (windows_system, powershell) = shells.sha256_checks("a.zip.sha256", several)
    assert system == "Linux, macOS" and windows_system == "Windows PowerShell"
    proc = subprocess.run(["sh", "-c", line], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "a.zip: OK" in proc.stdout, proc.stdout + proc.stderr
    assert "Get-FileHash -LiteralPath $n -Algorithm SHA256" in powershell
    assert powershell.startswith("Get-Content -LiteralPath a.zip.sha256 |")


def ruff(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    if importlib.util.find_spec("ruff") is None:  # CI installs it (.ci/run: the lint extra)
        (pytest.fail if UNDER_CI else pytest.skip)(
            "ruff is not installed: pip install -e '.[lint]'"
        )
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251", *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_the_lint_rule_keeps_posix_only_calls_in_the_platform_package():
    snippet = "import fcntl\nimport os\n\nos.pread(0, 1, 0)\n"
    outside = ruff("--stdin-filename", "src/airgapkit/crossing/new.py", "-", stdin=snippet)
    assert outside.returncode == 1
    assert "`fcntl` is banned" in outside.stdout and "`os.pread` is banned" in outside.stdout
    inside = ruff("--stdin-filename", "src/airgapkit/platform/new.py", "-", stdin=snippet)
    assert inside.returncode == 0, inside.stdout
    whole = ruff("src")
    assert whole.returncode == 0, whole.stdout
