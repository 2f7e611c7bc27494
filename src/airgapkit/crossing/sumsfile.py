"""Hash files: SHA256SUMS written for ``sha256sum -c``, read from what the tools on either side make.

Writes the format ``sha256sum -c`` reads (``<hex>  <name>``, names relative to the file's folder).
Reads that format (with the ``*name`` binary marker and GNU escaped names), the BSD tag form
(``SHA256 (name) = hex``), and what PowerShell's ``Get-FileHash`` prints when saved to a file: the
table (``Algorithm Hash Path``), the list (``Format-List``) and CSV (``Export-Csv``), in UTF-8 or
UTF-16 (Windows PowerShell's ``>`` writes UTF-16), with CRLF, upper-case hex and ``C:\\...`` paths.
Windows paths are matched by their file name; relative names have ``\\`` turned into ``/``.
Checking files against a hash file gives a ``SumsReport`` naming every file that is missing,
different or not listed.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import display, fsutil
from ..errors import AirgapError, IntegrityError
from . import digest, volumes

SUMS_NAME = "SHA256SUMS"
MAX_SUMS_FILE = 16 << 20  # a hash file is read whole; anything larger is not one

_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_GNU_LINE = re.compile(r"^(\\?)([0-9a-fA-F]{64}) ([ *])(.+)$")
_BSD_LINE = re.compile(r"^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$")
_TABLE_HEADER = re.compile(r"^Algorithm\s+Hash\s+Path$", re.IGNORECASE)
_TABLE_ROW = re.compile(r"^(SHA256)\s+([0-9a-fA-F]{64})\s+(\S.*)$", re.IGNORECASE)
_LIST_FIELD = re.compile(r"^(Algorithm|Hash|Path)\s*:\s?(.*)$", re.IGNORECASE)
_TRUNCATED = ("...", "\u2026")  # Format-Table cuts long paths and ends them with one of these


# --- reading ------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """A listed name as a key: ``\\`` -> ``/``, a leading ``./`` dropped."""
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _basename(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]


def _is_truncated(key: str) -> bool:
    return key.endswith(_TRUNCATED)


def _untruncated(key: str) -> str:
    for mark in _TRUNCATED:
        if key.endswith(mark):
            return key[: -len(mark)]
    return key


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    if len(raw) >= 4 and raw[1] == 0 and raw[3] == 0:  # UTF-16 LE without a BOM
        return raw.decode("utf-16-le")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntegrityError(
            f"{path}: not a text hash file (neither UTF-8 nor UTF-16); save it as text from "
            "sha256sum or Get-FileHash"
        ) from exc


def _add(
    entries: dict[str, str], name: str, hexdigest: str, path: Path, *, literal: bool = False
) -> None:
    """Add one listed hash. A ``literal`` name (GNU-escaped: a POSIX name that may hold ``\\``)
    keeps its backslashes; others are read as possibly Windows paths."""
    key = name if literal else normalise_name(name)
    hexdigest = hexdigest.lower()
    if not key:
        raise IntegrityError(f"{path}: a hash line names no file; fix or regenerate {path.name}")
    if entries.get(key, hexdigest) != hexdigest:
        raise IntegrityError(f"{path} lists {key} twice with different hashes; regenerate it")
    entries[key] = hexdigest


def _unescape_gnu(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            out.append({"\\": "\\", "n": "\n", "r": "\r"}.get(name[i + 1], name[i + 1]))
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _read_csv(text: str, path: Path, entries: dict[str, str]) -> None:
    """Export-Csv: an optional ``#TYPE`` line, then ``"Algorithm","Hash","Path"`` rows."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    for row in csv.DictReader(lines):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if row.get("algorithm", "SHA256").upper() != "SHA256":
            raise IntegrityError(
                f"{path} holds {row['algorithm']} hashes; make SHA256 ones "
                "(Get-FileHash -Algorithm SHA256)"
            )
        if not _HEX.match(row.get("hash", "")):
            raise IntegrityError(f"{path}: CSV row without a SHA-256 hash; regenerate it")
        _add(entries, row.get("path", ""), row["hash"], path)


