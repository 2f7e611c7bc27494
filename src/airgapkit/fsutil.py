"""Files on disk: the one way a file gets its final name, and the small path rules around it.

Everything airgapkit writes (archives, tars, hash files, password files, extracted members, build
contexts' files) is written under a temporary name beside its destination and renamed onto it only
once it is complete and synced, so a reader never sees half a file under a final name. The
temporary names have one recognisable shape (``.NAME.<12 hex>.airgapkit-part``), so airgapkit's own
leftovers from a killed run can be told apart from anything else in a folder.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from .errors import AirgapError

CHUNK = 1 << 20  # streams move 1 MiB at a time: memory stays flat whatever the size
TEMP_SUFFIX = ".airgapkit-part"
_DRIVE = re.compile(r"^[A-Za-z]:")  # a Windows drive letter, with or without a separator after it
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}" + re.escape(TEMP_SUFFIX) + "$")


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it, symbolic links resolved."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def is_absolute_name(name: str) -> bool:
    """Whether a ``/``-separated name is absolute on some system: ``/x``, ``//server/x``, ``C:/x``,
    ``C:x`` (names from another machine: hash files, archive members)."""
    return name.startswith("/") or _DRIVE.match(name) is not None


def leaves_folder(name: str) -> bool:
    """Whether a ``/``-separated name, read relative to a folder, could land outside it: absolute
    (see ``is_absolute_name``) or with a ``..`` part. ``is_inside`` is the same rule on disk."""
    return is_absolute_name(name) or ".." in name.split("/")


def temp_path(dest: Path) -> Path:
    """A fresh temporary name beside ``dest``, in the shape ``is_leftover`` recognises."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def is_leftover(path: Path) -> bool:
    """Whether ``path`` has the shape of airgapkit's own temporary names."""
    return TEMP_NAME.match(Path(path).name) is not None


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under a temporary name and given ``dest`` only when complete.

    ``with AtomicFile(dest) as out: out.file.write(...)`` renames onto ``dest`` when the block ends
    cleanly and removes the temporary file when it ends by an exception (Ctrl-C included). Several
    files that must appear together call ``finish()`` on each, then ``commit()`` on each in the
    order they should appear. ``overwrite=False`` refuses to replace an existing ``dest``, even one
    that appears while the file is written. ``mode`` is set before any byte is written.
    """

    def __init__(self, dest: Path, *, mode: int = 0o644, overwrite: bool = True):
        self.dest = Path(dest)
        self.mode = mode
        self.overwrite = overwrite
        self.tmp: Path | None = None
        self.file = None
        self.committed = False

    def open(self) -> AtomicFile:
        if self.dest.is_dir():
            raise AirgapError(f"{self.dest} is a folder; name a file to write")
        if not self.overwrite and _exists(self.dest):
            raise AirgapError(f"{self.dest} already exists; move it away or choose another name")
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.dest)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.tmp, flags, self.mode)
        os.fchmod(fd, self.mode)  # whatever the umask made of it
        self.file = os.fdopen(fd, "wb")
        return self

    def finish(self) -> None:
        """Flush, sync and close the temporary file; it keeps its temporary name."""
        if self.file is not None and not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()

    def commit(self) -> Path:
        """Give the finished file its final name (and make the rename durable)."""
        self.finish()
        if self.overwrite:
            os.replace(self.tmp, self.dest)
        else:
            _link_new(self.tmp, self.dest)
        self.tmp, self.committed = None, True
        fsync_dir(self.dest.parent)
        return self.dest

    def discard(self) -> None:
        """Close and remove the temporary file; ``dest`` stays as it was."""
        try:
            if self.file is not None and not self.file.closed:
                self.file.close()
        finally:
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
                self.tmp = None

    def __enter__(self) -> AtomicFile:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.discard()
            return False
        try:
            if not self.committed:
                self.commit()
        except BaseException:
            self.discard()
            raise
        return False


def write_atomic(dest: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> Path:
    """Write a small file whole under ``dest`` (see ``AtomicFile``)."""
    with AtomicFile(dest, mode=mode, overwrite=overwrite) as out:
        out.file.write(data)
    return Path(dest)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _link_new(tmp: Path, dest: Path) -> None:
    """Give ``tmp`` the name ``dest`` only if nothing has that name (hard link, then unlink)."""
    try:
        os.link(tmp, dest)
    except FileExistsError as exc:
        raise AirgapError(f"{dest} already exists; move it away or choose another name") from exc
    except OSError as exc:  # a file system without hard links: check, then rename
        if _exists(dest):
            raise AirgapError(
                f"{dest} already exists; move it away or choose another name"
            ) from exc
        os.replace(tmp, dest)
        return
    tmp.unlink()
