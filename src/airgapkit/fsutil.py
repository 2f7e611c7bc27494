"""Files on disk: the one way a file gets its final name, and the small path rules around it.

Everything airgapkit writes (archives, tars, hash files, password files, extracted members, build
contexts' files) is written under a temporary name beside its destination and renamed onto it only
once it is complete and synced, so a reader never sees half a file under a final name. The
temporary names have one recognisable shape (``.NAME.<12 hex>.airgapkit-part``), so airgapkit's own
leftovers from a killed run can be told apart from anything else in a folder.
"""

from __future__ import annotations

import errno
import io
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich import filesize

from . import platform
from .errors import AirgapError

LEFTOVER_GRACE = 2.0  # seconds: a temporary file younger than this may be one being created now
# Every chunk size, here alone. Streams move 1 MiB at a time: memory stays flat whatever the size;
# deflate measured alike from 256 KiB to 4 MiB (smaller ones lose ratio to the flushes).
CHUNK = 1 << 20
MEMBER_CHUNK = 256 << 10  # an archive member read and written: measured faster than 1 MiB here
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
    that appears while the file is written. ``mode`` is set before any byte is written; a mode
    with no group or other bits (``0o600``) makes a secret file, which on Windows (no mode bits
    there) gets an ACL that lets its owner alone in (``platform.set_mode``).
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
        refuse_special(self.dest)
        if not self.overwrite and _exists(self.dest):
            raise AirgapError(f"{self.dest} already exists; move it away or choose another name")
        tmp = temp_path(self.dest)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | platform.NOFOLLOW | platform.BINARY
        with creating(self.dest):
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, self.mode)
        self.tmp = tmp
        try:
            # whatever the umask made of it; a 0600 file gets an owner-only ACL on Windows
            platform.set_mode(self.tmp, self.mode, fd)
            platform.lock(fd)  # in use: remove_leftovers leaves it alone
        except BaseException:
            os.close(fd)
            self.tmp.unlink(missing_ok=True)
            raise
        self.file = os.fdopen(fd, "wb")
        return self

    def finish(self) -> None:
        """Flush, sync and close the temporary file; it keeps its temporary name. A full disk is
        one line (``disk_full``)."""
        if self.file is not None and not self.file.closed:
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
                self.file.close()
            except OSError as exc:
                if (full := disk_full(self.dest, exc)) is not None:
                    raise full from exc
                raise

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
        """Close and remove the temporary file; ``dest`` stays as it was. Never raises for the
        close itself: on a full disk the close's own flush fails too, and the file must go anyway."""
        try:
            if self.file is not None and not self.file.closed:
                try:
                    self.file.close()
                except OSError:
                    pass  # the descriptor is closed all the same (io closes it before raising)
        finally:
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
                self.tmp = None

    def __enter__(self) -> AtomicFile:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.discard()
            if (full := disk_full(self.dest, exc)) is not None:
                raise full from exc
            return False
        try:
            if not self.committed:
                self.commit()
        except BaseException:
            self.discard()
            raise
        return False


def write_aside(
    dest: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = True
) -> AtomicFile:
    """A small file written whole and synced under ``dest``'s temporary name; the caller commits it
    (or discards it) when the files it goes with are final too."""
    out = AtomicFile(dest, mode=mode, overwrite=overwrite).open()
    try:
        out.file.write(data)
        out.finish()
    except BaseException:
        out.discard()
        raise
    return out


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


# --- destinations ---------------------------------------------------------------------------------


def file_in_the_way(folder: Path) -> Path | None:
    """The file that keeps ``folder`` from being (made) a folder: itself or one above it."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.is_dir():
            return None
        if _exists(path):
            return path
    return None


def require_folder(folder: Path, flag: str) -> Path:
    """``folder`` if it is a folder or can be made one; else one line naming the file in the way.

    ``flag`` is the option or setting that named it (``--output``, ``out_dir``), so the message
    says what to change.
    """
    blocker = file_in_the_way(folder)
    if blocker is not None:
        raise AirgapError(
            f"{flag} {folder}: {blocker} is a file, not a folder; name a folder, or move that "
            "file away"
        )
    return Path(folder)


def refuse_special(dest: Path) -> None:
    """Refuse a ``dest`` that exists and is not a regular file: a rename onto a symbolic link,
    a FIFO or a device node would replace it with a file (``/dev/full`` made a 74 KB file)."""
    try:
        mode = os.lstat(dest).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        kind = _SPECIAL.get(stat.S_IFMT(mode), "special file")
        raise AirgapError(
            f"{dest} is a {kind}, not a regular file; airgapkit writes only files it may "
            "replace: name another file"
        )


_SPECIAL = {
    stat.S_IFLNK: "symbolic link",
    stat.S_IFIFO: "FIFO",
    stat.S_IFCHR: "device",
    stat.S_IFBLK: "device",
    stat.S_IFSOCK: "socket",
}


def output_file(path: Path, flag: str) -> Path:
    """A file the user named to be written (``--output``): checked before any work is done. Its
    folder must exist (a typo must not make folders), and it must not be a folder or a special
    file (``refuse_special``)."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if _exists(folder) else "does not exist"
        raise AirgapError(f"{flag} {path}: {folder} {what}; make the folder first or name another")
    if path.is_dir():
        raise AirgapError(f"{flag} {path} is a folder; name a file to write")
    refuse_special(path)
    return path


