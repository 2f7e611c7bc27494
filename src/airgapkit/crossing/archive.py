"""AES-256 zip archives (WinZip AE-2, through pyzipper) written and opened as streams, and safe extraction.

Writing: each member goes through pyzipper's streamed writer (``AESZipFile.open(info, "w",
force_zip64=True)``), which encrypts with AES-256 in CTR mode and appends the HMAC-SHA1 authentication
code as it goes; ZIP64 is forced for every member, so a member over 4 GB needs no size known in advance.
Its encrypter and member writer are replaced by cheaper ones with the same output (``aeszip.AESEncrypter``,
``aeszip.WriteFile``), as the reader's decrypter is. Memory stays flat whatever the size: files are read in
256 KiB chunks into one reused buffer. The archive is written to a temporary
file beside its destination and renamed onto it only when everything was written. pyzipper writes
into it through a sink that cannot seek, so each member's sizes go in a data descriptor after its
data (instead of a seek back to patch the local header) and every byte of the archive passes the
sink exactly once, in order: the archive's own SHA-256 is known when it is closed, with no second
read.

Opening: ``extract`` checks the archive's SHA-256 against the separately delivered SHA256SUMS before
decrypting anything, then ``ArchiveReader.extract_all`` checks every member name, type and size before
writing a byte, streams each member to a temporary file, and renames all of them onto their final names
only when every member's HMAC (checked by pyzipper at the member's end, which is why each is read to
EOF), byte count and listed SHA-256 check.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import shutil
import stat
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyzipper
from pyzipper.zipfile_aes import (
    AESZipInfo,
)

from ..crossing import digest, passwords
from ..crossing import zipaes as aeszip
from ..errors import AirgapError, IntegrityError, PasswordError, UnsafeArchive

CHUNK = 1 << 20
# archiving reads its input in these: 64 KiB to 1 MiB measured alike here, 4 MiB slower
WRITE_CHUNK = 256 << 10
READ_CHUNK = (
    256 << 10
)  # extraction reads; measured faster than 1 MiB here (smaller buffers, reused)
MAX_TOTAL = 64 << 30  # refuse to extract more than 64 GiB in all unless told otherwise
MAX_RATIO = 1000  # refuse members that expand more than 1000:1 ...
RATIO_FREE_BYTES = 8 << 20  # ... once they are over 8 MiB
SMALL_MEMBER = 16 << 20  # read_bytes limit by default

_DRIVE = re.compile(r"^[A-Za-z]:")
_DAMAGE = (
    pyzipper.BadZipFile,
    EOFError,
    ValueError,
    struct.error,
    zlib.error,
    NotImplementedError,
    KeyError,
    IndexError,
)


def _pw_bytes(password: bytes | str) -> bytes:
    pw = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    if not pw:
        raise PasswordError(
            "empty password; give one through AIRGAPKIT_PASSWORD, --password-file or the prompt"
        )
    return pw


def safe_member_name(name: str) -> str:
    """The member name as a relative POSIX path, or UnsafeArchive if it could land outside the folder.

    Refused: empty names, NUL, absolute paths, drive letters (``C:``), UNC paths, and any ``..``
    component (``\\`` counts as a separator, as it does for the Windows tools on the other side).
    """
    if not name or "\0" in name:
        raise UnsafeArchive(f"member name {name!r} is empty or holds NUL; refusing the archive")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise UnsafeArchive(
            f"member {name!r} has an absolute path or drive letter; refusing the "
            "archive (nothing extracted)"
        )
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(
            f"member {name!r} climbs out of the destination with '..'; refusing "
            "the "
            "archive (nothing extracted)"
        )
    if not parts:
        raise UnsafeArchive(f"member name {name!r} names no file; refusing the archive")
    return "/".join(parts) + ("/" if norm.endswith("/") else "")


# --- writing ------------------------------------------------------------------------------------


class ArchiveWriter:
    """Write an AES-256 zip to ``dest``, atomically: a temporary file renamed onto ``dest`` on success.

    ``level`` 0 stores, 1-9 deflate. Leaving the ``with`` block by an exception (KeyboardInterrupt
    included) removes the temporary file and leaves ``dest`` as it was.
    """

    def __init__(self, dest: Path, password: bytes | str, level: int = 6, progress: bool = True):
        if not (isinstance(level, int) and 0 <= level <= 9):
            raise AirgapError(
                f"compression level {level!r} is not 0-9; use 0 to store, 1-9 to deflate"
            )
        self.dest = Path(dest)
        self.level = level
        self.progress = progress
        self._password = _pw_bytes(password)
        self._names: set[str] = set()
        self.members: dict[str, tuple[str, int]] = {}  # arcname -> (sha256 hex, size)
        self._zf = None
        self._tmp: Path | None = None
        self.sha256: str | None = None  # the whole archive's, once the 'with' block ends cleanly
        self.size: int | None = None

    def __enter__(self) -> ArchiveWriter:
        if self.dest.is_dir():
            raise AirgapError(
                f"{self.dest} is a folder; give the archive a file name ending in .zip"
            )
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.dest.with_name(f".{self.dest.name}.{secrets.token_hex(6)}.part")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._file = os.fdopen(fd, "wb")
        self._sink = aeszip.ForwardSink(self._file)
        self._zf = aeszip.ZipWriter(
            self._sink,
            "w",
            compression=pyzipper.ZIP_DEFLATED if self.level else pyzipper.ZIP_STORED,
            compresslevel=self.level or None,
            allowZip64=True,
            encryption=pyzipper.WZ_AES,
            encryption_kwargs=aeszip.AES_KWARGS,
        )
        self._zf.setpassword(self._password)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._zf.close()
                self.sha256, self.size = self._sink.hexdigest(), self._sink.size
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
                os.replace(self._tmp, self.dest)
                _fsync_dir(self.dest.parent)
            else:
                self._abandon()
        except BaseException:
            self._abandon()
            raise
        return False

    def _abandon(self) -> None:
        try:
            self._zf.fp = None  # do not let pyzipper write a central directory into a file we drop
            self._file.close()
        finally:
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def _info(self, arcname: str, mtime: float | None = None) -> AESZipInfo:
        name = safe_member_name(arcname)
        if name.endswith("/"):
            raise AirgapError(f"member name {arcname!r} ends with '/'; name a file")
        if name.casefold() in self._names:
            raise AirgapError(f"{name} is already in the archive; give each file a different name")
        self._names.add(name.casefold())
        info = AESZipInfo(name, date_time=time.localtime(mtime or time.time())[:6])
        info.compress_type = pyzipper.ZIP_DEFLATED if self.level else pyzipper.ZIP_STORED
        info._compresslevel = self.level or None
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        info.create_system = 3  # unix, so the mode bits above are read as such
        return info

    def _write(self, info: AESZipInfo, chunks: Iterable[bytes], total: int = 0) -> tuple[str, int]:
        if self._zf is None:
            raise AirgapError("ArchiveWriter used outside its 'with' block")
        with self._zf.open(info, "w", force_zip64=True) as member:
            sink = digest.HashingWriter(member)
            with digest.progress_bar(total, f"archive {info.filename}", self.progress) as bar:
                for chunk in chunks:
                    sink.write(chunk)
                    bar.advance(len(chunk))
        self.members[info.filename] = (sink.hexdigest(), sink.size)
        return sink.hexdigest(), sink.size

    def add_file(self, src: Path, arcname: str | None = None) -> tuple[str, int]:
        """Add a file, streamed in 256 KiB chunks; returns (SHA-256 of its content, size)."""
        src = Path(src)
        with digest._open_input(src) as f:
            st = os.fstat(f.fileno())
            return self._write(
                self._info(arcname or src.name, st.st_mtime), _read_into(f), st.st_size
            )

    def add_stream(self, arcname: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Add a member from an iterable of byte chunks (e.g. ``docker save``), hashing on the way."""
        return self._write(self._info(arcname), chunks)

    def add_bytes(self, arcname: str, data: bytes) -> tuple[str, int]:
        """Add a small member from memory (a manifest, say)."""
        return self._write(self._info(arcname), [bytes(data)])


