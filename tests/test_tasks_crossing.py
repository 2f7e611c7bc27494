"""The hash, archive and extract tasks as a user runs them: `inv` in a child process.

The password must never show in any process's argv (/proc/*/cmdline) nor in what the tasks print.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invoking import REPO_ROOT, assert_one_line_error, clean_env, inv

from airgapkit.crossing import digest, sumsfile

PW = "Hq4!zR8#mW2$kT6@vN9x"


@pytest.fixture
def work(tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "node20a.tar").write_bytes(os.urandom(200_000))
    (tmp_path / "build" / "module.tgz").write_bytes(b"packed " * 10_000)
    return tmp_path


def test_archive_makes_three_things_in_three_places_and_extract_opens_them(work):
    made = inv(
        "archive",
        "--files",
        "build/node20a.tar,build/module.tgz",
        "--output",
        "dist/app.zip",
        "--generate-password",
        cwd=work,
    )
    assert made.returncode == 0, made.stderr
    assert sorted(os.listdir(work / "dist")) == ["app.zip"]
    assert sorted(os.listdir(work / "dist-hashes")) == ["SHA256SUMS"]
    pw_file = work / "dist-password" / "app.zip.password"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    password = pw_file.read_text().strip()
    assert len(password) >= 32
    for text in (made.stdout, made.stderr, (work / "dist-hashes" / "SHA256SUMS").read_text()):
        assert password not in text
    assert password.encode() not in (work / "dist" / "app.zip").read_bytes()
    # what sha256sum makes of the hashes file, from the media folder
    check = subprocess.run(
        ["sha256sum", "-c", "--ignore-missing", str(work / "dist-hashes" / "SHA256SUMS")],
        cwd=work / "dist",
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "app.zip: OK" in check.stdout
    # the other side: 7-Zip opens it with the delivered password
    seven = subprocess.run(
        ["7z", "t", f"-p{password}", "dist/app.zip"], cwd=work, capture_output=True, text=True
    )
    assert seven.returncode == 0, seven.stdout
    opened = inv(
        "extract",
        "dist/app.zip",
        "--sums",
        "dist-hashes/SHA256SUMS",
        "--dest",
        "in",
        "--password-file",
        str(pw_file),
        cwd=work,
    )
    assert opened.returncode == 0, opened.stderr
    assert (work / "in" / "node20a.tar").read_bytes() == (
        work / "build" / "node20a.tar"
    ).read_bytes()
    again = inv(
        "extract",
        "dist/app.zip",
        "--sums",
        "dist-hashes/SHA256SUMS",
        "--dest",
        "in",
        "--password-file",
        str(pw_file),
        cwd=work,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "folders",
    [
        {"INVOKE_AIRGAPKIT_HASHES_DIR": "dist"},
        {"INVOKE_AIRGAPKIT_PASSWORD_DIR": "dist/secret"},
        {"INVOKE_AIRGAPKIT_HASHES_DIR": "side", "INVOKE_AIRGAPKIT_PASSWORD_DIR": "side/pw"},
    ],
)
def test_archive_refuses_folders_that_are_the_same_or_nested(work, folders):
    made = inv(
        "archive",
        "--files",
        "build/module.tgz",
        "--output",
        "dist/app.zip",
        "--generate-password",
        cwd=work,
        env=folders,
    )
    assert made.returncode == 1
    assert "same or nested" in made.stderr and "Traceback" not in made.stderr
    assert not (work / "dist" / "app.zip").exists()


def test_weak_password_refused_unless_allowed(work):
    weak = work / "weak.txt"
    weak.write_text("summer2024\n")
    made = inv(
        "archive",
        "--files",
        "build/module.tgz",
        "--output",
        "dist/app.zip",
        "--password-file",
        str(weak),
        cwd=work,
    )
    assert made.returncode == 1 and "--allow-weak-password" in made.stderr
    assert "summer2024" not in made.stderr and not (work / "dist").exists()
    made = inv(
        "archive",
        "--files",
        "build/module.tgz",
        "--output",
        "dist/app.zip",
        "--password-file",
        str(weak),
        "--allow-weak-password",
        cwd=work,
    )
    assert made.returncode == 0, made.stderr


def test_no_password_and_no_terminal_says_how(work):
    made = inv("archive", "--files", "build/module.tgz", "--output", "dist/app.zip", cwd=work)
    assert made.returncode == 1
    assert "AIRGAPKIT_PASSWORD" in made.stderr and "--generate-password" in made.stderr


def test_extract_verifies_hash_first_and_refuses_tampering(work):
    env = {"AIRGAPKIT_PASSWORD": PW}
    assert (
        inv(
            "archive", "--files", "build/module.tgz", "--output", "dist/app.zip", cwd=work, env=env
        ).returncode
        == 0
    )
    data = bytearray((work / "dist" / "app.zip").read_bytes())
    data[len(data) // 2] ^= 1
    (work / "dist" / "app.zip").write_bytes(bytes(data))
    opened = inv(
        "extract",
        "dist/app.zip",
        "--sums",
        "dist-hashes/SHA256SUMS",
        "--dest",
        "in",
        cwd=work,
        env=env,
    )
    assert opened.returncode == 1 and "differs" in opened.stderr
    assert not (work / "in").exists() or not os.listdir(work / "in")


def _scan_cmdlines(needle: bytes, seen: list[int]) -> list[str]:
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"invoke" in cmdline and b"--search-root" in cmdline:
            seen.append(int(pid))
        if needle in cmdline:
            hits.append(f"{pid}: {cmdline!r}")
    return hits


@pytest.mark.parametrize("source", ["env", "file"])
def test_password_never_in_any_cmdline_nor_in_the_log(tmp_path, source):
    """Archive and extract 64 MB as child processes while every process's argv is read."""
    (tmp_path / "big.bin").write_bytes(b"")
    with open(tmp_path / "big.bin", "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    password = PW + source
    env = clean_env()
    pw_args: list[str] = []
    if source == "env":
        env["AIRGAPKIT_PASSWORD"] = password
    else:
        pw_dir = tmp_path / "secret"
        pw_dir.mkdir()
        (pw_dir / "pw").write_text(password + "\n")
        pw_args = ["--password-file", str(pw_dir / "pw")]
    log = tmp_path / "log.txt"
    base = [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT)]
    steps = [
        ["archive", "--files", "big.bin", "--output", "dist/big.zip", "--level", "0", *pw_args],
        ["extract", "dist/big.zip", "--sums", "dist-hashes/SHA256SUMS", "--dest", "in", *pw_args],
    ]
    hits: list[str] = []
    for step in steps:
        seen: list[int] = []
        scans = 0
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                base + step, cwd=tmp_path, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL
            )
            started = time.monotonic()
            while proc.poll() is None:
                hits += _scan_cmdlines(password.encode(), seen)
                scans += 1
                assert time.monotonic() - started < 120
        assert proc.returncode == 0, log.read_text()
        assert proc.pid in seen and scans > 3, "the scan did not overlap the run"
    assert hits == []
    assert password not in log.read_text()
    assert (tmp_path / "in" / "big.bin").stat().st_size == 64 << 20
    for path in (tmp_path / "dist").rglob("*"):
        assert password.encode() not in path.read_bytes()
    assert sumsfile.read_sums(tmp_path / "dist-hashes" / "SHA256SUMS")[
        "big.bin"
    ] == digest.sha256_file(tmp_path / "in" / "big.bin")


