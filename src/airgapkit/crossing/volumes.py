"""Media volumes: one archive written as ``NAME.zip.001``, ``.002``, ... and read back as one file.

The volumes are a byte split of one zip, as 7-Zip's own volumes are, so ``7z x NAME.zip.001`` opens
them; each is at most the split size (``parse_size``: ``4g``, ``4.7G``, ``700m``, in powers of 1000,
so a volume always fits the medium the number is printed on). Writing, ``VolumeSink`` takes the
archive's bytes in order and rolls over to the next volume at the split size, each volume an
``fsutil.AtomicFile`` that gets its final name only when all of them are complete. Reading,
``open_archive`` finds the archive's part or parts from the bare name or the first volume, opens each
one (``fsutil.PinnedFile``) and gives one seekable file over all of them: nothing is joined on disk.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from .. import fsutil
from ..errors import AirgapError
from . import digest

MIN_VOLUME = 64 * 1000  # below this a zip's own headers hardly fit in one volume
_VOLUME = re.compile(r"^(?P<base>.+)\.(?P<number>\d{3})$")
_SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str) -> int:
    """``4g``, ``4.7G``, ``700m``, ``300MB`` or a plain byte count, as bytes (powers of 1000)."""
    m = _SIZE.match(str(text))
    if not m:
        raise AirgapError(
            f"split size {text!r} is not a size; write it like 4g, 4.7G or 700m (powers of 1000)"
        )
    size = int(float(m.group("number")) * _UNITS[m.group("unit").lower()])
    if size < MIN_VOLUME:
        raise AirgapError(
            f"split size {text!r} ({size} bytes) is smaller than a zip's own headers need; give "
            f"at least {fsutil.human_size(MIN_VOLUME)} (e.g. 700m for a CD, 4.7g for a DVD)"
        )
    return size


def volume_name(archive: Path, number: int) -> Path:
    """``NAME.zip.001`` for volume 1 of ``NAME.zip``."""
    return archive.with_name(f"{archive.name}.{number:03d}")


def archive_of(path: Path) -> Path:
    """The archive a path names: ``NAME.zip`` for ``NAME.zip.001`` (or any volume), else itself."""
    m = _VOLUME.match(Path(path).name)
    return Path(path).with_name(m.group("base")) if m else Path(path)


def existing_volumes(archive: Path) -> list[Path]:
    """Every ``NAME.zip.NNN`` beside ``archive``, in number order (gaps included as found)."""
    folder = archive.parent if str(archive.parent) else Path(".")
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _VOLUME.match(p.name)
        if m and m.group("base") == archive.name:
            found.append((int(m.group("number")), p))
    return [p for _, p in sorted(found)]


# --- writing --------------------------------------------------------------------------------------


class VolumeSink:
    """Where an archive's bytes go: one file (``split`` None) or volumes of at most ``split`` bytes.

    Every part is written aside (``fsutil.AtomicFile``), volumes hashed as they are written (a
    single file's hash is the whole archive's, taken by the caller); ``finish()`` syncs them all,
    ``commit()`` gives them their final names in order, ``discard()`` removes them.
    """

    def __init__(self, archive: Path, split: int | None = None, *, overwrite: bool = True):
        self.archive = Path(archive)
        self.split = split
        self.overwrite = overwrite
        self._files: list[fsutil.AtomicFile] = []
        self._volumes: list[digest.HashingWriter] = []  # each volume's, when split

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        while view:
            if not self._files or (self.split and self._volumes[-1].size >= self.split):
                self._next()
            room = len(view) if not self.split else self.split - self._volumes[-1].size
            piece = view[:room]
            try:
                (self._volumes[-1] if self.split else self._files[-1].file).write(piece)
            except OSError as exc:
                if (full := fsutil.disk_full(self._files[-1].dest, exc)) is not None:
                    raise full from exc
                raise
            view = view[len(piece) :]
        return len(data)

    def _next(self) -> None:
        dest = volume_name(self.archive, len(self._files) + 1) if self.split else self.archive
        self._files.append(fsutil.AtomicFile(dest, mode=0o644, overwrite=self.overwrite).open())
        if self.split:
            self._volumes.append(digest.HashingWriter(self._files[-1].file))

    def flush(self) -> None:
        for out in self._files[-1:]:
            out.file.flush()

    def finish(self) -> None:
        """Every part synced and closed, still under its temporary name."""
        if not self._files:
            self._next()  # an archive is never empty, but its part must exist
        for out in self._files:
            out.finish()

    @property
    def parts(self) -> list[tuple[Path, str, int]]:
        """(final name, SHA-256, size) of each volume, in order (split archives only)."""
        return [
            (out.dest, volume.hexdigest(), volume.size)
            for out, volume in zip(self._files, self._volumes, strict=True)
        ]

    def commit(self) -> list[Path]:
        """Give every part its final name, in order; an earlier archive's other form (its single
        file, or volumes past the new last one) is removed so the far side finds only this one."""
        self.finish()
        names = [out.commit() for out in self._files]
        if self.overwrite:
            stale = [self.archive] if self.split else []
            stale += [v for v in existing_volumes(self.archive) if v not in names]
            for path in stale:
                path.unlink(missing_ok=True)
        return names

    def discard(self) -> None:
        for out in self._files:
            out.discard()


def remove_archive(archive: Path) -> list[Path]:
    """Remove an archive's single file and every volume of it (an earlier delivery that is being
    replaced), and make that durable; returns what was removed."""
    gone = [p for p in [archive, *existing_volumes(archive)] if p.exists() or p.is_symlink()]
    for path in gone:
        path.unlink(missing_ok=True)
    if gone:
        fsutil.fsync_dir(archive.parent)
    return gone


def check_overwrite(archive: Path, force: bool) -> None:
    """Refuse to replace an existing archive (single file or volumes) unless ``force``."""
    there = [p for p in [archive, *existing_volumes(archive)] if p.exists() or p.is_symlink()]
    if there and not force:
        raise AirgapError(
            f"{there[0]} already exists; move it away or pass --force to replace it (and its "
            "line in the hash file)"
        )


# --- reading --------------------------------------------------------------------------------------


def parts_of(path: Path) -> list[Path]:
    """The file or volumes ``path`` names: ``NAME.zip``, or ``NAME.zip.001`` (or the bare
    ``NAME.zip`` of a split archive) for all its volumes, numbered from 001 without a gap."""
    path = Path(path)
    archive = archive_of(path)
    volumes = existing_volumes(archive)
    if path != archive and path.name != volume_name(archive, 1).name:
        raise AirgapError(f"{path} is not the first volume; give {volume_name(archive, 1).name}")
    if not volumes:
        if path != archive:
            raise AirgapError(f"{path}: no such volume; check the path")
        return [archive]
    if archive.exists():
        raise AirgapError(
            f"both {archive} and its volumes {volumes[0].name}... are here; move away the one "
            "that is not the archive you were sent"
        )
    for number, volume in enumerate(volumes, 1):
        if volume.name != volume_name(archive, number).name:
            raise AirgapError(
                f"volume {volume_name(archive, number).name} of {archive.name} is missing (found "
                f"{volume.name}); copy every volume into {archive.parent}"
            )
    return volumes


class ArchiveFile(io.RawIOBase):
    """One read-only, seekable file over an archive's parts (one file, or its volumes in order),
    each opened once (``fsutil.PinnedFile``): what was hashed through them is what is read."""

    def __init__(self, parts: list[fsutil.PinnedFile], archive: Path):
        super().__init__()
        self.parts = parts
        self.archive = archive
        self.name = str(archive)
        self._starts = []
        at = 0
        for part in parts:
            self._starts.append(at)
            at += part.size
        self.size = at
        self._pos = 0

    @property
    def split(self) -> bool:
        return len(self.parts) > 1 or self.parts[0].path != self.archive

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(22, f"seek before the start of {self.archive.name}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self.size - self._pos, 0)
        pieces = []
        while size > 0 and self._pos < self.size:
            index = self._part_at(self._pos)
            part, start = self.parts[index], self._starts[index]
            part.seek(self._pos - start)
            data = part.read(min(size, part.size - (self._pos - start)))
            if not data:
                break  # shorter than it was when opened: check_unchanged will say so
            pieces.append(data)
            self._pos += len(data)
            size -= len(data)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def _part_at(self, pos: int) -> int:
        for index in range(len(self._starts) - 1, -1, -1):
            if self._starts[index] <= pos:
                return index
        return 0

    def check_unchanged(self) -> None:
        for part in self.parts:
            part.check_unchanged()

    def close(self) -> None:
        for part in self.parts:
            part.close()
        super().close()


def open_archive(path: Path) -> ArchiveFile:
    """The archive ``path`` names (a file, its first volume, or the bare name of its volumes),
    every part opened and checked to be a regular file."""
    archive = archive_of(Path(path))
    parts: list[fsutil.PinnedFile] = []
    try:
        for part in parts_of(Path(path)):
            parts.append(fsutil.PinnedFile(part))
    except BaseException:
        for part in parts:
            part.close()
        raise
    return ArchiveFile(parts, archive)
