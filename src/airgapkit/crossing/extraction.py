"""Safe extraction of an opened archive: plan every member first, then commit them all at once.

PLAN: the whole archive is checked before anything is written (safe names, no duplicates, only
regular files and folders, every member encrypted, sizes that do not lie or explode, a total under
the cap), whichever members are asked for; then each wanted member gets its place: a destination
that stays under the folder through any symbolic link, no file there unless ``force``, a listed
SHA-256 when hashes are given, and the free space they need together.

COMMIT: each member streams to a temporary file beside its final name (``fsutil.AtomicFile``); only
when every member's HMAC, byte count and listed SHA-256 checked do they get their final names. An
error or an interrupt (Ctrl-C included) removes the temporary files and the folders made for them.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import display, fsutil, platform
from ..errors import AirgapError, IntegrityError, UnsafeArchive
from ..fsutil import MEMBER_CHUNK
from .archive import NOTHING_DONE, ArchiveReader, safe_member_name

MAX_TOTAL = 64 << 30  # refuse to extract more than 64 GiB in all unless told otherwise
MAX_RATIO = 1000  # refuse members that expand more than 1000:1 ...
RATIO_FREE_BYTES = 8 << 20  # ... once they are over 8 MiB
MAX_DEPTH = 64  # folders in one member name; deeper is a crafted archive, not an app
NAME_MAX = 255  # bytes in one name (ext4, XFS, NTFS, APFS alike)
PATH_MAX = 4095  # bytes in a whole path (Linux's PATH_MAX less its NUL)


# --- plan: the whole archive checked, each wanted member given its place ----------------------------


@dataclass
class PlannedFile:
    """One file member: where it goes, the SHA-256 listed for it, its temporary file once begun."""

    info: object
    final: Path
    expected: str | None
    out: fsutil.AtomicFile | None = None


@dataclass
class Plan:
    """Everything ``commit`` will do, decided before a byte is written."""

    root: Path  # the destination, resolved
    folders: list[Path]
    files: list[PlannedFile]
    force: bool


def check_members(reader: ArchiveReader, max_total: int = MAX_TOTAL, max_ratio: int = MAX_RATIO):
    """Refuse the archive if any member is unsafe: names, types, duplicates, sizes. Returns infos."""
    seen: dict[str, str] = {}  # case-folded path -> member name
    total = 0
    infos = reader.infos()
    for info in infos:
        name = safe_member_name(info.filename)
        _refuse_duplicate(reader.path, info, name, seen)
        if _is_folder(reader.path, info, name):
            continue
        reader.check_member(info)
        _refuse_bomb(reader.path, info, max_ratio)
        total += info.file_size
    if total > max_total:
        raise UnsafeArchive(
            f"{reader.path} would extract {total} bytes, over the {max_total} byte cap; raise the "
            "cap if this is expected"
        )
    _refuse_file_over_folder(reader.path, seen)
    return infos


def _refuse_duplicate(archive: Path, info, name: str, seen: dict[str, str]) -> None:
    key = name.rstrip("/").casefold()
    if key in seen:
        raise UnsafeArchive(
            f"{archive} holds {info.filename!r} twice (or differing only in case); {NOTHING_DONE}"
        )
    seen[key] = name


def _is_folder(archive: Path, info, name: str) -> bool:
    """Whether the member is a folder; a symbolic link or any other special file is refused."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise UnsafeArchive(
            f"{archive}: member {info.filename!r} is a symbolic link; {NOTHING_DONE}"
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchive(
            f"{archive}: member {info.filename!r} is not a regular file (mode {mode:o}); "
            f"{NOTHING_DONE}"
        )
    return name.endswith("/") or kind == stat.S_IFDIR


def _refuse_bomb(archive: Path, info, max_ratio: int) -> None:
    size, packed = info.file_size, info.compress_size
    if size > RATIO_FREE_BYTES and size > max_ratio * max(packed, 1):
        raise UnsafeArchive(
            f"{archive}: member {info.filename} would expand from {packed} to {size} bytes (over "
            f"{max_ratio}:1); refusing it as a zip bomb"
        )