def test_archive_split_writes_volumes_7z_opens_and_replacing_needs_force(work):
    (work / "build" / "node20a.tar").write_bytes(os.urandom(300_000))
    env = {"AIRGAPKIT_PASSWORD": PW}
    flags = ["archive", "--files", "build/node20a.tar", "--output", "dist/app.zip"]
    made = inv(*flags, "--split", "100k", "--level", "0", cwd=work, env=env)
    assert made.returncode == 0, made.stderr
    assert sorted(os.listdir(work / "dist")) == [
        "app.zip.001",
        "app.zip.002",
        "app.zip.003",
        "app.zip.004",
    ]
    seven = subprocess.run(
        ["7z", "t", f"-p{PW}", "dist/app.zip.001"], cwd=work, capture_output=True, text=True
    )
    assert seven.returncode == 0, seven.stdout
    again = inv(*flags, cwd=work, env=env)
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    opened = inv(
        "extract",
        "dist/app.zip.001",
        "--sums",
        "dist-hashes/SHA256SUMS",
        "--dest",
        "in",
        cwd=work,
        env=env,
    )
    assert opened.returncode == 0, opened.stderr
    assert (work / "in" / "node20a.tar").read_bytes() == (
        work / "build" / "node20a.tar"
    ).read_bytes()
    too_small = inv(*flags, "--split", "10k", "--force", cwd=work, env=env)
    assert too_small.returncode == 1 and "smaller than a zip's own headers" in too_small.stderr


def test_hash_output_replaces_no_special_file_and_makes_no_folder(work):
    fifo = work / "sums.fifo"
    os.mkfifo(fifo)
    proc = inv("hash", "--files", "build/module.tgz", "--output", str(fifo), cwd=work)
    assert_one_line_error(proc, rf"{fifo} is a FIFO, not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    proc = inv("hash", "--files", "build/module.tgz", "--output", "no/dir/SHA256SUMS", cwd=work)
    assert_one_line_error(proc, r"--output no/dir/SHA256SUMS: no/dir does not exist")
    assert not (work / "no").exists()


def test_archive_split_again_with_force_lists_only_its_new_volumes(work):
    env = {"AIRGAPKIT_PASSWORD": PW}
    flags = ["archive", "--files", "build/node20a.tar", "--output", "dist/app.zip", "--level", "0"]
    inv(*flags, "--split", "64k", cwd=work, env=env, check=True)
    assert len(os.listdir(work / "dist")) == 4
    inv(*flags, "--split", "128k", "--force", cwd=work, env=env, check=True)
    assert sorted(os.listdir(work / "dist")) == ["app.zip.001", "app.zip.002"]
    sums = "dist-hashes/SHA256SUMS"
    opened = inv("extract", "dist/app.zip.001", "--sums", sums, "--dest", "in", cwd=work, env=env)
    assert opened.returncode == 0, opened.stderr
    assert (work / "in" / "node20a.tar").read_bytes() == (
        work / "build" / "node20a.tar"
    ).read_bytes()
