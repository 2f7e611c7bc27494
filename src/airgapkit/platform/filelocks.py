"""File locks on an open descriptor through portalocker: ``flock`` on POSIX, ``LockFileEx`` /
``msvcrt.locking`` on Windows. Either way the system releases a lock when its holder ends, a kill
included, and the locked file keeps its contents (``locks.py`` keeps its holder's note there).

On Windows a lock is mandatory for other processes: the locked bytes cannot be read by anyone but
its holder until it is released. Only the holder reads and writes a locked file here.
"""

from __future__ import annotations

import portalocker

EXCLUSIVE = portalocker.LockFlags.EXCLUSIVE
NOW = portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING


def lock(fd: int) -> None:
    """Lock the file open on ``fd``, waiting for another holder to let it go."""
    portalocker.lock(fd, EXCLUSIVE)


def try_lock(fd: int) -> bool:
    """Lock the file open on ``fd`` if nobody holds it; False (and nothing held) if someone does.
    A file that cannot be locked at all (a file system without locks) is an ``OSError``."""
    try:
        portalocker.lock(fd, NOW)
    except portalocker.AlreadyLocked:
        return False
    except portalocker.LockException as exc:
        raise OSError(f"the file system refused a lock ({exc})") from exc
    return True


def unlock(fd: int) -> None:
    portalocker.unlock(fd)