def _read_list(lines: list[str], path: Path, entries: dict[str, str]) -> None:
    """Format-List blocks: ``Algorithm : SHA256`` / ``Hash : ...`` / ``Path : ...`` (long paths
    wrap onto indented lines)."""
    record: dict[str, str] = {}
    last = None

    def flush():
        if record.get("hash"):
            _add(entries, record.get("path", ""), record["hash"], path)
        record.clear()

    for line in lines:
        m = _LIST_FIELD.match(line.strip())
        if m:
            field_name = m.group(1).lower()
            if field_name == "algorithm" and record:
                flush()
            record[field_name] = m.group(2).strip()
            last = field_name
        elif line.startswith((" ", "\t")) and last == "path" and line.strip():
            record["path"] += line.strip()  # a wrapped long path
        elif not line.strip():
            last = None
    flush()


def _read_lines(lines: list[str], path: Path, entries: dict[str, str]) -> None:
    """One hash a line: sha256sum (GNU, with escapes), BSD tags, or the Get-FileHash table."""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _TABLE_HEADER.match(stripped) or set(stripped) <= set("- "):
            continue  # the Get-FileHash table header and its underline
        if m := _TABLE_ROW.match(stripped):
            _add(entries, m.group(3), m.group(2), path)
        elif m := _GNU_LINE.match(line.rstrip("\n")):
            escaped, hexdigest, _, name = m.groups()
            if escaped:  # written by sha256sum (or airgapkit) for a name with \\ or a newline
                _add(entries, _unescape_gnu(name), hexdigest, path, literal=True)
            else:
                _add(entries, name, hexdigest, path)
        elif m := _BSD_LINE.match(stripped):
            _add(entries, m.group(1), m.group(2), path)
        else:
            raise IntegrityError(
                f"{path}:{number}: not a SHA-256 line ({stripped[:40]!r}); give the output of "
                "sha256sum or Get-FileHash"
            )


def parse_sums(text: str, path: Path = Path(SUMS_NAME)) -> dict[str, str]:
    """Parse hash-file text (any supported shape) into ``{name: lower-case hex}``."""
    entries: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meaningful = [ln for ln in lines if ln.strip()]
    if not meaningful:
        return entries
    first = meaningful[0].strip()
    if first.startswith("#TYPE") or first.replace('"', "").lower().startswith("algorithm,"):
        _read_csv(text.replace("\r\n", "\n"), path, entries)
    elif any(_LIST_FIELD.match(ln.strip()) and ":" in ln for ln in meaningful[:3]):
        _read_list(lines, path, entries)
    else:
        _read_lines(lines, path, entries)
    return entries


def read_sums(path: Path) -> dict[str, str]:
    """Read a SHA256SUMS (or sha256sum / Get-FileHash output) into ``{name: lower-case hex}``."""
    path = Path(path)
    with digest.open_input(path) as f:
        raw = f.read(MAX_SUMS_FILE)
    entries = parse_sums(_decode(raw, path), path)
    if not entries:
        raise IntegrityError(
            f"{path} lists no SHA-256 hashes; give the hash file that came with the files"
        )
    return entries


def find_sums(path: Path) -> Path | None:
    """The hash file beside ``path``: ``<name>.sha256`` (one file's), else ``SHA256SUMS``."""
    path, archive = Path(path), volumes.archive_of(Path(path))
    for candidate in (
        path.with_name(f"{path.name}.sha256"),
        archive.with_name(f"{archive.name}.sha256"),  # a volume's: the whole archive's hash file
        path.parent / SUMS_NAME,
    ):
        if candidate.is_file():
            return candidate
    return None


# --- writing ------------------------------------------------------------------------------------


def format_sums(entries: dict[str, str]) -> str:
    """``sha256sum`` text for ``{name: hex}``: ``<hex>  <name>`` lines, GNU escaping where needed."""
    out = []
    for name, hexdigest in sorted(entries.items()):
        if not _HEX.match(hexdigest):
            raise AirgapError(f"not a SHA-256 hex digest for {name}: {hexdigest!r}")
        if "\\" in name or "\n" in name or "\r" in name:
            escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            out.append(f"\\{hexdigest.lower()}  {escaped}\n")
        else:
            out.append(f"{hexdigest.lower()}  {name}\n")
    return "".join(out)


