"""``airgapkit.platform`` on POSIX systems (Linux, macOS)."""

from __future__ import annotations

import ctypes
import os
import signal
import stat
import sys
from pathlib import Path

from . import shells
from .names import NAMES

__all__ = list(NAMES)

SYSTEM = "posix"
SHELL = "sh"
BINARY = 0  # POSIX has no text mode to leave
NOFOLLOW = os.O_NOFOLLOW  # a symbolic link planted under a name airgapkit opens is not followed
PRIVATE = "mode 0600"  # how a secret file is kept from others, in words

quote = shells.sh_quote
join = shells.sh_join


def open_nohang(path: Path) -> int:
    """``path`` opened to read, in a way a FIFO or a device given for a file cannot hang; the
    descriptor blocks again once open (the caller refuses anything but a regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    return fd


def pread(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``; the file's position is left alone."""
    return os.pread(fd, size, offset)


def pwrite(fd: int, data: bytes, offset: int) -> int:
    """``data`` written at ``offset``; the file's position is left alone."""
    return os.pwrite(fd, data, offset)


def set_mode(path: Path, mode: int, fd: int | None = None) -> None:
    """Give the file (through ``fd`` when it is open) exactly these permission bits, whatever the
    umask made of them."""
    if fd is not None:
        os.fchmod(fd, mode)
    else:
        os.chmod(path, mode)


def private_folder(folder: Path) -> Path:
    """``folder``, made (mode 0700) if absent; an existing one is left as it is."""
    Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    return Path(folder)


def loose_mode(path: Path) -> int | None:
    """The file's permission bits if group or others may access it, else None."""
    mode = stat.S_IMODE(Path(path).stat().st_mode)
    return mode if mode & 0o077 else None


def private_command(path: Path) -> str:
    """The command that makes ``path`` readable by its owner alone."""
    return f"chmod 600 {quote(str(path))}"


def user_key() -> str:
    """This user, as a name for a per-user folder: the uid."""
    return str(os.getuid())


def owns(path: Path) -> bool:
    """Whether this user owns ``path``."""
    return Path(path).stat().st_uid == os.getuid()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def dies_with_parent():
    """For ``subprocess``'s ``preexec_fn``: on Linux, the child is sent SIGKILL when the airgapkit
    that started it dies, kill -9 included (``prctl(PR_SET_PDEATHSIG)``), so a killed run leaves
    no child writing into its folder. None on macOS, which has no such call."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the call took effect
            os._exit(1)

    return die_with_parent
