"""One run at a time per container name or output folder, and what a killed run left behind.

Two deploys of the same container, or two exports into the same folder, would interleave their
steps; ``held`` lets the first one go on and refuses the second with one line naming the run that
holds the lock. A lock is an ``flock`` on a small file, so the kernel releases it when its holder
ends in any way, a SIGKILL included: there is no stale lock to clean up by hand.

The file also holds what its holder noted (who, since when, and anything ``note`` adds) until the
holder ends cleanly and empties it. So the next holder of the same lock learns, as ``stale``,
what a killed run was doing: a deploy that was interrupted notes enough to be undone.

Locks live in ``AIRGAPKIT_LOCK_DIR``, else in ``airgapkit-locks-<uid>`` under the temporary folder:
one place per user for every working folder; runs of two users are not kept apart (POSIX only:
``fcntl``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import AirgapError

LOCK_DIR_VAR = "AIRGAPKIT_LOCK_DIR"


class Busy(AirgapError):
    """Another run holds the lock."""


def lock_dir() -> Path:
    """This user's lock folder (mode 0700), refused if someone else owns it."""
    default = Path(tempfile.gettempdir()) / f"airgapkit-locks-{os.getuid()}"
    folder = Path(os.environ.get(LOCK_DIR_VAR) or default)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(folder, exc) from exc
    if folder.stat().st_uid != os.getuid():
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
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        os.ftruncate(self._fd, 0)  # emptied: the next holder knows this run ended cleanly
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


@contextmanager
def held(kind: str, key: str, what: str) -> Iterator[Lock]:
    """Hold the lock for ``key`` while the block runs; Busy if another run holds it.

    ``what`` says in words what this run does (``deploy of tms-api``), for the other run's
    refusal.
    """
    path = lock_path(kind, key)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise _unusable(path.parent, exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        holder = _read(fd)
        os.close(fd)
        raise Busy(_busy_message(what, holder, path)) from exc
    lock = Lock(fd, _read(fd), _info(what, key))
    try:
        yield lock
    finally:
        lock.release()


def _info(what: str, key: str) -> dict:
    return {
        "what": what,
        "key": key,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _read(fd: int) -> dict | None:
    data = os.pread(fd, 65536, 0)
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
