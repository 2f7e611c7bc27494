"""Files checked against a hash file: one file (``verify_file``, ``verify_open``), an archive and
its volumes through the files already open (``verify_archive``), or every file a hash file lists
(``check_sums``, ``check_files``: a ``sumsreport.SumsReport`` naming every file that is missing,
different or not listed).

A file is found in a hash file by its name relative to the hash file's folder, else by its file name:
Windows paths (``C:\\...``) and absolute paths match by file name, and so does a path Get-FileHash cut
short. Two different hashes for one file name is an error, never a guess.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from .. import fsutil
from ..errors import IntegrityError
from . import digest, sumsfile, volumes
from .sumsreport import SumsReport


def lookup(entries: dict[str, str], path: Path, base_dir: Path | None = None) -> str | None:
    """The hash listed for ``path``: by its name relative to ``base_dir``, else by file name.

    Windows paths (``C:\\...``) and absolute paths match by file name; a path Get-FileHash cut short
    (``...``) matches a file whose name starts with what is left. Two different hashes for one file
    name is an error, never a guess.
    """
    path = Path(path)
    if base_dir is not None:
        try:
            rel = sumsfile.normalise_name(
                path.resolve().relative_to(Path(base_dir).resolve()).as_posix()
            )
            if rel in entries:
                return entries[rel]
        except ValueError:
            pass
    if path.name in entries:
        return entries[path.name]
    for fold in (False, True):
        same = {
            h
            for k, h in entries.items()
            if not sumsfile.is_truncated(k) and _same(k, path.name, fold)
        }
        if len(same) > 1:
            raise IntegrityError(
                f"{path.name} is listed more than once with different hashes; give a hash file "
                "with one entry per file name"
            )
        if same:
            return same.pop()
    cut = {
        h
        for k, h in entries.items()
        if sumsfile.is_truncated(k)
        and sumsfile.basename(sumsfile.untruncated(k))
        and path.name.startswith(sumsfile.basename(sumsfile.untruncated(k)))
    }
    return cut.pop() if len(cut) == 1 else None


def _same(key: str, name: str, fold: bool) -> bool:
    listed = sumsfile.basename(key)
    return listed.casefold() == name.casefold() if fold else listed == name


def verify_file(path: Path, sums: Path) -> str:
    """Check ``path`` against the hash ``sums`` lists for it; raise IntegrityError if it differs.

    Returns the hex digest when it matches.
    """
    path = Path(path)
    return _verified(path, Path(sums), lambda: digest.sha256_file(path))


def verify_open(f: fsutil.PinnedFile, sums: Path) -> str:
    """``verify_file`` through a file already open (``fsutil.PinnedFile``): what is checked is what
    the caller then reads from it. Returns the hex digest."""
    return _verified(f.path, Path(sums), lambda: digest.sha256_open(f, f.path.name))


def _verified(path: Path, sums: Path, sha256_of) -> str:
    expected = lookup(sumsfile.read_sums(sums), path, sums.parent)
    if expected is None:
        raise IntegrityError(f"{path.name} is not listed in {sums}; give the hash file made for it")
    actual = sha256_of()
    if actual != expected:
        raise IntegrityError(
            f"{path}: SHA-256 {actual} differs from {expected} listed in {sums}; the file changed "
            "or is not the one sent: do not use it, fetch it again"
        )
    return actual


def verify_archive(source: volumes.ArchiveFile, sums: Path) -> str:
    """Check an opened archive (its one file, or each of its volumes) against ``sums`` through the
    files already open, so what is checked is what will be read. A volume missing, extra, out of
    order, cut short or from another archive is refused by name. Returns the whole archive's
    SHA-256 (over its volumes in order)."""
    sums = Path(sums)
    entries = sumsfile.read_sums(sums)
    whole = hashlib.sha256() if source.split else None  # one file: its own hash is the whole's
    archive_listed = lookup(entries, source.archive, sums.parent)
    if source.split:
        _check_volume_set(source, entries, sums, archive_listed)
    for part in source.parts:
        expected = lookup(entries, part.path, sums.parent)
        if expected is None and not source.split:
            raise IntegrityError(
                f"{part.path.name} is not listed in {sums}; give the hash file made for it"
            )
        actual = digest.sha256_open(part, part.path.name, also=(whole,) if whole else ())
        if expected is not None and actual != expected:
            raise IntegrityError(
                f"{part.path}: SHA-256 {actual} differs from {expected} listed in {sums}; the file "
                "changed, is cut short, out of order or not the one sent: do not use it, fetch it "
                "again"
            )
    if whole is None:
        return actual
    if archive_listed and whole.hexdigest() != archive_listed:
        raise IntegrityError(
            f"the volumes of {source.archive.name} together differ from the SHA-256 {sums} lists "
            "for the whole; fetch them again"
        )
    return whole.hexdigest()


def _check_volume_set(source, entries: dict[str, str], sums: Path, whole: str | None) -> None:
    listed = sorted(
        k
        for k in entries
        if re.fullmatch(re.escape(source.archive.name) + r"\.\d{3}", sumsfile.basename(k))
    )
    present = [part.path.name for part in source.parts]
    if not listed and whole is None:
        raise IntegrityError(
            f"{sums} lists neither {source.archive.name} nor its volumes; give the hash file made "
            "for it"
        )
    for name in listed:
        if sumsfile.basename(name) not in present:
            raise IntegrityError(
                f"volume {sumsfile.basename(name)} of {source.archive.name} is missing (listed in "
                f"{sums}); copy every volume into {source.archive.parent}"
            )
    if listed:
        for name in present:
            if name not in {sumsfile.basename(k) for k in listed}:
                raise IntegrityError(
                    f"volume {name} is not listed in {sums}: it is not part of the archive sent; "
                    "move it away"
                )


def _listed_path(key: str, base_dir: Path) -> Path | None:
    if sumsfile.is_truncated(key):
        prefix = sumsfile.basename(sumsfile.untruncated(key))
        hits = sorted(p for p in base_dir.iterdir() if prefix and p.name.startswith(prefix))
        return hits[0] if len(hits) == 1 else None
    if fsutil.leaves_folder(key):
        return base_dir / sumsfile.basename(key)  # a path from another machine: match by file name
    return base_dir / key


def check_sums(
    sums: Path,
    base_dir: Path | None = None,
    extra: bool = False,
    progress: bool = True,
    ignore_missing: bool = False,
) -> SumsReport:
    """Check every file ``sums`` lists (relative to ``base_dir``, default the sums' folder).

    With ``extra``, files in ``base_dir`` that are not listed are reported too; with
    ``ignore_missing``, listed files absent from ``base_dir`` are skipped (``sha256sum
    --ignore-missing``), but at least one must be there.
    """
    sums = Path(sums)
    base_dir = Path(base_dir) if base_dir is not None else sums.parent
    report = SumsReport(sums)
    seen: set[Path] = set()
    for key, expected in sorted(sumsfile.read_sums(sums).items()):
        target = _listed_path(key, base_dir)
        if target is None or not target.is_file():
            if not ignore_missing:
                report.missing.append((key, expected))
            continue
        seen.add(target.resolve())
        actual = digest.sha256_file(target, progress=progress)
        if actual == expected:
            report.ok.append(key)
        else:
            report.different.append((key, expected, actual))
    if ignore_missing and not (report.ok or report.different):
        raise IntegrityError(f"none of the files {sums} lists is in {base_dir}; check the folder")
    if extra:
        for p in sorted(base_dir.iterdir()):
            if p.is_file() and p.resolve() not in seen and p.resolve() != sums.resolve():
                report.extra.append(p.name)
    return report


def check_files(files: Iterable[Path], sums: Path, progress: bool = True) -> SumsReport:
    """Check the given files only against ``sums``; a file it does not list is reported as such."""
    sums = Path(sums)
    entries = sumsfile.read_sums(sums)
    report = SumsReport(sums)
    for f in map(Path, files):
        expected = lookup(entries, f, sums.parent)
        if expected is None:
            report.extra.append(str(f))
        elif not f.is_file():
            report.missing.append((str(f), expected))
        elif (actual := digest.sha256_file(f, progress=progress)) == expected:
            report.ok.append(str(f))
        else:
            report.different.append((str(f), expected, actual))
    return report
