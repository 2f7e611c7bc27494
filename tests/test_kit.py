"""inv kit's parts on their own: targets, the index pip is configured with, the installer's checks,
the refusals that come before any download. The kit across the gap is test_kit_far_side.py."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from invoking import assert_one_line_error, inv

from airgapkit.config import DEFAULTS
from airgapkit.kit import installer, make, resolve, targets
from airgapkit.settings import Crossing

# --- targets ---------------------------------------------------------------------------------------


def test_no_platform_or_python_means_this_machine_with_this_python():
    mine = targets.parse("", "")
    assert mine == [targets.here()]
    assert mine[0].python == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_every_platform_with_every_python_each_once():
    chosen = targets.parse("windows/amd64, linux/arm64,windows/amd64", ["3.12", "3.10"])
    assert [t.id for t in chosen] == [
        "windows-amd64-py3.12",
        "windows-amd64-py3.10",
        "linux-arm64-py3.12",
        "linux-arm64-py3.10",
    ]


def test_a_target_is_asked_of_pip_and_uv_by_its_own_names():
    target = targets.Target("windows/amd64", "3.12")
    assert target.uv_options() == [
        "--python-platform",
        "x86_64-pc-windows-msvc",
        "--python-version",
        "3.12",
    ]
    pip = target.pip_options()
    assert pip[pip.index("--platform") + 1] == "win_amd64"
    assert "cp312" in pip and "abi3" in pip


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--platform", "solaris/sparc", "platform 'solaris/sparc'"),
        ("--platform", "linux", "platform 'linux'"),
        ("--python", "3.9", "Python '3.9'"),
        ("--python", "python3", "Python 'python3'"),
    ],
)
def test_an_unknown_platform_or_python_is_one_line_before_anything_happens(
    tmp_path, flag, value, named
):
    proc = inv("kit", flag, value, cwd=tmp_path)
    assert_one_line_error(proc, "^airgapkit: ", named, "name some of")
    assert list(tmp_path.iterdir()) == []


# --- the index, as pip is configured ----------------------------------------------------------------


def test_uv_is_given_the_index_pip_would_use(tmp_path, monkeypatch):
    config = tmp_path / "pip.conf"
    config.write_text(
        "[global]\nindex-url = https://index.invalid/simple\nfind-links = /from/global\n"
        "constraint = /c.txt\n[download]\nfind-links = /from/download\n"
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///extra/a file:///extra/b")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    settings = resolve.pip_settings()
    assert settings["index-url"] == ["https://index.invalid/simple"]
    assert settings["find-links"] == ["/from/download"]  # download's section over global
    assert settings["extra-index-url"] == ["file:///extra/a", "file:///extra/b"]  # a variable
    options = resolve.uv_index_options(settings)
    assert options[options.index("--index-url") + 1] == "https://index.invalid/simple"
    assert options.count("--extra-index-url") == 2
    assert options[options.index("--constraint") + 1] == "/c.txt"
    assert "unsafe-best-match" in options and "--no-python-downloads" in options
    build = resolve.uv_index_options(settings, "--build-constraint")
    assert build[build.index("--build-constraint") + 1] == "/c.txt"


# --- the installer's own checks -------------------------------------------------------------------


def small_kit(root: Path, platform: str = "", python: str = "") -> tuple[dict, dict]:
    """A kit folder with one target, one "wheel" and its lock, as ``make`` lays them out."""
    platform = platform or installer.this_platform()
    python = python or installer.this_python()
    tid = installer.target_id(platform, python)
    folder = root / "targets" / tid
    folder.mkdir(parents=True)
    wheel = folder / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"a wheel's bytes")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = folder / installer.LOCK
    lock.write_text(f"demo==1.0 --hash=sha256:{sha}\n")
    files = [
        {"path": f"targets/{tid}/{p.name}", "sha256": installer.sha256_of(p)} for p in (wheel, lock)
    ]
    target = {"id": tid, "platform": platform, "python": python}
    manifest = {
        "format": installer.KIT_FORMAT,
        "format_version": installer.KIT_FORMAT_VERSION,
        "airgapkit": "9.9.9",
        "targets": [target],
        "files": files,
    }
    (root / installer.MANIFEST).write_text(json.dumps(manifest))
    return manifest, target


def test_the_lock_is_what_the_wheels_are_held_against(tmp_path):
    manifest, target = small_kit(tmp_path)
    lock = installer.check_target_files(tmp_path, manifest, target)
    assert lock.name == installer.LOCK
    (lock.parent / "demo-1.0-py3-none-any.whl").write_bytes(b"another wheel's bytes")
    with pytest.raises(installer.InstallError, match="matches no SHA-256 in .*requirements.txt"):
        installer.check_target_files(tmp_path, manifest, target)


def test_a_lock_changed_after_the_kit_was_made_is_refused(tmp_path):
    manifest, target = small_kit(tmp_path)
    lock = tmp_path / "targets" / target["id"] / installer.LOCK
    lock.write_text(lock.read_text() + "extra==1 --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(installer.InstallError, match="does not match its SHA-256 in the kit"):
        installer.check_target_files(tmp_path, manifest, target)


def test_a_kit_for_another_python_names_what_it_holds_and_what_to_make(tmp_path):
    small_kit(tmp_path, "windows/amd64", "3.12")
    # install.py reads the kit it lies in: run a copy of it from the kit folder
    copy = tmp_path / "install.py"
    copy.write_text(Path(installer.__file__).read_text())
    proc = subprocess.run(
        [sys.executable, str(copy), "--venv", str(tmp_path / "v")], capture_output=True, text=True
    )
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert "\n" not in line
    assert "holds airgapkit for windows/amd64 Python 3.12" in line
    assert f"inv kit --platform {installer.this_platform()} --python" in line
    check = subprocess.run([sys.executable, str(copy), "--check-target"], capture_output=True)
    assert check.returncode == installer.NOT_ON_TARGET
    assert not (tmp_path / "v").exists()


def test_a_kit_of_a_newer_format_says_to_use_its_own_installer(tmp_path):
    body = {"format": installer.KIT_FORMAT, "format_version": installer.KIT_FORMAT_VERSION + 1}
    with pytest.raises(installer.InstallError, match="install it with the kit's own install.sh"):
        installer.parse_manifest(json.dumps(body).encode(), "new.zip")
    with pytest.raises(installer.InstallError, match="is not an airgapkit kit"):
        installer.parse_manifest(json.dumps({"format": "airgapkit-bundle"}).encode(), "b.zip")


def test_self_update_of_an_airgapkit_not_installed_from_a_kit_says_what_to_do(tmp_path):
    program = Path(sys.executable).parent / "airgapkit"
    proc = subprocess.run(
        [str(program), "self-update", "kit.zip", "--sums", "kit.zip.sha256"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert_one_line_error(proc, "was not installed from a kit", "install.sh")


# --- a requirement with no wheel for a target ---------------------------------------------------------


def test_a_requirement_with_no_wheel_for_a_target_stops_the_kit_before_anything_is_written(
    tmp_path,
):
    """A project whose one requirement (pywin32, Windows wheels only, no source) cannot go to
    linux/arm64: uv, against the configured index, names it; nothing is written. (A project with
    wheels for other systems and a native source, cryptography 50 for darwin/amd64 today, is named
    by pip's wheels-only probes instead: a minute of pip runs, so not run here.)"""
    source = tmp_path / "source"
    (source / "src" / "airgapkit").mkdir(parents=True)
    (source / "src" / "airgapkit" / "__init__.py").write_text("")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "airgapkit"\nversion = "0.0.0"\ndependencies = ["pywin32"]\n'
    )
    places = {name: tmp_path / name for name in ("dist", "dist-hashes", "dist-password")}
    crossing = Crossing.from_config(
        DEFAULTS["airgapkit"],
        out_dir=str(places["dist"]),
        hashes_dir=str(places["dist-hashes"]),
        password_dir=str(places["dist-password"]),
    )
    target = targets.Target("linux/arm64", "3.12")
    with pytest.raises(resolve.ResolveError) as refused:
        make.make([target], crossing, None, source=source)
    message = str(refused.value)
    assert "pywin32" in message and "linux/arm64 Python 3.12" in message
    assert "leave linux/arm64 out" in message
    assert "\n" not in message
    assert not any(p.exists() and any(p.iterdir()) for p in places.values())