def write_sums(entries: dict[str, str], dest: Path) -> None:
    """Write ``{relative name: hex}`` to ``dest`` atomically, in the format ``sha256sum -c`` reads."""
    fsutil.write_atomic(Path(dest), _sums_bytes(entries))


def write_aside(dest: Path, new: dict[str, str], *, archive: str = "") -> fsutil.AtomicFile:
    """``new`` added to the SHA256SUMS ``dest``, written and synced under a temporary name: the
    caller commits it (``fsutil.AtomicFile``) when the files it lists are final too.

    ``archive`` names an archive written anew: every line ``dest`` held for it (its own, its
    volumes' ``NAME.NNN``) goes, so no volume of an earlier split of it stays listed.
    """
    entries = {k: v for k, v in _with(Path(dest), {}).items() if not _lists(k, archive)}
    return fsutil.write_aside(Path(dest), _sums_bytes({**entries, **new}))


def _lists(key: str, archive: str) -> bool:
    """Whether the hash file's ``key`` names ``archive`` or one of its volumes."""
    return bool(archive) and volumes.archive_of(Path(_basename(key))).name == archive


def _sums_bytes(entries: dict[str, str]) -> bytes:
    for name in entries:
        if fsutil.leaves_folder(name):
            raise AirgapError(f"{name}: SHA256SUMS names must be relative to its folder")
    return format_sums(entries).encode("utf-8")


def _with(dest: Path, new: dict[str, str]) -> dict[str, str]:
    """The entries the SHA256SUMS ``dest`` holds (none if absent), with ``new`` added or replaced."""
    entries = read_sums(dest) if dest.is_file() else {}
    entries.update(new)
    return entries


def names_relative_to(files: Iterable[Path], folder: Path) -> dict[Path, str]:
    """The name each file gets in a SHA256SUMS in ``folder``: relative if inside it, else its name."""
    out: dict[Path, str] = {}
    root = Path(folder).resolve()
    for f in files:
        try:
            out[Path(f)] = Path(f).resolve().relative_to(root).as_posix()
        except ValueError:
            out[Path(f)] = Path(f).name
    names = list(out.values())
    if dupes := {n for n in names if names.count(n) > 1}:
        raise AirgapError(
            f"two files would be listed as {sorted(dupes)[0]}; hash them into separate "
            "SHA256SUMS files"
        )
    return out


def record(files: Iterable[Path], dest: Path, progress: bool = True) -> dict[Path, str]:
    """Hash ``files`` and add them to the SHA256SUMS ``dest`` (entries for other files are kept)."""
    dest = Path(dest)
    files = [Path(f) for f in files if Path(f).resolve() != dest.resolve()]  # never list itself
    hashes = digest.hash_files(files, progress=progress)
    add_entries(
        dest, {name: hashes[f] for f, name in names_relative_to(hashes, dest.parent).items()}
    )
    return hashes


def add_entries(dest: Path, new: dict[str, str]) -> None:
    """Add or replace ``{name: hex}`` in the SHA256SUMS ``dest``, keeping the entries it has."""
    write_sums(_with(Path(dest), new), dest)


# --- checking -----------------------------------------------------------------------------------


def lookup(entries: dict[str, str], path: Path, base_dir: Path | None = None) -> str | None:
    """The hash listed for ``path``: by its name relative to ``base_dir``, else by file name.

    Windows paths (``C:\\...``) and absolute paths match by file name; a path Get-FileHash cut short
    (``...``) matches a file whose name starts with what is left. Two different hashes for one file
    name is an error, never a guess.
    """
    path = Path(path)
    if base_dir is not None:
        try:
            rel = normalise_name(path.resolve().relative_to(Path(base_dir).resolve()).as_posix())
            if rel in entries:
                return entries[rel]
        except ValueError:
            pass
    if path.name in entries:
        return entries[path.name]
    for fold in (False, True):
        same = {h for k, h in entries.items() if not _is_truncated(k) and _same(k, path.name, fold)}
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
        if _is_truncated(k)
        and _basename(_untruncated(k))
        and path.name.startswith(_basename(_untruncated(k)))
    }
    return cut.pop() if len(cut) == 1 else None