def _refuse_file_over_folder(archive: Path, seen: dict[str, str]) -> None:
    """A folder member and a file member must not claim the same path prefix."""
    files = {key for key, name in seen.items() if not name.endswith("/")}
    for key in seen:
        parts = key.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise UnsafeArchive(
                    f"{archive}: member {key!r} lies under a file member of the same name; "
                    "refusing the archive"
                )


def plan(
    reader: ArchiveReader,
    names: Iterable[str] | None,
    dest: Path,
    *,
    expected: dict[str, str] | None = None,
    force: bool = False,
    max_total: int = MAX_TOTAL,
    max_ratio: int = MAX_RATIO,
) -> Plan:
    """Check the whole archive, then place the named members (all when ``names`` is None)."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise AirgapError(f"--dest {dest} is a file, not a folder; name a folder to extract into")
    infos = _wanted(reader, check_members(reader, max_total, max_ratio), names)
    root = dest.resolve()  # the folder itself is made only when the plan is carried out
    folders: list[Path] = []
    files: list[PlannedFile] = []
    for info in infos:
        name = safe_member_name(info.filename)
        _check_fits(dest, name)
        if _is_folder(reader.path, info, name):
            folders.append(dest / name.rstrip("/"))
        else:
            final = _place(dest, root, name, force)
            files.append(PlannedFile(info, final, _listed_hash(reader.path, name, expected)))
    need = sum(f.info.file_size for f in files)
    fsutil.check_free_space(dest, need, f"extracting {reader.path.name}")
    return Plan(root, folders, files, force)


def _check_fits(dest: Path, name: str) -> None:
    """Refuse a member name the file system cannot hold, or one nested deeper than any real one;
    and a file already in the destination where the member needs a folder."""
    parts = name.rstrip("/").split("/")
    if len(parts) > MAX_DEPTH:
        raise UnsafeArchive(
            f"member {display.safe(name[:80])}... is nested {len(parts)} folders deep (more than "
            f"{MAX_DEPTH}); {NOTHING_DONE}"
        )
    longest = max(len(p.encode("utf-8", "surrogateescape")) for p in parts)
    full = len(str(dest.absolute() / name).encode("utf-8", "surrogateescape"))
    if longest > NAME_MAX or full > PATH_MAX:
        raise UnsafeArchive(
            f"member {display.safe(name[:80])}... has a name too long for the file system "
            f"({longest} bytes in one part, {full} in all; at most {NAME_MAX} and {PATH_MAX}); "
            f"{NOTHING_DONE}"
        )
    for i in range(1, len(parts)):
        above = dest.joinpath(*parts[:i])
        if above.exists() and not above.is_dir():  # a link to a folder: _place judges it
            raise AirgapError(
                f"{above} is a file, but member {display.safe(name)} needs a folder there; move it "
                "away (nothing extracted)"
            )


def _wanted(reader: ArchiveReader, infos: list, names: Iterable[str] | None) -> list:
    if names is None:
        return infos
    wanted = list(names)
    for name in wanted:
        reader.info(name)  # an unknown name is an error, not an empty extraction
    return [info for info in infos if info.filename in wanted]


def _place(dest: Path, root: Path, name: str, force: bool) -> Path:
    final = dest / name
    if not fsutil.is_inside(final.parent, root):
        raise UnsafeArchive(
            f"member {name} would land outside {dest} through a symbolic link there; {NOTHING_DONE}"
        )
    if final.is_symlink() or (final.exists() and not final.is_file()):
        raise UnsafeArchive(f"{final} exists and is not a regular file; move it away first")
    if final.exists() and not force:
        raise AirgapError(
            f"{final} already exists; move it away (inv extract --force overwrites it) "
            "(nothing extracted)"
        )
    return final


def _listed_hash(archive: Path, name: str, expected: dict[str, str] | None) -> str | None:
    if expected is None:
        return None
    listed = expected.get(name) or expected.get(PurePosixPath(name).name)
    if listed is None:
        raise IntegrityError(
            f"member {name} of {archive} is not listed in the hashes given for it; refusing to "
            "extract an unlisted file"
        )
    return listed


# --- commit: every member to a temporary file, checked, then all renamed ----------------------------


def commit(reader: ArchiveReader, plan: Plan) -> list[Path]:
    """Carry out ``plan``: all files appear under their final names, or none. The destination
    folder is made here, and removed again if the extraction fails and leaves it empty."""
    created: list[Path] = []
    try:
        _makedirs(plan.root, plan.root, created)
        fsutil.remove_leftovers(plan.root, recursive=True)
        for folder in plan.folders:
            _makedirs(folder, plan.root, created)
        for planned in plan.files:
            _makedirs(planned.final.parent, plan.root, created)
            _write_aside(reader, planned, plan.force)
        reader.check_unchanged()  # the archive read is the archive that was hashed
        for planned in plan.files:  # every member checked: now give them their names
            if planned.final.exists() and not plan.force:
                raise AirgapError(
                    f"{planned.final} appeared during extraction; move it away (inv extract "
                    "--force overwrites it)"
                )
            planned.out.commit()
    except OSError as exc:
        _undo(plan, created)
        raise _os_error(exc, plan) from exc
    except BaseException:
        _undo(plan, created)
        raise
    return [planned.final for planned in plan.files]


def _os_error(exc: OSError, plan: Plan) -> BaseException:
    """One line for what the file system refused while extracting."""
    if (full := fsutil.disk_full(plan.root / "x", exc)) is not None:
        return full
    where = exc.filename or plan.root
    return AirgapError(
        f"cannot write {where} ({exc.strerror or exc}); check the destination folder (nothing "
        "extracted)"
    )


def _write_aside(reader: ArchiveReader, planned: PlannedFile, force: bool) -> None:
    """Stream the member into its temporary file, checked to its end; mode and time set after."""
    planned.out = fsutil.AtomicFile(planned.final, mode=0o600, overwrite=force).open()
    with reader.open_raw(planned.info.filename, planned.expected) as src:
        while data := src.read(MEMBER_CHUNK):
            planned.out.file.write(data)
    planned.out.finish()
    info = planned.info
    platform.set_mode(planned.out.tmp, ((info.external_attr >> 16) & 0o755 or 0o644) | 0o600)
    try:
        mtime = time.mktime(info.date_time + (0, 0, -1))
        os.utime(planned.out.tmp, (mtime, mtime))
    except (OverflowError, ValueError):
        pass


def _makedirs(folder: Path, root: Path, created: list[Path]) -> None:
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        p.mkdir()
        created.append(p)
    if not fsutil.is_inside(folder, root):
        raise UnsafeArchive(f"{folder} lies outside {root} (through a symbolic link); refusing")


def _undo(plan: Plan, created: list[Path]) -> None:
    for planned in plan.files:
        if planned.out is not None:
            planned.out.discard()  # a no-op once it has its final name
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            pass


# --- the two ways in ------------------------------------------------------------------------------


def extract_members(
    reader: ArchiveReader, names: Iterable[str] | None, dest: Path, **options
) -> list[Path]:
    """Extract the named members (all when ``names`` is None) safely under ``dest``; the whole
    archive's names and sizes are checked first, whichever members are asked for.

    ``options`` are ``plan``'s: ``expected`` maps member names to SHA-256 hex (every extracted file
    must be listed and match); existing files are never overwritten unless ``force``.
    """
    return commit(reader, plan(reader, names, dest, **options))


def extract_all(reader: ArchiveReader, dest: Path, **options) -> list[Path]:
    """Extract every member under ``dest`` safely; all files appear, or none (see
    ``extract_members`` for the options)."""
    return extract_members(reader, None, dest, **options)
