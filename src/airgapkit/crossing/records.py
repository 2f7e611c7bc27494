"""The records a bundle's manifest carries, each a JSON object of a declared shape, and the one
validator that holds JSON to them.

A record is a ``dict`` (what ``json`` reads and writes, what the history and ``inspect --json``
keep) whose class declares its keys as annotations, in order: a key marked ``NotRequired[...]`` may
be absent, any other must be there. ``problem`` names the first thing in a JSON value that does not
fit a declaration: a key no record declares, a key missing, a value of the wrong type (``SHA256``
and ``SIZE`` are strings and integers of a form; ``X | None`` takes null too). ``typed`` turns a
value that fits into the records. Reading a record by a key its class does not declare, with
``record[key]`` or ``record.get(key)``, is a ``KeyError`` naming the record there and then: a
misspelled key fails where it is read, not later as a missing value.

A new manifest field is added as a ``NotRequired`` key (or a field with a default in
``Manifest``), so bundles made before it stay readable.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Annotated, TypeVar, Union

from .. import display

T = TypeVar("T")
_NOT_REQUIRED = "not required"
NotRequired = Annotated[T, _NOT_REQUIRED]  # a key that may be absent (typing's, for Python 3.10)
SHA256 = Annotated[str, "sha256"]  # a 64-digit lower-case hex string
SIZE = Annotated[int, "size"]  # an integer of 0 or more


class Record(dict):
    """A JSON object whose keys its class declares (see the module's description)."""

    def __getitem__(self, key):
        _check_declared(type(self), key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        _check_declared(type(self), key)
        return super().get(key, default)


def _check_declared(kind: type, key) -> None:
    if key not in declared(kind):
        raise KeyError(f"{kind.__name__} declares no key {key!r}")


@functools.cache
def declared(kind: type) -> dict[str, tuple[object, bool]]:
    """A record's (or a dataclass's) keys in order: key -> (type, required). A dataclass field
    with a default is not required."""
    hints = typing.get_type_hints(kind, include_extras=True)
    if dataclasses.is_dataclass(kind):
        fields = dataclasses.fields(kind)
        return {
            f.name: (hints[f.name], _no_default(f))
            for f in fields
            if f.init and not f.name.startswith("_")
        }
    return {name: _required(hint) for name, hint in hints.items()}


def _required(hint) -> tuple[object, bool]:
    """A key's type, and whether it is required (not marked ``NotRequired``)."""
    if _origin(hint) is not Annotated or _NOT_REQUIRED not in hint.__metadata__:
        return hint, True
    other = tuple(m for m in hint.__metadata__ if m != _NOT_REQUIRED)  # SHA256 and SIZE flatten in
    return (Annotated[(hint.__origin__, *other)] if other else hint.__origin__), False


def _no_default(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def problem(value, kind, where: str = "", keys: dict | None = None) -> str | None:
    """What is wrong with ``value`` against ``kind`` (None when it fits), naming where.

    ``keys`` gives a record's keys directly (``declared``'s form) instead of ``kind``'s.
    """
    at = f" at {where}" if where else ""
    if keys is not None or _is_record(kind):
        return _record_problem(value, keys if keys is not None else declared(kind), where)
    if _origin(kind) in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(kind):
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
        return problem(value, kind, where)
    if _origin(kind) is list:
        if not isinstance(value, list):
            return f"has {_name(value)} where a list belongs{at}"
        (item,) = typing.get_args(kind)
        for i, element in enumerate(value):
            if found := problem(element, item, f"{where}[{i}]"):
                return found
        return None
    if kind == SHA256:
        ok = isinstance(value, str) and len(value) == 64 and all(c in _HEX for c in value)
        return None if ok else f"has {_name(value)} where a SHA-256 belongs{at}"
    if kind == SIZE:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"has {_name(value)} where a size belongs{at}"
    if kind is int and isinstance(value, bool):
        return f"has {_name(value)} where a number belongs{at}"
    if not isinstance(value, kind):
        return f"has {_name(value)} where {_TYPE_NAMES[kind]} belongs{at}"
    return None


def _record_problem(value, keys: dict, where: str) -> str | None:
    at = f" at {where}" if where else ""
    if not isinstance(value, dict):
        return f"has {_name(value)} where an object belongs{at}"
    for key in value:
        if key not in keys:
            return f"has a key it does not know{at}: {display.safe(key)!s:.60}"
    for key, (_, required) in keys.items():
        if required and key not in value:
            return f"lacks the key {key}{at}"
    for key, (kind, _) in keys.items():
        if key in value and (found := problem(value[key], kind, f"{where}.{key}".lstrip("."))):
            return found
    return None


def typed(value, kind):
    """``value`` (which fits ``kind``: ``problem`` found nothing) with its objects as records."""
    if _is_record(kind) or dataclasses.is_dataclass(kind):
        keys = declared(kind)
        fields = {key: typed(item, keys[key][0]) for key, item in value.items()}
        return kind(fields) if _is_record(kind) else fields
    if _origin(kind) in (Union, types.UnionType):
        return None if value is None else typed(value, typing.get_args(kind)[0])
    if _origin(kind) is list:
        (item,) = typing.get_args(kind)
        return [typed(element, item) for element in value]
    return value


def _is_record(kind) -> bool:
    return isinstance(kind, type) and issubclass(kind, Record)


def _origin(kind):
    return typing.get_origin(kind)


_HEX = set("0123456789abcdef")
_TYPE_NAMES = {str: "a string", int: "a number", bool: "true or false", dict: "an object"}


def _name(value) -> str:
    return {
        type(None): "null",
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


# --- the records -----------------------------------------------------------------------------------


class RuleRecord(Record):
    rule: str
    passed: bool
    measured: str
    limit: str
    why: str


class GateRecord(Record):
    """The image rules as they stood when the bundle was made (``rules.GateResult.record()``)."""

    image: str
    kind: str
    passed: bool
    failures: list[str]
    accepted_risk: str
    rules: list[RuleRecord]
    image_id: NotRequired[str]
    checked_on: NotRequired[str]


class AppRecord(Record):
    name: str
    version: str
    image_name: str
    tgz: NotRequired[str]


class ImageRecord(Record):
    """An image a bundle carries; from its registry also its source, repository digest, platform
    and, for zstd layers, their compression."""

    ref: str
    member: str
    id: str
    repo_tags: list[str]
    layers: list[str]
    size: NotRequired[SIZE | None]
    source: NotRequired[str]
    repo_digest: NotRequired[str]
    platform: NotRequired[str]
    compression: NotRequired[str]  # "zstd": its layers need Docker 23.0 or later to load


class FileRecord(Record):
    path: str
    size: SIZE
    sha256: SHA256


class RequirementRecord(Record):
    """A delta's prerequisite: an image the far side must hold; one carried in part names the image
    it is ``for`` (its ID) and the ``layers`` taken from it."""

    __annotations__ = {  # "for" is a keyword: the keys written out
        "ref": str,
        "id": str,
        "carried_by": str,
        "for": NotRequired[str],
        "layers": NotRequired[list[str]],
    }


class SinceRecord(Record):
    """The bundle a delta is made against."""

    archive: str
    kind: str
    version: str


class SbomImageRecord(Record):
    ref: str
    image_id: str
    repo_digest: NotRequired[str | None]


class SbomRecord(Record):
    """trust/seal.py: the SBOM member a bundle carries."""

    member: str
    packages: SIZE
    base_image: NotRequired[SbomImageRecord | None]


class ContractRecord(Record):
    """trust/seal.py: the env contract member a bundle carries."""

    member: str
    keys: list[str]


class BaseBundleRecord(Record):
    """A release's base bundle. ``signer``: a key checked against trust.keys when the release was
    made; ``unchecked_signer``: the key a signature named when none could be checked (no
    trust.keys), never taken for a fact."""

    archive: str
    manifest_sha256: SHA256
    signer: str | None
    unchecked_signer: NotRequired[str]


class AppFindingRecord(Record):
    package: str
    version: str
    id: str
    severity: str
    score: str
    fixed: str


class SeverityCountsRecord(Record):
    critical: SIZE
    high: SIZE
    medium: SIZE
    low: SIZE
    none: SIZE
    unspecified: SIZE


class AppReportRecord(Record):
    """gate/appreports.py: the app packages' report, its counts per severity, its worst findings."""

    source: str
    date: str
    dated_by: str
    packages: SIZE
    counts: SeverityCountsRecord
    unscored: SIZE
    worst: list[AppFindingRecord]
    member: NotRequired[str | None]


class StackServiceRecord(Record):
    name: str
    image: str
    id: str
    repo_digest: NotRequired[str]
    gate: NotRequired[GateRecord | None]


class StackContractRecord(Record):
    service: str
    env_file: str
    member: str
    keys: list[str]


class StackRecord(Record):
    """flows/stack.py: the Compose file carried, each service's image and env contract."""

    member: str
    pinned: bool
    app_service: str
    services: list[StackServiceRecord]
    contracts: NotRequired[list[StackContractRecord]]