def _same(key: str, name: str, fold: bool) -> bool:
    listed = _basename(key)
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
    expected = lookup(read_sums(sums), path, sums.parent)
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
    entries = read_sums(sums)
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
        if re.fullmatch(re.escape(source.archive.name) + r"\.\d{3}", _basename(k))
    )
    present = [part.path.name for part in source.parts]
    if not listed and whole is None:
        raise IntegrityError(
            f"{sums} lists neither {source.archive.name} nor its volumes; give the hash file made "
            "for it"
        )
    for name in listed:
        if _basename(name) not in present:
            raise IntegrityError(
                f"volume {_basename(name)} of {source.archive.name} is missing (listed in "
                f"{sums}); copy every volume into {source.archive.parent}"
            )
    if listed:
        for name in present:
            if name not in {_basename(k) for k in listed}:
                raise IntegrityError(
                    f"volume {name} is not listed in {sums}: it is not part of the archive sent; "
                    "move it away"
                )


@dataclass
class SumsReport:
    """What ``check_sums`` found: files that match, and every one missing, different or extra."""

    sums: Path
    ok: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (name, expected)
    different: list[tuple[str, str, str]] = field(default_factory=list)  # (name, expected, actual)
    extra: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.different or self.extra)

    def __bool__(self) -> bool:
        return self.passed

    def problems(self) -> list[str]:
        return (
            [f"{n} differs (expected {e}, got {a})" for n, e, a in self.different]
            + [f"{n} is missing (expected {e})" for n, e in self.missing]
            + [f"{n} is not listed" for n in self.extra]
        )

    def raise_for_problems(self) -> None:
        if not self.passed:
            problems = self.problems()
            raise IntegrityError(
                f"{len(problems)} problem(s) against {self.sums}: {'; '.join(problems)}; do not "
                "use these files, fetch them again"
            )


def _listed_path(key: str, base_dir: Path) -> Path | None:
    if _is_truncated(key):
        prefix = _basename(_untruncated(key))
        hits = sorted(p for p in base_dir.iterdir() if prefix and p.name.startswith(prefix))
        return hits[0] if len(hits) == 1 else None
    if fsutil.leaves_folder(key):
        return base_dir / _basename(key)  # a path from another machine: match by file name
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
    for key, expected in sorted(read_sums(sums).items()):
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
    entries = read_sums(sums)
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


# --- printing -----------------------------------------------------------------------------------


def print_hashes(hashes: dict[Path, str]) -> None:
    """A table shaped like PowerShell's Get-FileHash output: Algorithm, Hash, Path."""
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("Algorithm", no_wrap=True, min_width=9)
    table.add_column("Hash", no_wrap=True, min_width=64)
    table.add_column("Path", overflow="fold")
    for path, hexdigest in hashes.items():
        table.add_row("SHA256", hexdigest.upper(), display.text(Path(path).resolve()))
    digest.console().print(table)


def print_report(report: SumsReport) -> None:
    """Every checked file with its status; mismatches with both hashes."""
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("Status", no_wrap=True, min_width=9)
    table.add_column("Path", overflow="fold")
    table.add_column("Expected", no_wrap=True)
    table.add_column("Actual", no_wrap=True)
    for name in report.ok:
        table.add_row("[green]OK[/]", display.text(name), "", "")
    for name, expected, actual in report.different:
        table.add_row("[red]DIFFERENT[/]", display.text(name), expected, actual)
    for name, expected in report.missing:
        table.add_row("[red]MISSING[/]", display.text(name), expected, "")
    for name in report.extra:
        table.add_row("[yellow]NOT LISTED[/]", display.text(name), "", "")
    digest.console().print(table)
