"""Install airgapkit from an unpacked kit with no network: the kit's own ``install.py``.

Standard library only: ``install.sh`` and ``install.ps1`` run this file with the Python they found,
before anything else is installed, and ``airgapkit self-update`` calls ``install`` once it has
checked the kit. pip installs with ``--no-index --require-hashes`` from the kit's wheels for this
machine's target, its configuration files and ``PIP_*`` variables ignored, so nothing reaches a
network or a configured index.

Installed under a prefix, versions stand beside each other::

    PREFIX/<version>/       a virtual environment per version
    PREFIX/current          the version in use (one line), replaced in one step, last
    PREFIX/bin/airgapkit    runs the current version (airgapkit.cmd on Windows)

So a failed or interrupted install leaves the version in use as it was: ``current`` names the new
one only once it is installed and has answered ``airgapkit --version``. ``--venv DIR`` installs into
a virtual environment of the user's instead (made when it does not exist).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

KIT_FORMAT = "airgapkit-kit"
KIT_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = "requirements.txt"  # in each target's folder, beside its wheels
CURRENT = "current"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("linux/amd64", "linux/arm64", "windows/amd64", "darwin/amd64", "darwin/arm64")
_SYSTEMS = {"linux": "linux", "win32": "windows", "darwin": "darwin"}
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
NOT_ON_TARGET = 3  # --check-target's exit status when the kit holds nothing for this Python


class InstallError(Exception):
    """Something the person installing can fix; the message (one line) says how."""


# --- targets --------------------------------------------------------------------------------------


def this_platform() -> str:
    """This machine as a kit names targets: ``linux/amd64``, ``windows/amd64``, ``darwin/arm64``."""
    system = _SYSTEMS.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    return f"{system}/{_MACHINES.get(machine, machine)}"


def this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def target_id(platform_name: str, python: str) -> str:
    """A target's folder name in the kit: ``linux-amd64-py3.12``."""
    return f"{platform_name.replace('/', '-')}-py{python}"


def parse_manifest(data: bytes, source: str) -> dict:
    """A kit's manifest, refused in one line when it is not one this installer reads."""
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise InstallError(
            f"{source}: {MANIFEST} is not valid JSON ({exc}); get the kit again"
        ) from exc
    if not isinstance(body, dict) or body.get("format") != KIT_FORMAT:
        raise InstallError(f"{source} is not an airgapkit kit (no kit {MANIFEST}); give the kit")
    version = body.get("format_version")
    if version != KIT_FORMAT_VERSION:
        raise InstallError(
            f"{source} is a kit of format {version!r}; this installer reads format "
            f"{KIT_FORMAT_VERSION}: install it with the kit's own install.sh or install.ps1"
        )
    if not isinstance(body.get("targets"), list) or not isinstance(body.get("files"), list):
        raise InstallError(f"{source}: its {MANIFEST} lacks targets or files; get the kit again")
    return body


def read_manifest(kit: Path) -> dict:
    path = kit / MANIFEST
    if not path.is_file():
        raise InstallError(f"{kit} holds no {MANIFEST}: unpack the whole kit (7z x KIT.zip) first")
    return parse_manifest(path.read_bytes(), str(kit))


def choose_target(manifest: dict, platform_name: str, python: str, source: str) -> dict:
    """The kit's target for this platform and Python, or one line naming what it holds instead."""
    for target in manifest["targets"]:
        if target.get("platform") == platform_name and target.get("python") == python:
            return target
    held = ", ".join(f"{t.get('platform')} Python {t.get('python')}" for t in manifest["targets"])
    raise InstallError(
        f"{source} holds airgapkit for {held or 'no target'}, not for this machine ({platform_name}, "
        f"Python {python}): make a kit with inv kit --platform {platform_name} --python {python}, "
        "or install with a Python the kit holds (install.sh --python PATH)"
    )


# --- the kit's files checked before pip sees them -------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lock_hashes(lock: Path) -> dict[str, str]:
    """SHA-256 -> requirement, from a lock's ``name==version --hash=sha256:HEX`` lines."""
    hashes = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        requirement, _, rest = line.partition(" --hash=sha256:")
        if rest:
            hashes[rest.split()[0].lower()] = requirement.strip()
    return hashes