def _read_into(f, size: int = WRITE_CHUNK) -> Iterator[memoryview]:
    """The file's bytes as views of one reused buffer: no fresh allocation per chunk. Each view is
    valid only until the next is asked for, which suits ``_write`` (it has used it by then)."""
    buf = bytearray(size)
    view = memoryview(buf)
    while n := f.readinto(buf):
        yield view[:n]


def _fsync_dir(folder: Path) -> None:
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


# --- reading ------------------------------------------------------------------------------------


def _aes_overhead(info) -> int:
    """Bytes an AES member adds around its data: salt, password verifier, HMAC."""
    return {1: 8, 2: 12, 3: 16}.get(getattr(info, "wz_aes_strength", None) or 3, 16) + 2 + 10


def _check_declared_size(archive: Path, info) -> None:
    """A stored AES member holds exactly its declared size plus the AES overhead."""
    if info.compress_type == pyzipper.ZIP_STORED and getattr(info, "wz_aes_version", None):
        held = info.compress_size - _aes_overhead(info)
        if held != info.file_size:
            raise UnsafeArchive(
                f"{archive}: member {info.filename} declares {info.file_size} "
                "bytes "
                f"but holds {held}; refusing it"
            )


class MemberReader(io.RawIOBase):
    """A member opened for reading: decrypts as it is read, and at EOF checks (besides the HMAC, which
    pyzipper checks) that the byte count matches the declared size and, when given, the SHA-256.

    ``read(n)`` hands over pyzipper's own chunks (no copy into a caller's buffer); ``open`` wraps
    this in a BufferedReader for callers that want file semantics."""

    def __init__(self, fp, info, archive: Path, expected_sha256: str | None = None):
        super().__init__()
        self._fp, self._info, self._archive = fp, info, archive
        self._expected = expected_sha256.lower() if expected_sha256 else None
        # hashed only when there is a listed hash to compare with; the HMAC authenticates anyway
        self._sha = hashlib.sha256() if self._expected else None
        self.size = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if self._done or size == 0:
            return b""
        try:
            data = self._fp.read1(size)  # one decrypt/inflate step: no joining of partial reads
        except pyzipper.BadZipFile as exc:
            raise self._damage(exc) from None
        except _DAMAGE + (OSError,) as exc:
            raise IntegrityError(
                f"{self._archive}: member {self._info.filename} cannot be read "
                f"({exc}); the archive is damaged or truncated: fetch it again"
            ) from None
        if not data:
            self._finish()
            return b""
        if self._sha is not None:
            self._sha.update(data)
        self.size += len(data)
        return data

    def readall(self) -> bytes:
        return b"".join(iter(lambda: self.read(READ_CHUNK), b""))

    def _too_big(self) -> bool:
        """Whether the member's data goes on past its declared size."""
        dec = getattr(self._fp, "_decompressor", None)
        if isinstance(dec, aeszip.CountingDecompressor):
            return dec.produced > self._info.file_size or not getattr(dec, "eof", True)
        return getattr(self._fp, "_compress_left", 0) > 0

    def _damage(self, exc: Exception) -> AirgapError:
        name = self._info.filename
        if "HMAC" in str(exc) and self._too_big():
            return UnsafeArchive(
                f"{self._archive}: member {name} holds more data than its "
                "declared "
                f"size ({self._info.file_size} bytes); refusing it"
            )
        if "HMAC" in str(exc):
            return IntegrityError(
                f"{self._archive}: member {name} failed its authentication check "
                "(HMAC): the archive was altered or damaged; fetch it again"
            )
        return IntegrityError(
            f"{self._archive}: member {name} is damaged ({exc}); fetch the archive again"
        )

    def _finish(self) -> None:
        self._done = True
        name = self._info.filename
        if self._too_big():
            raise UnsafeArchive(
                f"{self._archive}: member {name} holds more data than its declared "
                f"size ({self._info.file_size} bytes); refusing it"
            )
        if self.size != self._info.file_size:
            raise IntegrityError(
                f"{self._archive}: member {name} gave {self.size} bytes but "
                "declares "
                f"{self._info.file_size}; the archive is damaged: fetch it again"
            )
        if self._expected and self._sha.hexdigest() != self._expected:
            raise IntegrityError(
                f"{self._archive}: member {name} has SHA-256 "
                f"{self._sha.hexdigest()} "
                f"but {self._expected} is listed for it; do not use it"
            )

    def close(self) -> None:
        if not self.closed:
            self._fp.close()
        super().close()