_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextmanager
def creating(dest: Path) -> Iterator[None]:
    """Make what ``dest`` needs (its folder, its temporary name) in the block; a folder that does
    not let this user do so, or a full disk, is one line (``not_writable``), not a traceback."""
    try:
        yield
    except OSError as exc:
        if (refused := not_writable(dest, exc)) is not None:
            raise refused from exc
        raise


def not_writable(dest: Path, exc: BaseException) -> AirgapError | None:
    """The one-line error for a file ``dest`` its folder does not let this user make (permissions,
    ``chattr +i``, a read-only mount), or for a full disk (``disk_full``); None for other errors."""
    if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
        return AirgapError(
            f"cannot write {Path(dest).name} in {Path(dest).parent} ({exc.strerror}); choose a "
            "folder this user may write in, or make it writable"
        )
    return disk_full(dest, exc)


# --- space on the device ------------------------------------------------------------------------

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(dest: Path, exc: BaseException) -> AirgapError | None:
    """The one-line error for a write to ``dest`` that ran out of space (None for other errors)."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return AirgapError(
            f"no space left in {Path(dest).parent} while writing {Path(dest).name}; free some "
            "space there or choose another folder (nothing was left half-written)"
        )
    return None


def free_bytes(folder: Path) -> int:
    """Free bytes on the device that holds ``folder`` (or the nearest folder above it that exists)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_free_space(folder: Path, need: int, what: str) -> None:
    """Refuse before writing when ``folder``'s device has less than ``need`` bytes free."""
    free = free_bytes(folder)
    if need > free:
        raise AirgapError(
            f"{what} needs {human_size(need)} in {folder} but only {human_size(free)} is free "
            "there; free some space or choose another folder"
        )


def human_size(n: int) -> str:
    """Bytes in the unit a person reads: ``512 bytes``, ``3.4 MB``, ``1.3 GB`` (powers of 1000, as
    docker prints sizes): every size airgapkit shows, in rich's one format."""
    return filesize.decimal(n)


# --- leftovers of killed runs -------------------------------------------------------------------


def remove_leftovers(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Remove airgapkit's own temporary files (``is_leftover`` names only) that no running process
    is writing (each writer holds a lock on its file), and say so on stderr. Nothing else is
    touched; symbolic links are not followed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(root) / name
            if is_leftover(path) and _unused(path):
                path.unlink(missing_ok=True)
                removed.append(path)
        if not recursive:
            break
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    if removed:
        shown = ", ".join(p.name for p in removed[:5]) + (" ..." if len(removed) > 5 else "")
        print(
            f"airgapkit: removed {len(removed)} leftover file(s) of an interrupted airgapkit run "
            f"in {folder}: {shown}",
            file=sys.stderr,
        )
    return removed


def remove_leftover_folders(folder: Path) -> list[Path]:
    """Remove the folders of airgapkit's temporary shape in ``folder`` (a killed run's staging, as
    ``npm pack``'s), and say so. A folder holds no writer's lock of its own: the caller holds the
    lock of the work that makes such folders there, so none of them is in use."""
    folder = Path(folder)
    found = [p for p in folder.iterdir() if is_leftover(p) and p.is_dir() and not p.is_symlink()]
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    if found:
        print(
            f"airgapkit: removed {len(found)} leftover folder(s) of an interrupted airgapkit run in "
            f"{folder}: {', '.join(p.name for p in found)}",
            file=sys.stderr,
        )
    return found


def _unused(path: Path) -> bool:
    """Whether ``path`` is a regular file no process holds the writer's lock on."""
    try:
        fd = os.open(path, os.O_RDONLY | platform.NOFOLLOW | platform.BINARY)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or time.time() - st.st_mtime < LEFTOVER_GRACE:
            return False  # not a file, or so new its writer may not hold its lock yet
        return platform.try_lock(fd)  # False while a run is writing it
    except OSError:
        return False
    finally:
        os.close(fd)


# --- reading what was verified ------------------------------------------------------------------


class PinnedFile(io.FileIO):
    """A regular file opened for reading, with its identity (device, inode, size, mtime_ns) taken
    when opened: ``check_unchanged()`` refuses if it was written to since, so the bytes that were
    hashed through this open file are the bytes that are used. A path replaced meanwhile does not
    matter: this descriptor still reads the file that was opened."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            # a FIFO or device given as the archive must not hang the open
            fd = platform.open_nohang(self.path)
        except FileNotFoundError as exc:
            raise AirgapError(f"{self.path}: no such file; check the path") from exc
        except (IsADirectoryError, PermissionError) as exc:
            if self.path.is_dir():  # Windows refuses to open a folder with "permission denied"
                raise AirgapError(f"{self.path} is a folder; name a file") from exc
            raise AirgapError(f"{self.path}: permission denied; make it readable") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            if stat.S_ISDIR(st.st_mode):
                raise AirgapError(f"{self.path} is a folder; name a file")
            raise AirgapError(f"{self.path} is not a regular file; give the file itself")
        super().__init__(fd, "rb", closefd=True)
        self.identity = _identity(st)
        self.size = st.st_size

    def check_unchanged(self) -> None:
        if _identity(os.fstat(self.fileno())) != self.identity:
            raise AirgapError(
                f"{self.path} changed while it was being read (size or time differ from when it "
                "was checked); nothing from it was used: copy it again and run once more"
            )


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