def check_target_files(kit: Path, manifest: dict, target: dict) -> Path:
    """The target's lock held against the manifest, and every wheel against the lock: a wheel the
    lock does not list (swapped, added or damaged) is refused here, before pip, as pip would."""
    folder = kit / "targets" / target["id"]
    lock = folder / LOCK
    listed = {f.get("path"): f.get("sha256") for f in manifest["files"]}
    lock_name = f"targets/{target['id']}/{LOCK}"
    if not lock.is_file() or sha256_of(lock) != listed.get(lock_name):
        raise InstallError(
            f"{lock} is missing or does not match its SHA-256 in the kit's {MANIFEST}: the kit was "
            "altered or unpacked in part; unpack it again from the archive you checked"
        )
    wanted = lock_hashes(lock)
    found = set()
    for wheel in sorted(folder.glob("*.whl")):
        sha = sha256_of(wheel)
        if sha not in wanted:
            raise InstallError(
                f"{wheel} matches no SHA-256 in {lock}: the kit was altered or damaged; get it "
                "again and check its hash before unpacking it"
            )
        found.add(sha)
    missing = [wanted[sha] for sha in wanted if sha not in found]
    if missing:
        raise InstallError(
            f"{folder} lacks the wheels of {', '.join(missing)}: unpack the whole kit again"
        )
    return lock


def installed_size(folder: Path) -> int:
    """What pip unpacks from the folder's wheels: a lower bound of the space an install takes."""
    total = 0
    for wheel in folder.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            total += sum(info.file_size for info in zf.infolist())
    return total


def check_space(where: Path, need: int) -> None:
    probe = where.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise InstallError(
            f"{where} has {free / 1e6:.0f} MB free but the install needs at least {need / 1e6:.0f} "
            "MB: free some space there or choose another place (install.sh --prefix/--venv); nothing was "
            "installed"
        )


# --- the install ----------------------------------------------------------------------------------


def venv_program(venv: Path, name: str) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / f"{name}.exe"
    return venv / "bin" / name


def run(argv: list, what: str, env: dict | None = None) -> str:
    """Run a step; its failure is one line: what failed and the last thing it said."""
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        said = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        last = said[-1] if said else f"exit status {proc.returncode}"
        raise InstallError(f"{what} failed: {last}")
    return proc.stdout


def isolated_pip_env() -> dict:
    """pip with no configuration file read (PIP_CONFIG_FILE set to the null device; pip's own
    rule) and, through ``--isolated``, no PIP_* variable: no configured index or find-links."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull}


def pip_install(venv: Path, folder: Path, lock: Path) -> None:
    python = venv_program(venv, "python")
    argv = [str(python), "-m", "pip", "--isolated", "--disable-pip-version-check", "install"]
    argv += ["--no-index", "--find-links", str(folder), "--only-binary", ":all:"]
    # --no-compile: the modules a run imports are compiled by that run (the --version check does
    # most); compiling every file up front (pygments' hundreds of lexers) costs seconds for nothing
    argv += ["--require-hashes", "--no-cache-dir", "--no-compile", "--quiet", "-r", str(lock)]
    run(argv, f"pip install from {lock}", env=isolated_pip_env())


def make_venv(python: str, venv: Path) -> None:
    run([python, "-m", "venv", str(venv)], f"{python} -m venv {venv} (on Debian: python3-venv)")


def installed_version(venv: Path) -> str:
    """What the installed program says of itself (``airgapkit 1.2.0``): proof that it runs."""
    out = run([str(venv_program(venv, "airgapkit")), "--version"], f"{venv}: airgapkit --version")
    return out.split()[-1] if out.split() else ""


def into_venv(kit: Path, manifest: dict, target: dict, venv: Path, python: str) -> str:
    """Install into the user's virtual environment (made when missing; removed again on failure)."""
    lock = check_target_files(kit, manifest, target)
    check_space(venv, installed_size(lock.parent))
    made = not venv.exists()
    try:
        if made:
            make_venv(python, venv)
        pip_install(venv, lock.parent, lock)
        return installed_version(venv)
    except BaseException:
        if made:
            shutil.rmtree(venv, ignore_errors=True)
        raise


