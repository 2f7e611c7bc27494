"""Hash files: SHA256SUMS written for ``sha256sum -c``, read from what the tools on either side make.

Writes the format ``sha256sum -c`` reads (``<hex>  <name>``, names relative to the file's folder).
Reads that format (with the ``*name`` binary marker and GNU escaped names), the BSD tag form
(``SHA256 (name) = hex``), and what PowerShell's ``Get-FileHash`` prints when saved to a file: the
table (``Algorithm Hash Path``), the list (``Format-List``) and CSV (``Export-Csv``), in UTF-8 or
UTF-16 (Windows PowerShell's ``>`` writes UTF-16), with CRLF, upper-case hex and ``C:\\...`` paths.
Relative names have ``\\`` turned into ``/``. Files are checked against a hash file by
``sumsverify``; ``sumsreport`` prints hashes and what a check found.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

from .. import fsutil
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
TRUNCATED = ("...", "\u2026")  # Format-Table cuts long paths and ends them with one of these


# --- reading ------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """A listed name as a key: ``\\`` -> ``/``, a leading ``./`` dropped."""
    name = name.strip().replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def basename(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]


def is_truncated(key: str) -> bool:
    return key.endswith(TRUNCATED)


def untruncated(key: str) -> str:
    for mark in TRUNCATED:
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
    return bool(archive) and volumes.archive_of(Path(basename(key))).name == archive


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
