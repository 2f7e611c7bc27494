"""One run at a time per container name or output folder, and what a killed run left behind.

Two deploys of the same container, or two exports into the same folder, would interleave their
steps; ``held`` lets the first one go on and refuses the second with one line naming the run that
holds the lock. A lock is a file lock on a small file (``platform.lock``: ``flock`` on POSIX,
``LockFileEx`` on Windows), so the system releases it when its holder ends in any way, a kill
included: there is no stale lock to clean up by hand.

The file also holds what its holder noted (who, since when, and anything ``note`` adds) until the
holder ends cleanly and empties it. So the next holder of the same lock learns, as ``stale``,
what a killed run was doing: a deploy that was interrupted notes enough to be undone.

Locks live in ``AIRGAPKIT_LOCK_DIR``, else in ``airgapkit-locks-<user>`` under the temporary folder
(``<user>``: the uid on POSIX, the login name on Windows): one place per user for every working
folder; runs of two users are not kept apart. On Windows a held lock keeps others from reading the
file, so a refused run names the lock file instead of its holder; a killed holder's note is read
all the same by the next holder, once the lock is its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import platform
from .errors import AirgapError

LOCK_DIR_VAR = "AIRGAPKIT_LOCK_DIR"


class Busy(AirgapError):
    """Another run holds the lock."""


def lock_dir() -> Path:
    """This user's lock folder (private: mode 0700, or an owner-only ACL), refused if someone else
    owns it."""
    default = Path(tempfile.gettempdir()) / f"airgapkit-locks-{platform.user_key()}"
    try:
        folder = platform.private_folder(Path(os.environ.get(LOCK_DIR_VAR) or default))
    except OSError as exc:
        raise _unusable(Path(os.environ.get(LOCK_DIR_VAR) or default), exc) from exc
    if not platform.owns(folder):
        raise AirgapError(
            f"lock folder {folder} belongs to another user; remove it, or set {LOCK_DIR_VAR} "
            "to a folder of your own"
        )
    return folder


def _unusable(folder: Path, exc: OSError) -> AirgapError:
    return AirgapError(
        f"cannot keep locks in {folder} ({exc.strerror or exc}); set {LOCK_DIR_VAR} to a folder "
        "this user may write in"
    )


def lock_path(kind: str, key: str) -> Path:
    """The lock file of ``kind`` (deploy, output) for ``key`` (an engine and a name, a folder)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return lock_dir() / f"{kind}-{digest}.lock"


class Lock:
    """A held lock: ``stale`` is what a killed earlier holder noted (None when it ended cleanly)."""

    def __init__(self, fd: int, stale: dict | None, info: dict):
        self._fd = fd
        self.stale = stale
        self._info = info
        self._write()

    def note(self, **fields) -> None:
        """Add ``fields`` to what the lock file tells the next holder if this run is killed."""
        self._info.update(fields)
        self._write()

    def _write(self) -> None:
        data = json.dumps(self._info).encode()
        os.ftruncate(self._fd, 0)
        platform.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        os.ftruncate(self._fd, 0)  # emptied: the next holder knows this run ended cleanly
        platform.unlock(self._fd)
        os.close(self._fd)


@contextmanager
def held(kind: str, key: str, what: str) -> Iterator[Lock]:
    """Hold the lock for ``key`` while the block runs; Busy if another run holds it.

    ``what`` says in words what this run does (``deploy of tms-api``), for the other run's
    refusal.
    """
    path = lock_path(kind, key)
    flags = os.O_RDWR | os.O_CREAT | platform.NOFOLLOW | platform.BINARY
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise _unusable(path.parent, exc) from exc
    if not _try_lock(fd, path):
        holder = _read(fd)
        os.close(fd)
        raise Busy(_busy_message(what, holder, path))
    lock = Lock(fd, _read(fd), _info(what, key))
    try:
        yield lock
    finally:
        lock.release()


def _try_lock(fd: int, path: Path) -> bool:
    try:
        return platform.try_lock(fd)
    except OSError as exc:
        os.close(fd)
        raise AirgapError(
            f"could not lock {path}: {exc}; set {LOCK_DIR_VAR} to a folder on a local disk"
        ) from exc


def _info(what: str, key: str) -> dict:
    return {
        "what": what,
        "key": key,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _read(fd: int) -> dict | None:
    try:
        data = platform.pread(fd, 65536, 0)
    except OSError:  # Windows: the bytes another process holds locked cannot be read
        return None
    if not data.strip():
        return None
    try:
        found = json.loads(data)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _busy_message(what: str, holder: dict | None, path: Path) -> str:
    if not holder:
        return f"another run holds the lock for the {what} ({path}); wait for it to finish"
    return (
        f"{holder.get('what', 'another run')} is running (pid {holder.get('pid')} on "
        f"{holder.get('host')} since {holder.get('since')}); wait for it to finish before the "
        f"{what}"
    )


def describe_stale(stale: dict) -> str:
    """One line about a killed run's lock, for the run that takes it over."""
    return (
        f"an earlier {stale.get('what', 'run')} (pid {stale.get('pid')} on {stale.get('host')}, "
        f"since {stale.get('since')}) ended without finishing; its lock is taken over"
    )
