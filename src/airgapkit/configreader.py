"""A mapping of the configuration read into dataclass records: one reader per kind of value, one
line per bad value, every one of them at once.

Each setting is a dataclass field whose metadata holds its reader (``setting``); ``Reader.fields``
walks a record's fields, refuses the keys it does not declare and reads each one (a key left out is
read as its field's default). A reader ``read(reader, key, value, default)`` returns the value, or
notes a line with ``reader.bad`` and returns the default. ``environments`` declares its records so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import field, fields
from pathlib import Path


def setting(default, read):
    """A field read from the configuration by ``read(reader, key, value, default)``."""
    return field(default=default, metadata={"read": read})


def text(reader, key, value, default):
    if value is None or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        reader.bad(key, f"{value!r} is not a name; write one, e.g. {default!r}")
        return default
    return str(value).strip()


def choice(choices: tuple):
    def read(reader, key, value, default):
        if value not in choices:
            reader.bad(key, f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    return read


def number(kind, minimum):
    def read(reader, key, value, default):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and kind is int:
            ok = float(value).is_integer()
        if not ok or value < minimum:
            whole = "a whole number" if kind is int else "a number"
            reader.bad(key, f"{value!r} is not {whole} of {minimum} or more")
            return default
        return kind(value)

    return read


def texts(reader, key, value, default):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        reader.bad(key, f'{value!r} is not a list of texts; write e.g. ["node.role == worker"]')
        return ()
    return tuple(v.strip() for v in value)


def each(pattern: re.Pattern, what: str):
    """A list of texts, each one matching ``pattern``."""

    def read(reader, key, value, default):
        found = texts(reader, key, value, default)
        for one in found:
            if not pattern.match(one):
                reader.bad(key, f"{one!r} is not {what}")
        return found

    return read


def name(pattern: re.Pattern, what: str, longest: int = 255):
    """One optional name ("": none) matching ``pattern``."""

    def read(reader, key, value, default):
        if value and (
            not isinstance(value, str) or not pattern.match(value) or len(value) > longest
        ):
            reader.bad(key, f"{value!r} is not {what}")
            return default
        return value

    return read


def mapping(kind: type):
    """A mapping read as the record ``kind``."""

    def read(reader, key, value, default):
        if isinstance(value, kind):  # left out: the record's defaults
            return value
        if not isinstance(value, Mapping):
            reader.bad(key, f"write a mapping with {', '.join(sorted(known(kind)))}")
            return default
        return kind(**reader.fields(kind, dict(value), f"{key}."))

    return read


def of_type(kind: type, what: str):
    def read(reader, key, value, default):
        if not isinstance(value, kind):
            reader.bad(key, f"{value!r} is not {what}")
            return default
        return value

    return read


def file(reader, key, value, default):
    if value in (None, ""):
        return None
    path = reader.base_dir / Path(str(value)).expanduser()
    if not path.is_file():
        reader.bad(key, f"{path} is not a file; check the path")
        return None
    return path


def known(kind: type) -> list[str]:
    """The keys a record declares: its fields read by a ``setting``."""
    return [f.name for f in fields(kind) if "read" in f.metadata]


class Reader:
    """Reads one mapping of the configuration (``where`` names it in each line), collecting one
    line per bad value instead of stopping at the first; relative paths are taken from
    ``base_dir``."""

    def __init__(self, where: str, base_dir: Path):
        self.where, self.base_dir = where, base_dir
        self.problems: list[str] = []

    def bad(self, key: str, text: str) -> None:
        self.problems.append(f"{self.where}.{key}: {text}")

    def fields(self, kind: type, raw: dict, prefix: str = "", *, defaults=None, read=None) -> dict:
        """The record ``kind``'s keys read from ``raw``: a key it does not declare refused (unless
        ``read`` holds those read already), each one read by its field's ``setting``;
        ``defaults`` overrides a field's default."""
        if read is None:
            self.unknown(raw, set(known(kind)), prefix)
        read = dict(read or {})
        for f in fields(kind):
            if "read" in f.metadata and f.name not in read:
                read[f.name] = self.field(f, raw, prefix, (defaults or {}).get(f.name, f.default))
        return read

    def field(self, f, raw: dict, prefix: str, default):
        """One key, read by its field's ``setting`` (left out: read as ``default``)."""
        return f.metadata["read"](self, f"{prefix}{f.name}", raw.get(f.name, default), default)

    def unknown(self, raw: dict, declared: set, prefix: str) -> None:
        for key in sorted(set(raw) - declared, key=str):
            self.unknown_key(f"{prefix}{key}", declared)

    def unknown_key(self, key: str, declared: set) -> None:
        self.bad(key, f"unknown key; known: {', '.join(sorted(declared))}")
