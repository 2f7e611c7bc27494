"""What differs between the systems airgapkit runs on: POSIX (Linux, macOS) and Windows.

Every call that exists on one of them only lives here (``posix.py``, ``windows.py``: the same names
in each); the rest of airgapkit asks this package. A lint rule (ruff's banned-api, configured in
pyproject.toml) refuses POSIX-only modules and calls anywhere else.

- ``BINARY``, ``NOFOLLOW``: flags for ``os.open`` (``O_BINARY`` where it exists; ``O_NOFOLLOW``
  where it exists), ``open_nohang`` a file to read that cannot hang the open (a FIFO on POSIX);
- ``pread``, ``pwrite``: read and write at an offset, the file position left alone;
- ``set_mode`` a file's permission bits; a mode with no group or other bits (``0o600``) is a
  secret file: on Windows, an ACL that lets its owner alone in; ``private_folder`` likewise;
  ``PRIVATE`` says which in words;
- ``loose_mode`` (a secret file others may read) and ``private_command`` (the command to fix it);
- ``user_key`` and ``owns``: whose lock folder this is;
- ``lock``, ``try_lock``, ``unlock``: a file lock a killed holder releases (portalocker), which
  keeps the file's contents;
- ``quote``, ``join``, ``SHELL``: commands printed for a person, in this system's shell.
"""

from __future__ import annotations

import os

from .filelocks import lock, try_lock, unlock

if os.name == "nt":
    from .windows import *  # noqa: F403 - the same names as posix.py (tests/test_platform.py)
    from .windows import __all__ as _chosen
else:
    from .posix import *  # noqa: F403
    from .posix import __all__ as _chosen

__all__ = ["lock", "try_lock", "unlock", *_chosen]
