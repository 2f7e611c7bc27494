"""AES-256 zip archives (WinZip AE-2) written and read as streams.

Writing: each member is encrypted with AES-256 in CTR mode and followed by its HMAC-SHA1
authentication code as it is written; ZIP64 is used for every member, so a member over 4 GB needs
no size known in advance. Memory stays flat whatever the size: files are read in 256 KiB chunks into
one reused buffer. The archive is written through ``fsutil.AtomicFile`` (a temporary name beside its
destination, renamed onto it only when everything was written) and forward only, so each member's
sizes go in a data descriptor after its data and every byte passes a SHA-256 exactly once, in order:
the archive's own hash is known when it is closed, with no second read.

Reading: ``ArchiveReader.open`` decrypts a member as it is read; reading it to its end checks its
HMAC, its size and, when given, its listed SHA-256. Extracting to disk is ``extraction``'s job; the
zip format itself (pyzipper and its internals) is ``zipaes``'s.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .. import fsutil
from ..errors import AirgapError, IntegrityError, PasswordError, UnsafeArchive
from ..fsutil import MEMBER_CHUNK
from . import digest, layout, passwords, volumes, zipaes

# archiving reads its input in these: 64 KiB to 1 MiB measured alike here, 4 MiB slower
NOTHING_DONE = "refusing the archive (nothing extracted)"
SMALL_MEMBER = 16 << 20  # read_bytes limit by default


def _pw_bytes(password: bytes | str) -> bytes:
    pw = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    if not pw:
        raise PasswordError("empty password; give a password that is not empty")
    return pw


# --- writing ------------------------------------------------------------------------------------


def safe_member_name(name: str) -> str:
    """The member name as a relative POSIX path, or UnsafeArchive if it could land outside the folder.

    Refused: empty names, NUL, absolute paths, drive letters (``C:``), UNC paths, and any ``..``
    component (``\\`` counts as a separator, as it does for the Windows tools on the other side).
    """
    if not name or "\0" in name:
        raise UnsafeArchive(f"member name {name!r} is empty or holds NUL; refusing the archive")
    norm = name.replace("\\", "/")
    if fsutil.is_absolute_name(norm):
        raise UnsafeArchive(f"member {name!r} has an absolute path or drive letter; {NOTHING_DONE}")
    if fsutil.leaves_folder(norm):
        raise UnsafeArchive(
            f"member {name!r} climbs out of the destination with '..'; {NOTHING_DONE}"
        )
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafeArchive(f"member name {name!r} names no file; refusing the archive")
    return "/".join(parts) + ("/" if norm.endswith("/") else "")


class ArchiveWriter:
    """Write an AES-256 zip to ``dest``, atomically: a temporary file renamed onto ``dest`` on success.

    ``level`` 0 stores, 1-9 deflate. ``split`` writes volumes ``dest.001``, ``.002``, ... of at most
    that many bytes (``volumes``). Leaving the ``with`` block by an exception (KeyboardInterrupt
    included) removes the temporary files and leaves ``dest`` as it was. With ``commit=False`` the
    archive stays under its temporary name(s) when the block ends, until ``commit()`` (so it can be
    the last of several files to appear) or ``discard()``.
    """

    def __init__(
        self,
        dest: Path,
        password: bytes | str,
        level: int = 5,
        progress: bool = True,
        *,
        split: int | None = None,
        overwrite: bool = True,
        commit: bool = True,
    ):
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
        self.split, self.overwrite, self._commit_on_exit = split, overwrite, commit
        self._out: volumes.VolumeSink | None = None
        self._sink: zipaes.ForwardSink | None = None
        self._zf: zipaes.ZipWriter | None = None
        self.sha256: str | None = None  # the whole archive's, once the 'with' block ends cleanly
        self.size: int | None = None

    def __enter__(self) -> ArchiveWriter:
        if self.dest.is_dir():
            raise AirgapError(
                f"{self.dest} is a folder; give the archive a file name ending in .zip"
            )
        self._out = volumes.VolumeSink(self.dest, self.split, overwrite=self.overwrite)
        try:
            self._sink = zipaes.ForwardSink(self._out)
            self._zf = zipaes.open_writer(self._sink, self._password, self.level)
        except BaseException:
            self._out.discard()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._zf.close()  # the central directory: the last bytes through the sink
                self.sha256, self.size = self._sink.hexdigest(), self._sink.size
                self._out.finish()
                if self._commit_on_exit:
                    self.commit()
            else:
                self._abandon()
                if (full := fsutil.disk_full(self.dest, exc)) is not None:
                    raise full from exc
        except BaseException:
            self._abandon()
            raise
        return False

    @property
    def parts(self) -> list[tuple[Path, str, int]]:
        """(final name, SHA-256, size) of each file the archive is made of: one, or its volumes."""
        if self.split:
            return self._out.parts
        return [(self.dest, self.sha256, self.size)]

    def commit(self) -> list[Path]:
        """Give the finished archive its final name(s)."""
        return self._out.commit()

    def discard(self) -> None:
        """Drop the finished archive: nothing appears under its name."""
        self._abandon()

    def _abandon(self) -> None:
        try:
            if self._zf is not None:
                self._zf.abandon()
        finally:
            self._out.discard()

    def _info(self, arcname: str, mtime: float | None = None, level: int | None = None):
        name = safe_member_name(arcname)
        if name.endswith("/"):
            raise AirgapError(f"member name {arcname!r} ends with '/'; name a file")
        if name.casefold() in self._names:
            raise AirgapError(f"{name} is already in the archive; give each file a different name")
        self._names.add(name.casefold())
        level = self.level if level is None else level
        return zipaes.new_member(name, time.localtime(mtime or time.time())[:6], level)

    def _write(self, info, chunks: Iterable[bytes], total: int = 0) -> tuple[str, int]:
        if self._zf is None:
            raise AirgapError("ArchiveWriter used outside its 'with' block")
        with zipaes.open_member_writer(self._zf, info) as member:
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
        with digest.open_input(src) as f:
            st = os.fstat(f.fileno())
            info = self._info(arcname or src.name, st.st_mtime)
            return self._write(info, _read_into(f), st.st_size)

    def add_stream(
        self, arcname: str, chunks: Iterable[bytes], level: int | None = None
    ) -> tuple[str, int]:
        """Add a member from an iterable of byte chunks (e.g. ``docker save``), hashing on the way.

        ``level`` overrides the archive's for this member: 0 stores data that is compressed already
        (an image's gzip layers), where deflating again would cost time and gain nothing.
        """
        if level is not None and not (isinstance(level, int) and 0 <= level <= 9):
            raise AirgapError(
                f"compression level {level!r} is not 0-9; use 0 to store, 1-9 to deflate"
            )
        return self._write(self._info(arcname, level=level), chunks)

    def add_bytes(self, arcname: str, data: bytes) -> tuple[str, int]:
        """Add a small member from memory (a manifest, say)."""
        return self._write(self._info(arcname), [bytes(data)])


def _read_into(f, size: int = MEMBER_CHUNK) -> Iterator[memoryview]:
    """The file's bytes as views of one reused buffer: no fresh allocation per chunk. Each view is
    valid only until the next is asked for, which suits ``_write`` (it has used it by then)."""
    buf = bytearray(size)
    view = memoryview(buf)
    while n := f.readinto(buf):
        yield view[:n]


# --- reading ------------------------------------------------------------------------------------


class MemberReader(io.RawIOBase):
    """A member opened for reading: decrypts as it is read, and at its end checks the HMAC, that
    the byte count matches the declared size and, when given, the SHA-256.

    ``read(n)`` hands over the decrypter's own chunks (no copy into a caller's buffer); ``open``
    wraps this in a BufferedReader for callers that want file semantics.
    """

    def __init__(
        self, stream: zipaes.MemberStream, archive: Path, expected_sha256: str | None = None
    ):
        super().__init__()
        self._stream, self._info, self._archive = stream, stream.info, archive
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
        data = self._read1(size)
        if not data:
            self._finish()
            return b""
        if self._sha is not None:
            self._sha.update(data)
        self.size += len(data)
        return data

    def readall(self) -> bytes:
        return b"".join(iter(lambda: self.read(MEMBER_CHUNK), b""))

    def _read1(self, size: int) -> bytes:
        where = f"{self._archive}: member {self._info.filename}"
        try:
            return self._stream.read1(size)
        except zipaes.DataBeyondDeclaredSize as exc:
            raise UnsafeArchive(
                f"{where} holds more data than its declared size "
                f"({self._info.file_size} bytes); refusing it"
            ) from exc
        except zipaes.AuthenticationFailed as exc:
            raise IntegrityError(
                f"{where} failed its authentication check (HMAC): the archive was altered or "
                "damaged; fetch it again"
            ) from exc
        except zipaes.DamagedArchive as exc:
            raise IntegrityError(f"{where} is damaged ({exc}); fetch the archive again") from exc
        except OSError as exc:
            raise IntegrityError(
                f"{where} cannot be read ({exc}); the archive is damaged or truncated: fetch it again"
            ) from exc

    def _finish(self) -> None:
        self._done = True
        where = f"{self._archive}: member {self._info.filename}"
        if self.size != self._info.file_size:
            raise IntegrityError(
                f"{where} gave {self.size} bytes but declares {self._info.file_size}; the archive "
                "is damaged: fetch it again"
            )
        if self._expected and self._sha.hexdigest() != self._expected:
            raise IntegrityError(
                f"{where} has SHA-256 {self._sha.hexdigest()} but {self._expected} is listed for "
                "it; do not use it"
            )

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class ArchiveReader:
    """Open an AES-256 zip for reading: ``names()``, ``infos()``, ``open(name)``, ``read_bytes(name)``.

    ``source`` is a path (a file, the first volume, or the bare name of volumes) or an archive already
    opened by ``volumes.open_archive``, whose bytes were checked against their hash: the reader then
    reads exactly those. Every member's local header is held against the central directory first.
    """

    def __init__(self, source: Path | volumes.ArchiveFile, password: bytes | str):
        self._zf = None
        self._owned = not isinstance(source, volumes.ArchiveFile)
        self.source = volumes.open_archive(Path(source)) if self._owned else source
        self.path = self.source.archive
        try:
            self._zf = self._open(_pw_bytes(password))
            self._check_layout()
        except BaseException:
            self.close()
            raise

    def _open(self, password: bytes) -> zipaes.ZipReader:
        try:
            return zipaes.open_reader(self.source, password)
        except zipaes.DamagedArchive as exc:
            raise IntegrityError(
                f"{self.path} is not a readable zip archive ({exc}); it is damaged or truncated: "
                "fetch it again"
            ) from exc

    def _check_layout(self) -> None:
        try:
            layout.check(self.source, self.infos(), zipaes.directory_offset(self._zf), self.path)
        except OSError as exc:
            raise IntegrityError(
                f"{self.path} cannot be read ({exc}); it is damaged or truncated: fetch it again"
            ) from exc

    def check_unchanged(self) -> None:
        """Refuse if a file of the archive changed since it was opened (and hashed)."""
        self.source.check_unchanged()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
            self._zf = None
        if self._owned and not self.source.closed:
            self.source.close()

    def infos(self) -> list:
        return list(self._zf.infolist())

    def names(self) -> list[str]:
        return [i.filename for i in self._zf.infolist()]

    def info(self, name: str):
        try:
            return self._zf.getinfo(name)
        except KeyError as exc:
            raise AirgapError(
                f"{self.path} has no member {name!r}; it holds {', '.join(self.names()) or 'nothing'}"
            ) from exc

    def check_member(self, info) -> None:
        """Refuse a member this reader will not open: not encrypted with AES-256, or a stored member
        whose data is not the size it declares."""
        encryption = zipaes.encryption_of(info)
        if encryption != zipaes.AES_256:
            found = "is not encrypted" if encryption is None else f"is encrypted with {encryption}"
            raise UnsafeArchive(
                f"{self.path}: member {info.filename} {found}; airgapkit opens only AES-256 "
                "archives: make it again with airgapkit (or 7-Zip's -mem=AES256)"
            )
        held = zipaes.stored_data_size(info)
        if held is not None and held != info.file_size:
            raise UnsafeArchive(
                f"{self.path}: member {info.filename} declares {info.file_size} bytes but holds "
                f"{held}; refusing it"
            )

    def open(self, name: str, expected_sha256: str | None = None) -> io.BufferedReader:
        """A readable binary file that decrypts ``name`` as it is read (for streaming into docker
        load); reading to its end checks the HMAC, the size, and ``expected_sha256`` when given."""
        return io.BufferedReader(self.open_raw(name, expected_sha256), fsutil.CHUNK)

    def open_raw(self, name: str, expected_sha256: str | None = None) -> MemberReader:
        """As ``open``, unbuffered: each ``read(n)`` hands over one decrypted chunk as it comes."""
        info = self.info(name)
        self.check_member(info)
        try:
            stream = zipaes.MemberStream(self._zf, info)
        except zipaes.WrongPassword as exc:
            raise PasswordError(
                f"wrong password for {self.path}; check the password file or {passwords.ENV_VAR}"
            ) from exc
        except zipaes.DamagedArchive as exc:
            raise IntegrityError(
                f"{self.path}: member {name} is damaged ({exc}); fetch the archive again"
            ) from exc
        return MemberReader(stream, self.path, expected_sha256)

    def read_bytes(self, name: str, limit: int = SMALL_MEMBER) -> bytes:
        """A small member (e.g. manifest.json) read whole; refused if it declares more than
        ``limit``."""
        info = self.info(name)
        if info.file_size > limit:
            raise UnsafeArchive(
                f"{self.path}: member {name} declares {info.file_size} bytes, more than the "
                f"{limit} allowed for it; refusing to read it into memory"
            )
        with self.open(name) as f:
            return f.read()
