"""Streaming SHA-256: of files and of what passes through a writer, with a progress bar for big jobs.

Files are read in ``fsutil.CHUNK`` pieces, so memory stays flat whatever the size. The hash-file
formats (SHA256SUMS, sha256sum, Get-FileHash) are ``sumsfile``'s.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from .. import display, platform
from ..errors import AirgapError
from ..fsutil import CHUNK

PROGRESS_FROM = 64 << 20  # show a progress bar for files of 64 MiB and more (on a terminal)


class HashingWriter:
    """Wrap a writable binary file: every byte written also feeds SHA-256 and a byte count.

    The one hashing writer: an archive member's bytes on their way in (``archive``), the whole
    archive on its way to the media (``zipaes.ForwardSink``), each volume of a split one
    (``volumes.VolumeSink``), so nothing written is read again to be hashed.
    """

    def __init__(self, fileobj):
        self._fileobj = fileobj
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        written = 0
        while written < len(view):  # a raw sink may take part of it; give it the rest
            n = self._fileobj.write(view[written:])
            written += len(view) - written if n is None else n
        self.size += len(view)
        return len(view)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def open_input(path: Path):
    """``path`` opened for reading in binary, or one line saying why it cannot be."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError as exc:
        raise AirgapError(f"{path}: no such file; check the path") from exc
    except IsADirectoryError as exc:
        raise AirgapError(f"{path} is a folder; name the files in it") from exc
    except PermissionError as exc:
        raise AirgapError(f"{path}: permission denied; make it readable") from exc


def sha256_file(path: Path, progress: bool = True) -> str:
    """SHA-256 of a file as lower-case hex, read in 1 MiB chunks (flat memory whatever the size)."""
    path = Path(path)
    with open_input(path) as f:
        return sha256_open(f, path.name, progress)


def sha256_open(f, label: str, progress: bool = True, also: tuple = ()) -> str:
    """SHA-256 of an open file from its start, read with ``pread`` (its position is left alone);
    ``also`` are more hashes fed the same bytes (the whole archive's, over its volumes). The one
    loop that reads and hashes."""
    fd, sha = f.fileno(), hashlib.sha256()
    total = os.fstat(fd).st_size
    at = 0
    with progress_bar(total, f"SHA-256 {label}", progress) as bar:
        while data := platform.pread(fd, CHUNK, at):
            sha.update(data)
            for other in also:
                other.update(data)
            at += len(data)
            bar.advance(len(data))
    return sha.hexdigest()


def hash_files(files: Iterable[Path], progress: bool = True) -> dict[Path, str]:
    """``{path: hex}`` for each file, streamed."""
    return {Path(f): sha256_file(Path(f), progress=progress) for f in files}


def expand(spec: str | Iterable[str]) -> list[Path]:
    """Files named by a comma-separated list (globs allowed), in order, each existing."""
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p.strip()]
    if not parts:
        raise AirgapError("no files named; give one or more paths (comma-separated, globs allowed)")
    files: list[Path] = []
    for part in parts:
        hits = sorted(glob.glob(part)) if glob.has_magic(part) else [part]
        if not hits:
            raise AirgapError(f"{part}: matches no file; check the pattern")
        for hit in hits:
            p = Path(hit)
            if not p.is_file():
                raise AirgapError(f"{p}: no such file; check the path")
            if p not in files:
                files.append(p)
    return files


# --- what the user sees -------------------------------------------------------------------------


def progress_bar(total: int, description: str, enabled: bool = True):
    """A rich progress bar on stderr when it is a terminal and the job is big, else a no-op."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = display.console(stderr=True)
    if not (enabled and total >= PROGRESS_FROM and console.is_terminal):
        return _NoProgress()
    return _Progress(
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ),
        total,
        description,
    )


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def advance(self, n: int) -> None:
        pass


class _Progress(_NoProgress):
    def __init__(self, progress, total, description):
        self._progress, self._total, self._description = progress, total, description

    def __enter__(self):
        self._progress.__enter__()
        self._task = self._progress.add_task(self._description, total=self._total)
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)
