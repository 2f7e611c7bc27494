"""The single ``airgapkit`` program, for a far side with Docker but no suitable Python.

PyInstaller (6, ``--onefile``) freezes airgapkit from a virtual environment that holds exactly the
kit's wheels for this machine, installed the way the far side installs them (offline, by their
lock's hashes), so the program runs the same code and versions the kit carries. A freezer makes
programs for the system it runs on: the Windows and macOS programs are made by the same
``inv kit --executable`` run on those systems.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from pathlib import Path

from . import installer
from .resolve import Resolved, ResolveError, run

ENTRY = "from airgapkit.cli import main\n\nmain()\n"


def pyinstaller_version() -> str:
    """The PyInstaller of the ``kit`` extra: the freeze venv gets the same version."""
    try:
        return importlib.metadata.version("pyinstaller")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ResolveError(
            "inv kit --executable freezes with PyInstaller, which is not installed here: "
            "pip install 'airgapkit[kit]'"
        ) from exc


def program_name() -> str:
    return "airgapkit.exe" if sys.platform == "win32" else "airgapkit"


def glibc() -> str:
    """The C library the program was made against (it needs that version or later); '' off glibc."""
    name, version = platform.libc_ver()
    return version if name == "glibc" else ""


def build(resolved: Resolved, work: Path) -> Path:
    """Freeze airgapkit from ``resolved`` (this machine's target) into one program under ``work``."""
    version = pyinstaller_version()
    venv = work / "freeze-venv"
    installer.make_venv(sys.executable, venv)
    installer.pip_install(venv, resolved.folder, resolved.lock)  # the kit's own wheels, offline
    python = str(installer.venv_program(venv, "python"))
    # PyInstaller is a build tool of this side: from the index pip is configured with here
    run(
        [python, "-m", "pip", "install", "--quiet", f"pyinstaller=={version}"],
        "installing PyInstaller",
    )
    entry = work / "airgapkit_main.py"
    entry.write_text(ENTRY, encoding="utf-8")
    argv = [python, "-m", "PyInstaller", "--onefile", "--noconfirm", "--log-level", "WARN"]
    argv += ["--name", "airgapkit", "--copy-metadata", "airgapkit", "--collect-data", "airgapkit"]
    argv += ["--distpath", str(work / "program"), "--workpath", str(work / "freeze")]
    argv += ["--specpath", str(work / "freeze"), str(entry)]
    run(argv, "freezing airgapkit (PyInstaller)")
    return work / "program" / program_name()
