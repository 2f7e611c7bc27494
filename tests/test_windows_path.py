"""airgapkit on its Windows path: every module imports and the engine-free tasks run with the
POSIX-only modules unimportable, the POSIX-only functions of ``os`` removed, and ``airgapkit.platform``
on its Windows module.

No Windows Python can be had here. ``tests/support/windows_path.py`` is the ``airgapkit`` program
made as Windows-like as this machine allows; its docstring lists what is real and what is faked:
``os.name`` reads ``nt`` while the platform package chooses its module; the third-party libraries
are imported before the blocking, on their own POSIX branches (portalocker locks with ``flock``
here, ``msvcrt`` there); pywin32's ACL calls are replaced by a recorder (``AGK_ACL_LOG``), whose
record the tests read to see which files were made private.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import registries
from invoking import inv

from airgapkit import history
from airgapkit.fsutil import TEMP_NAME
from conftest import REPO_ROOT
from test_oci_tasks import trivy_report

pytest_plugins = ["oci_fixtures"]

WINDOWS = (sys.executable, str(REPO_ROOT / "tests" / "support" / "windows_path.py"))
BUNDLE = REPO_ROOT / "tests" / "fixtures" / "bundles" / "format-1"
ARCHIVE = "tiny-1.0.0-release.zip"
PRIVATE = "readable by you alone (its ACL)"


@pytest.fixture
def on_windows(tmp_path):
    """``airgapkit ARGS`` on the Windows path, from ``tmp_path``; the ACL record beside it."""
    acl_log = tmp_path / "acl.log"
    env = {"AGK_ACL_LOG": str(acl_log), "AIRGAPKIT_LOCK_DIR": str(tmp_path / "locks")}

    def run(*args: str, extra_env: dict | None = None):
        proc = inv(*args, cwd=tmp_path, env={**env, **(extra_env or {})}, program=WINDOWS)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    run.acl_log = acl_log
    return run


def made_private(acl_log: Path) -> set[str]:
    """The files whose last ACL change made them private, by their final names."""
    last: dict[str, str] = {}
    for line in acl_log.read_text().splitlines() if acl_log.exists() else []:
        what, path = line.split(" ", 1)
        name = Path(path).name
        temporary = TEMP_NAME.match(name)
        last[temporary.group("name") if temporary else name] = what
    return {name for name, what in last.items() if what == "private"}


def test_every_module_imports_and_a_lock_refuses_a_second_holder(on_windows):
    proc = on_windows("--import-all")
    modules = [
        p
        for p in (REPO_ROOT / "src" / "airgapkit").rglob("*.py")
        if p.name != "__init__.py" or p.parent.name != "airgapkit"
    ]
    imported = int(re.search(r"windows: (\d+) modules imported", proc.stdout).group(1))
    assert imported == len(modules) - 1  # all but platform/posix.py, which Windows never imports
    assert "refused: " in proc.stdout and "wait for it to finish" in proc.stdout
    assert made_private(on_windows.acl_log) == {"locks"}  # the lock folder, by its ACL


def test_hash_archive_and_extract(on_windows, tmp_path):
    data = tmp_path / "report.txt"
    data.write_bytes(b"line one\r\nline two\n\x1a and after a ^Z\n")  # no text mode anywhere
    on_windows("hash", "--files", str(data))
    on_windows("hash", "--check", str(tmp_path / "SHA256SUMS"))
    made = on_windows("archive", str(data), "--generate-password")
    shown = " ".join(made.stdout.split())
    assert f"password ({PRIVATE})" in shown and "mode 0600" not in shown
    assert "Windows PowerShell: Get-Content -LiteralPath SHA256SUMS | ForEach-Object" in shown
    assert "Linux, macOS: sha256sum -c --ignore-missing SHA256SUMS" in shown
    password = tmp_path / "dist-password" / "report.txt.zip.password"
    assert made_private(on_windows.acl_log) == {"report.txt.zip.password"}
    on_windows(
        "extract",
        str(tmp_path / "dist" / "report.txt.zip"),
        "--sums",
        str(tmp_path / "dist-hashes" / "SHA256SUMS"),
        "--password-file",
        str(password),
        "--dest",
        str(tmp_path / "out"),
    )
    assert (tmp_path / "out" / "report.txt").read_bytes() == data.read_bytes()
    # extracted files are written private, then given their folder's ACL back
    assert made_private(on_windows.acl_log) == {"report.txt.zip.password"}


def test_keygen_makes_the_private_key_private(on_windows, tmp_path):
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("copper violin meadow 7731 glacier spoon\n")
    proc = on_windows("keygen", "--out", "team", "--key-passphrase-file", str(passphrase))
    assert f"private key team.key ({PRIVATE}): keep it on this machine" in proc.stdout
    assert made_private(on_windows.acl_log) == {"team.key"}
    assert (tmp_path / "team.pub").is_file()


def test_inspect_and_sbom_read_a_bundle(on_windows, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    for part in (ARCHIVE, f"{ARCHIVE}.sha256", f"{ARCHIVE}.password"):
        (media / part).write_bytes((BUNDLE / part).read_bytes())
    flags = [str(media / ARCHIVE), "--password-file", str(media / f"{ARCHIVE}.password")]
    manifest = json.loads(on_windows("inspect", *flags, "--json").stdout)
    assert manifest["app"]["name"] == "tiny"
    assert "release bundle of tiny 1.0.0" in on_windows("inspect", *flags).stdout
    assert "airgapkit-fixture/tiny:1.0.0" in on_windows("sbom", *flags).stdout


def test_history(on_windows, tmp_path):
    log = history.History(tmp_path / ".airgapkit" / "history.jsonl")
    log.append(history.Entry("deploy", app="tiny", version="1.0.0", outcome=history.OK).started())
    lines = on_windows("history", "--json").stdout.splitlines()
    assert [json.loads(line)["app"] for line in lines] == ["tiny"]


def test_check_image_from_the_registry(on_windows, oci_registry, tmp_path):
    config = {"Env": ["NODE_VERSION=24.11.1"], "User": "1001"}
    pushed = registries.push(
        oci_registry.addr, "tiny/windows", "1", [{"app/x": b"x" * 1000}], config=config
    )
    image = f"{oci_registry.addr}/tiny/windows:1"
    report = trivy_report(tmp_path / "trivy.json", image, pushed.config_digest)
    proc = on_windows(
        "check-image",
        image,
        "--source",
        "registry",
        "--report",
        str(report),
        extra_env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
    )
    assert f"base image {pushed.config_digest[7:19]}" in proc.stdout  # the registry's config
