"""The ``airgapkit`` program as it runs on Windows, as far as a Linux machine can show it.

``python windows_path.py TASK ARGS...`` runs a task the way the ``airgapkit`` program does;
``python windows_path.py --import-all`` imports every module of the package and takes a lock twice.
tests/test_windows_path.py runs it. No Windows Python can be had here, so this is what it does:

Made as on Windows (real):
- the POSIX-only modules cannot be imported (``BLOCKED``: fcntl, termios, tty, pty, pwd, grp,
  resource, ...): an import of any of them fails as it does on Windows;
- the POSIX-only functions and flags of ``os`` that airgapkit could reach for (``POSIX_ONLY``:
  fchmod, pread, pwrite, getuid, O_NOFOLLOW, O_NONBLOCK, set_blocking, sched_getaffinity, ...) are
  gone (not those the standard library's own POSIX code needs, such as ``statvfs`` behind
  ``shutil.disk_usage``: on Windows it takes another path);
- ``airgapkit.platform`` runs its Windows module: reads and writes at an offset by seeking, no
  O_NOFOLLOW or O_NONBLOCK, no mode bits, a user's lock folder named by login, PowerShell quoting,
  the private-file wording.

Faked, and why:
- ``os.name`` reads ``"nt"`` while ``airgapkit.platform`` is imported, so that it chooses its
  Windows module as it does on Windows (and only then: the standard library made its own choices
  at start, for this system);
- the third-party libraries airgapkit imports are imported before the blocking, on their POSIX
  branches: their own Windows branches (portalocker's ``msvcrt`` locks, Invoke's console) are
  theirs and need a Windows to run, so here portalocker locks with ``flock``;
- pywin32 has no build for Linux: ``airgapkit.platform.winacl`` (the ACL calls) is replaced by a
  recorder that appends ``private PATH`` or ``inherit PATH`` to the file ``$AGK_ACL_LOG`` and sets
  the mode bits that mean the same here; its ``owned_by_me`` compares the uid.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import sys
import types
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent.parent / "src" / "airgapkit"
BLOCKED = {
    "fcntl",
    "termios",
    "tty",
    "pty",
    "pwd",
    "grp",
    "resource",
    "crypt",
    "spwd",
    "syslog",
    "nis",
    "readline",
    "posixshmem",
    "_posixshmem",
}
POSIX_ONLY = (
    "fchmod",
    "fchown",
    "chown",
    "lchown",
    "pread",
    "pwrite",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "O_NOFOLLOW",
    "O_NONBLOCK",
    "set_blocking",
    "get_blocking",
    "sched_getaffinity",
    "posix_fadvise",
    "POSIX_FADV_DONTNEED",
    "sync",
    "killpg",
    "getpgid",
    "setsid",
    "mkfifo",
)


class Blocker:
    """A finder that refuses the POSIX-only modules, as a Windows Python has none of them."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (POSIX only)", name=name)
        return None


def third_party_imports() -> set[str]:
    """The top-level packages airgapkit's source imports that are neither stdlib nor its own."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return {
        name
        for name in found
        if name.partition(".")[0] not in sys.stdlib_module_names
        and name.partition(".")[0] != "airgapkit"
    }


def winacl_recorder(log: Path, getuid) -> types.ModuleType:
    """Stands in for platform/winacl.py (pywin32): records what it is asked, keeps its meaning."""
    recorder = types.ModuleType("airgapkit.platform.winacl")

    def note(what: str, path: Path) -> None:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{what} {path}\n")

    def restrict_to_owner(path: Path) -> None:
        note("private", path)
        os.chmod(path, 0o700 if Path(path).is_dir() else 0o600)

    def inherit_from_folder(path: Path) -> None:
        note("inherit", path)
        os.chmod(path, 0o644)

    def owned_by_me(path: Path) -> bool:
        return Path(path).stat().st_uid == getuid()

    recorder.restrict_to_owner = restrict_to_owner
    recorder.inherit_from_folder = inherit_from_folder
    recorder.owned_by_me = owned_by_me
    return recorder


def as_on_windows() -> None:
    getuid = os.getuid
    for name in sorted(third_party_imports()):
        importlib.import_module(name)
    for name in BLOCKED:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, Blocker())
    for name in POSIX_ONLY:
        if hasattr(os, name):
            delattr(os, name)
    log = Path(os.environ["AGK_ACL_LOG"])
    sys.modules["airgapkit.platform.winacl"] = winacl_recorder(log, getuid)
    posix_name, os.name = os.name, "nt"
    try:
        platform = importlib.import_module("airgapkit.platform")
    finally:
        os.name = posix_name
    assert platform.SYSTEM == "windows", platform.SYSTEM


def import_all() -> None:
    """Import every module of the package (but the POSIX side of ``platform``, which Windows never
    imports), then hold a lock and be refused a second one."""
    import airgapkit

    every = [m.name for m in pkgutil.walk_packages(airgapkit.__path__, "airgapkit.")]
    names = [name for name in every if name != "airgapkit.platform.posix"]
    for name in names:
        importlib.import_module(name)
    for name in ("fcntl", "termios", "pty"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        raise AssertionError(f"{name} could be imported")
    from airgapkit import locks

    with locks.held("output", "windows-path", "export into dist") as lock:
        lock.note(step="one")
        try:
            with locks.held("output", "windows-path", "export into dist"):
                raise AssertionError("a second holder was let in")
        except locks.Busy as refused:
            print(f"refused: {refused}")
    assert "airgapkit.platform.posix" not in sys.modules, "something imported the POSIX side"
    print(f"windows: {len(names)} modules imported")


def main() -> None:
    as_on_windows()
    if sys.argv[1:] == ["--import-all"]:
        import_all()
        return
    from airgapkit.cli import program

    program.run(["airgapkit", *sys.argv[1:]])


if __name__ == "__main__":
    main()
