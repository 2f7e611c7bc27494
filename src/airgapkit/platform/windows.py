"""``airgapkit.platform`` on Windows.

Files have no permission bits there (``os.chmod`` sets the read-only flag alone): a secret file is
kept from others by its ACL (``winacl``). ``os.pread``/``os.pwrite``, ``O_NOFOLLOW``,
``O_NONBLOCK`` and uids do not exist; files opened with ``os.open`` must be opened ``O_BINARY``
or Windows translates line ends in them.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from . import shells, winacl
from .names import NAMES

__all__ = list(NAMES)

SYSTEM = "windows"
SHELL = "PowerShell"
BINARY = getattr(os, "O_BINARY", 0)  # no line-end translation (0 where there is no text mode)
NOFOLLOW = 0  # os.open has no O_NOFOLLOW here
PRIVATE = "readable by you alone (its ACL)"

quote = shells.powershell_quote
join = shells.powershell_join


def open_nohang(path: Path) -> int:
    """``path`` opened to read (there are no FIFOs in a Windows folder to hang the open)."""
    return os.open(path, os.O_RDONLY | BINARY)


def pread(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``, by seeking; the file's position is put back."""
    return _at(fd, offset, lambda: os.read(fd, size))


def pwrite(fd: int, data: bytes, offset: int) -> int:
    """``data`` written at ``offset``, by seeking; the file's position is put back."""
    return _at(fd, offset, lambda: os.write(fd, data))


def _at(fd: int, offset: int, act):
    """``act()`` with the file's position at ``offset``, then back where it was. Callers use it on
    a descriptor no other thread moves meanwhile (os.pread and os.pwrite are POSIX only)."""
    here = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        return act()
    finally:
        os.lseek(fd, here, os.SEEK_SET)


def set_mode(path: Path, mode: int, fd: int | None = None) -> None:
    """A mode without group or other bits (0600) means a secret: its ACL then lets its owner
    alone in. Another mode for a file being made (``fd`` open) leaves the ACL its folder gave it;
    for a file made before (extraction makes each file 0600, then gives it the member's mode) it
    puts that inherited ACL back."""
    if not mode & 0o077:
        winacl.restrict_to_owner(Path(path))
    elif fd is None:
        winacl.inherit_from_folder(Path(path))


def private_folder(folder: Path) -> Path:
    """``folder``, made if absent with an ACL that lets this user alone in (inherited by what is
    made in it); an existing one is left as it is."""
    folder = Path(folder)
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        winacl.restrict_to_owner(folder)
    return folder


def loose_mode(path: Path) -> int | None:
    """Not judged on Windows: a file's ACL is not read back (None)."""
    return None


def private_command(path: Path) -> str:
    """The PowerShell command that makes ``path`` readable by its owner alone."""
    return f'icacls {quote(str(path))} /inheritance:r /grant:r "${{env:USERNAME}}:F"'


def user_key() -> str:
    """This user, as a name for a per-user folder: the login name (``USERNAME``, which Windows
    sets). Without one, a fixed name: the temporary folder is the user's own on Windows anyway."""
    try:
        return getpass.getuser()
    except (ImportError, OSError, KeyError):  # getpass falls back to pwd, which Windows lacks
        return "user"


def owns(path: Path) -> bool:
    """Whether this user (or the owner its files get, for an administrator) owns ``path``."""
    return winacl.owned_by_me(Path(path))


def dies_with_parent():
    """None: Windows has no preexec_fn (a child outlives a killed airgapkit there)."""
    return None