@dataclass
class _Plan:
    name: str  # normalised member name
    info: object
    final: Path
    tmp: Path | None = None
    expected: str | None = None


@dataclass
class Extracted:
    """What ``extract`` produced."""

    archive: Path
    archive_sha256: str
    files: list[Path] = field(default_factory=list)


class ArchiveReader:
    """Open an AES zip for reading: ``names()``, ``open(name)``, ``read_bytes``, ``extract_all``."""

    def __init__(self, path: Path, password: bytes | str):
        self.path = Path(path)
        self._password = _pw_bytes(password)
        self._zf = None
        self._open()

    def __enter__(self) -> ArchiveReader:
        return self

    def _open(self) -> None:
        try:
            self._zf = aeszip.ZipReader(self.path, "r")
        except FileNotFoundError:
            raise AirgapError(f"{self.path}: no such archive; check the path") from None
        except (IsADirectoryError, PermissionError) as exc:
            raise AirgapError(
                f"{self.path} cannot be opened ({exc.strerror}); give an archive file"
            ) from None
        except _DAMAGE as exc:
            raise IntegrityError(
                f"{self.path} is not a readable zip archive ({exc}); it is "
                "damaged or "
                "truncated: fetch it again"
            ) from None
        self._zf.setpassword(self._password)

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
            self._zf = None

    def infos(self) -> list:
        return list(self._zf.infolist())

    def names(self) -> list[str]:
        return [i.filename for i in self._zf.infolist()]

    def _getinfo(self, name: str):
        try:
            return self._zf.getinfo(name)
        except KeyError:
            raise AirgapError(
                f"{self.path} has no member {name!r}; it holds "
                f"{', '.join(self.names()) or 'nothing'}"
            ) from None

    def open(self, name: str, expected_sha256: str | None = None) -> io.BufferedReader:
        """A readable binary file that decrypts ``name`` as it is read (for streaming into docker
        load); reading to its end checks the HMAC, the size, and ``expected_sha256`` when given."""
        return io.BufferedReader(self._open_member(name, expected_sha256), CHUNK)

    def _open_member(self, name: str, expected_sha256: str | None = None) -> MemberReader:
        info = self._getinfo(name)
        if not info.flag_bits & 0x1:
            raise UnsafeArchive(
                f"{self.path}: member {name} is not encrypted; airgapkit opens "
                "only "
                "AES-encrypted members: make the archive again with a password"
            )
        _check_declared_size(self.path, info)
        try:
            fp = self._zf.open(info, "r")
            if getattr(fp, "_decompressor", None) is not None:
                fp._decompressor = aeszip.CountingDecompressor(fp._decompressor)
        except RuntimeError as exc:
            if "password" in str(exc).lower():
                raise PasswordError(
                    f"wrong password for {self.path}; check the password file or "
                    f"{passwords.ENV_VAR}"
                ) from None
            raise IntegrityError(f"{self.path}: member {name} cannot be opened ({exc})") from None
        except pyzipper.BadZipFile as exc:
            raise IntegrityError(
                f"{self.path}: member {name} is damaged ({exc}); fetch the archive again"
            ) from None
        except _DAMAGE as exc:
            raise IntegrityError(
                f"{self.path}: member {name} cannot be read ({exc}); the archive "
                "is "
                "damaged: fetch it again"
            ) from None
        return MemberReader(fp, info, self.path, expected_sha256)

    def read_bytes(self, name: str, limit: int = SMALL_MEMBER) -> bytes:
        """A small member (e.g. manifest.json) read whole; refused if it declares more than "
        "``limit``."""
        info = self._getinfo(name)
        if info.file_size > limit:
            raise UnsafeArchive(
                f"{self.path}: member {name} declares {info.file_size} bytes, more "
                f"than the {limit} allowed for it; refusing to read it into memory"
            )
        with self.open(name) as f:
            return f.read()

    def check_members(self, max_total: int = MAX_TOTAL, max_ratio: int = MAX_RATIO) -> list:
        """Refuse the archive if any member is unsafe: names, types, duplicates, sizes. Returns "
        "infos."""
        seen: dict[str, str] = {}
        total = 0
        infos = self.infos()
        for info in infos:
            name = safe_member_name(info.filename)
            key = name.rstrip("/").casefold()
            if key in seen:
                raise UnsafeArchive(
                    f"{self.path} holds {info.filename!r} twice (or differing only "
                    "in "
                    "case); refusing the archive (nothing extracted)"
                )
            seen[key] = name
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                raise UnsafeArchive(
                    f"{self.path}: member {info.filename!r} is a symbolic link; "
                    "refusing the archive (nothing extracted)"
                )
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(
                    f"{self.path}: member {info.filename!r} is not a regular file "
                    f"(mode {mode:o}); refusing the archive (nothing extracted)"
                )
            if name.endswith("/") or kind == stat.S_IFDIR:
                continue
            if not info.flag_bits & 0x1:
                raise UnsafeArchive(
                    f"{self.path}: member {info.filename} is not encrypted; "
                    "airgapkit "
                    "opens only AES-encrypted archives: make it again with a "
                    "password"
                )
            _check_declared_size(self.path, info)
            total += info.file_size
            if info.file_size > RATIO_FREE_BYTES and info.file_size > max_ratio * max(
                info.compress_size, 1
            ):
                raise UnsafeArchive(
                    f"{self.path}: member {info.filename} would expand from "
                    f"{info.compress_size} to {info.file_size} bytes (over "
                    f"{max_ratio}:1); refusing it as a zip bomb"
                )
        if total > max_total:
            raise UnsafeArchive(
                f"{self.path} would extract {total} bytes, over the {max_total} "
                "byte "
                "cap; raise the cap if this is expected"
            )
        # a folder member and a file member must not claim the same path prefix
        files = {k for k, v in seen.items() if not v.endswith("/")}
        for key in seen:
            parts = key.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in files:
                    raise UnsafeArchive(
                        f"{self.path}: member {key!r} lies under a file member of "
                        "the "
                        "same name; refusing the archive"
                    )
        return infos

    def extract_all(
        self,
        dest: Path,
        expected: dict[str, str] | None = None,
        force: bool = False,
        max_total: int = MAX_TOTAL,
        max_ratio: int = MAX_RATIO,
    ) -> list[Path]:
        """Extract every member under ``dest`` safely; all files appear, or none.

        ``expected`` maps member names to SHA-256 hex: every file member must be listed and match.
        Existing files are never overwritten unless ``force``.
        """
        return self.extract_members(
            None, dest, expected=expected, force=force, max_total=max_total, max_ratio=max_ratio
        )

    def extract_members(
        self,
        names: Iterable[str] | None,
        dest: Path,
        expected: dict[str, str] | None = None,
        force: bool = False,
        max_total: int = MAX_TOTAL,
        max_ratio: int = MAX_RATIO,
    ) -> list[Path]:
        """Extract the named members (all when ``names`` is None) with the checks of ``extract_all``;
        the whole archive's names and sizes are checked first, whichever members are asked for."""
        dest = Path(dest)
        infos = self.check_members(max_total=max_total, max_ratio=max_ratio)
        if names is not None:
            wanted = list(names)
            for name in wanted:
                self._getinfo(name)
            infos = [i for i in infos if i.filename in wanted]
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        plans: list[_Plan] = []
        dirs: list[str] = []
        for info in infos:
            name = safe_member_name(info.filename)
            if name.endswith("/") or stat.S_IFMT(info.external_attr >> 16) == stat.S_IFDIR:
                dirs.append(name.rstrip("/"))
                continue
            final = dest / name
            if not _inside(final.parent, root):
                raise UnsafeArchive(
                    f"member {name} would land outside {dest} through a symbolic "
                    "link there; refusing the archive (nothing extracted)"
                )
            if final.is_symlink() or (final.exists() and not final.is_file()):
                raise UnsafeArchive(f"{final} exists and is not a regular file; move it away first")
            if final.exists() and not force:
                raise AirgapError(
                    f"{final} already exists; move it away or pass --force to "
                    "overwrite it (nothing extracted)"
                )
            want = None
            if expected is not None:
                want = expected.get(name) or expected.get(PurePosixPath(name).name)
                if want is None:
                    raise IntegrityError(
                        f"member {name} of {self.path} is not listed in the "
                        "hashes "
                        "given for it; refusing to extract an unlisted file"
                    )
            plans.append(_Plan(name, info, final, expected=want))
        need = sum(p.info.file_size for p in plans)
        free = shutil.disk_usage(dest).free
        if need > free:
            raise AirgapError(
                f"{dest} has {free} bytes free but the archive holds {need}; free "
                "some "
                "space or choose another --dest"
            )

        created: list[Path] = []
        try:
            for d in dirs:
                _makedirs(dest / d, root, created)
            for plan in plans:
                _makedirs(plan.final.parent, root, created)
                plan.tmp = plan.final.with_name(f".{plan.final.name}.{secrets.token_hex(6)}.part")
                self._extract_one(plan)
            for plan in plans:  # every member checked: now give them their names
                if plan.final.exists() and not force:
                    raise AirgapError(
                        f"{plan.final} appeared during extraction; move it away or pass --force"
                    )
                os.replace(plan.tmp, plan.final)
                plan.tmp = None
        except BaseException:
            for plan in plans:
                if plan.tmp is not None:
                    plan.tmp.unlink(missing_ok=True)
            for folder in reversed(created):
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        return [p.final for p in plans]

    def _extract_one(self, plan: _Plan) -> None:
        fd = os.open(
            plan.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
        with (
            os.fdopen(fd, "wb", buffering=0) as out,
            self._open_member(plan.info.filename, plan.expected) as src,
        ):
            while data := src.read(READ_CHUNK):
                _write_all(out, data)
            os.fsync(out.fileno())
        mode = (plan.info.external_attr >> 16) & 0o755 or 0o644
        os.chmod(plan.tmp, mode | 0o600)
        try:
            mtime = time.mktime(plan.info.date_time + (0, 0, -1))
            os.utime(plan.tmp, (mtime, mtime))
        except (OverflowError, ValueError):
            pass


def _write_all(out, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[out.write(view) :]


def _inside(path: Path, root: Path) -> bool:
    resolved = path.resolve()
    return resolved == root or root in resolved.parents


def _makedirs(folder: Path, root: Path, created: list[Path]) -> None:
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        p.mkdir()
        created.append(p)
    if not _inside(folder, root):
        raise UnsafeArchive(f"{folder} lies outside {root} (through a symbolic link); refusing")


# --- the crossing: three things in three places ------------------------------------------------


def check_separate(**folders: Path | None) -> None:
    """Refuse when two of the named folders are the same or one lies inside the other."""
    named = [(label, Path(p).resolve()) for label, p in folders.items() if p is not None]
    for i, (a_label, a) in enumerate(named):
        for b_label, b in named[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                raise AirgapError(
                    f"the {a_label.replace('_', ' ')} ({a}) and the {b_label.replace('_', ' ')} "
                    f"({b}) "
                    "are the same or nested, but they travel by separate channels; choose folders "
                    "apart from each other"
                )


@dataclass
class Crossing:
    """What ``archive`` made: the archive (media), its SHA256SUMS (second channel), the password
    file when generated (third channel), and each member's hash."""

    archive: Path
    archive_sha256: str
    sums: Path
    password_file: Path | None
    members: dict[str, tuple[str, int]]


def create(
    files: Iterable[Path],
    dest: Path,
    *,
    sums: Path,
    password: str | None = None,
    password_file: Path | None = None,
    generate_password: Path | None = None,
    allow_weak: bool = False,
    level: int = 6,
    progress: bool = True,
) -> Crossing:
    """Archive ``files`` into ``dest`` and write its SHA256SUMS to ``sums`` (archive and members).

    The password comes from ``password`` (already resolved), else ``generate_password`` (a new file of
    mode 0600 written at that path), else ``passwords.resolve`` (variable, file, prompt asked twice).
    The archive's folder, the sums' folder and the password file's folder must be apart.
    """
    files = [Path(f) for f in files]
    dest, sums = Path(dest), Path(sums)
    if not files:
        raise AirgapError("no files to archive; name one or more")
    if dest.suffix.lower() != ".zip":
        raise AirgapError(
            f"{dest}: the archive name must end in .zip (7-Zip and Windows expect it)"
        )
    check_separate(
        archive_folder=dest.parent,
        hashes_folder=sums.parent,
        password_folder=generate_password.parent if generate_password else None,
    )
    passwords.refuse_inside(password_file, dest.parent)
    if password_file and passwords.is_inside(Path(password_file), sums.parent):
        raise AirgapError(
            f"password file {password_file} lies inside {sums.parent}, the hashes' "
            "folder; keep the password apart from the hashes"
        )
    if generate_password is not None:
        if password_file or os.environ.get(passwords.ENV_VAR):
            raise PasswordError(
                "--generate-password makes a new password: do not also give "
                f"--password-file or {passwords.ENV_VAR}"
            )
        if Path(generate_password).exists():
            raise PasswordError(
                f"password file {generate_password} already exists; move it away "
                "(it may open an earlier archive) or choose another folder"
            )
        password = passwords.new_password()
    elif password is None:
        password = passwords.resolve(
            password_file=password_file, confirm=True, allow_weak=allow_weak
        )
    elif not allow_weak:
        passwords.check_strength(password)
    for f in files:
        if passwords.is_inside(f, sums.parent) and f.name == sums.name:
            raise AirgapError(
                f"{f} is the hashes file itself; it travels separately, not in the archive"
            )

    with ArchiveWriter(dest, password, level=level, progress=progress) as writer:
        for f in files:
            writer.add_file(f, f.name)
        if generate_password is not None:  # written before the archive gets its name
            passwords.write_password(password, Path(generate_password), forbidden_dir=dest.parent)
    archive_sha = writer.sha256  # hashed as it was written: no second read of the archive
    entries = digest.read_sums(sums) if sums.is_file() else {}
    entries[dest.name] = archive_sha
    for name, (hexdigest, _size) in writer.members.items():
        entries[name] = hexdigest
    digest.write_sums(entries, sums)
    return Crossing(
        dest,
        archive_sha,
        sums,
        Path(generate_password) if generate_password else None,
        dict(writer.members),
    )


def extract(
    archive: Path,
    dest: Path,
    password: bytes | str,
    sums: Path,
    force: bool = False,
    max_total: int = MAX_TOTAL,
) -> list[Path]:
    """Verify ``archive`` against ``sums`` (delivered separately) BEFORE decrypting, then extract it
    safely into ``dest``. Members listed in ``sums`` must match; if it lists any member, it must list
    every one."""
    archive, sums = Path(archive), Path(sums)
    if not archive.is_file():
        raise AirgapError(f"{archive}: no such archive; check the path")
    digest.verify_file(archive, sums)
    entries = digest.read_sums(sums)
    with ArchiveReader(archive, password) as reader:
        names = [safe_member_name(n) for n in reader.names() if not n.endswith("/")]
        listed = {n: h for n in names if (h := digest.lookup(entries, Path(n))) is not None}
        expected = listed if listed else None
        return reader.extract_all(dest, expected=expected, force=force, max_total=max_total)


def iter_member(reader: ArchiveReader, name: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """The decrypted bytes of a member, in chunks (checks happen at its end)."""
    with reader.open(name) as f:
        while data := f.read(chunk):
            yield data


def print_channels(archive: Path, sums: Path, password_file: Path | None) -> None:
    """Say which channel each of the three things takes: media, second channel, third channel."""
    from rich.table import Table

    table = Table(title="Carry these separately", header_style="bold")
    for col in ("What", "Where", "Carry it"):
        table.add_column(col, overflow="fold")
    table.add_row("archive (AES-256)", str(archive), "on the transfer media")
    table.add_row("SHA-256", str(sums), "by a second channel, never with the archive")
    table.add_row(
        "password (mode 0600)" if password_file else "password",
        str(password_file) if password_file else "(the one you gave)",
        "by a third channel (in person, by phone); delete it here once delivered",
    )
    digest.console().print(table)


def print_crossing(crossing: Crossing) -> None:
    """Say what was made and which channel each thing takes."""
    print_channels(crossing.archive, crossing.sums, crossing.password_file)
    digest.console().print(f"SHA256 {crossing.archive_sha256.upper()}  {crossing.archive.name}")