def current_version(prefix: Path) -> str:
    try:
        return (prefix / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def replace_file(path: Path, text: str, mode: int = 0o644) -> None:
    """``path`` holds ``text``, old or new whole, never half: written aside, then renamed onto it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n" if mode & 0o111 else None) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


LAUNCHER_SH = """#!/bin/sh
# airgapkit's launcher, written by its installer: runs the version named in ../current.
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
exec "$here/$(cat "$here/current")/bin/airgapkit" "$@"
"""
LAUNCHER_CMD = """@echo off
rem airgapkit's launcher, written by its installer: runs the version named in ..\\current.
set /p AIRGAPKIT_CURRENT=<"%~dp0..\\current"
"%~dp0..\\%AIRGAPKIT_CURRENT%\\Scripts\\airgapkit.exe" %*
exit /b %ERRORLEVEL%
"""


def write_launcher(prefix: Path) -> Path:
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        replace_file(prefix / "bin" / "airgapkit.cmd", LAUNCHER_CMD)
        return prefix / "bin" / "airgapkit.cmd"
    replace_file(prefix / "bin" / "airgapkit", LAUNCHER_SH, 0o755)
    return prefix / "bin" / "airgapkit"


def into_prefix(kit: Path, manifest: dict, target: dict, prefix: Path, python: str) -> tuple:
    """Install beside the versions already there, then make it the current one, last.

    A folder of the same version that is not the current one is what an interrupted install left
    (or an older copy nobody runs): it is made again. Returns (old version, new version).
    """
    version = manifest["airgapkit"]
    old = current_version(prefix)
    home = prefix / version
    if old == version and home.exists():
        return old, version  # installed already, and the one in use
    lock = check_target_files(kit, manifest, target)
    check_space(prefix, installed_size(lock.parent))
    prefix.mkdir(parents=True, exist_ok=True)
    if home.exists():
        shutil.rmtree(home)
    try:
        make_venv(python, home)
        pip_install(home, lock.parent, lock)
        answered = installed_version(home)
        if answered != version:
            raise InstallError(f"{home}: airgapkit --version says {answered!r}, the kit {version}")
        write_launcher(prefix)
        replace_file(prefix / CURRENT, version + "\n")  # the switch: one rename
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    return old, version


def default_prefix() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "airgapkit"
    return Path.home() / ".local" / "share" / "airgapkit"


def install(kit: Path, *, prefix: Path | None = None, venv: Path | None = None) -> tuple:
    """Install the kit at ``kit`` (unpacked) for this machine with this Python. Returns (old
    version or "", new version, where)."""
    kit = Path(kit)
    manifest = read_manifest(kit)
    target = choose_target(manifest, this_platform(), this_python(), str(kit))
    if venv is not None:
        return "", into_venv(kit, manifest, target, Path(venv), sys.executable), Path(venv)
    prefix = Path(prefix) if prefix else default_prefix()
    old, new = into_prefix(kit, manifest, target, prefix.absolute(), sys.executable)
    return old, new, prefix


def main(argv: list | None = None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        prog="install.py", description="Install airgapkit from this kit, with no network."
    )
    place = parser.add_mutually_exclusive_group()
    place.add_argument(
        "--prefix", type=Path, help=f"versions go in PREFIX/<version> (default: {default_prefix()})"
    )
    place.add_argument("--venv", type=Path, help="install into this virtual environment instead")
    parser.add_argument("--check-target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        manifest = read_manifest(here)
        if args.check_target:  # install.sh asks which Python the kit fits
            choose_target(manifest, this_platform(), this_python(), str(here))
            return 0
        old, new, where = install(here, prefix=args.prefix, venv=args.venv)
    except InstallError as exc:
        print(f"install: {exc}", file=sys.stderr)
        return NOT_ON_TARGET if args.check_target else 1
    except KeyboardInterrupt:
        print("install: interrupted; the airgapkit in use (if any) is unchanged", file=sys.stderr)
        return 130
    if args.venv:
        print(f"airgapkit {new} installed in {where}: run {venv_program(where, 'airgapkit')}")
    else:
        was = f" (was {old})" if old and old != new else " (already the current one)" if old else ""
        print(f"airgapkit {new} installed in {where / new}{was}")
        print(f"run {where / 'bin' / 'airgapkit'}, or add {where / 'bin'} to PATH")
    return 0


if __name__ == "__main__":
    sys.exit(main())
