"""The env contract: the settings a version of the app reads, carried inside its release bundle.

It is made from the app's ``.env.example``: every key, the comment lines directly above it, and its
placeholder value unless the key is secret-looking. It is written as an env-example file of its own
(``render``), so it is read back like any ``.env.example`` (by ``app.envfiles``, the one reader of
env files) and a person can read it too. ``check`` holds a prod env file against the contract of the
version being deployed: a key the contract lists and the env file lacks is refused by name; values
of the env file are never printed.

Secret-looking, a placeholder is dropped: ``secretshapes.secret_placeholder`` decides, from the
key, the comment lines above it and the rest of its own line, and the value. The rule errs toward
dropping: a dropped placeholder costs the reader an example, a carried one may be a real password
someone left in ``.env.example``. The key and its comment always stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from .. import display
from ..app import envfiles
from ..fsutil import write_atomic
from ..secretshapes import secret_placeholder, secret_shaped

MEMBER = "contract/.env.example"  # inside the release bundle; a template, never a settings file

# A commented-out setting (``# KEY=value``): its value is judged like a key's placeholder.
_COMMENTED_SETTING = re.compile(r"^(\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=)(.*)$")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@,+-]*$")


class ContractError(envfiles.EnvFileError):
    """An env file breaks the contract of the version being deployed."""


@dataclass(frozen=True)
class Entry:
    key: str
    comment: tuple[str, ...] = ()  # the comment lines above the key, without their '#'
    placeholder: str | None = None  # None: not carried (secret-looking), or empty in the example
    secret: bool = False


@dataclass(frozen=True)
class Contract:
    entries: tuple[Entry, ...]
    made_from: str = ""  # what it was made from, for the header: "tms-api 1.0.0 .env.example"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(entry.key for entry in self.entries)


def from_example(example: Path, made_from: str = "") -> Contract:
    """The contract of an app's ``.env.example`` (or of a contract file, which reads the same)."""
    example = Path(example)
    values = envfiles.read(example)  # refuses a missing, unreadable or malformed file
    notes = envfiles.comments(example)
    entries = []
    for key, value in values.items():
        note = notes.get(key, envfiles.KeyNotes())
        secret = secret_placeholder(key, "\n".join((*note.comment, note.statement)), value)
        entries.append(
            Entry(key, _scrub(note.comment), None if secret else (value or None), secret)
        )
    return Contract(tuple(entries), made_from or str(example))


def _scrub(comment: tuple[str, ...]) -> tuple[str, ...]:
    """Comment lines with the values of commented-out secret-looking settings removed, and any
    other line that holds a token (prose quoting one) left out."""
    scrubbed = []
    for line in comment:
        setting = _COMMENTED_SETTING.match(line)
        if setting and secret_placeholder(setting.group(2), "", setting.group(3).strip()):
            line = setting.group(1)
        elif secret_shaped(line):
            continue
        scrubbed.append(line)
    return tuple(scrubbed)


def _quote(value: str) -> str:
    if _PLAIN_VALUE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def render(contract: Contract) -> bytes:
    """The contract as an env-example file: header, then each key's comment and placeholder."""
    out = [
        f"# Env contract of {contract.made_from}: every key below must be set in the env file.",
        "# Placeholders of secret-looking keys are not carried; fill in real values.",
    ]
    for entry in contract.entries:
        out.append("")
        out += [f"# {line}".rstrip() for line in entry.comment]
        out.append(f"{entry.key}={_quote(entry.placeholder or '')}")
    return ("\n".join(out) + "\n").encode("utf-8")


def write(contract: Contract, dest: Path) -> Path:
    return write_atomic(Path(dest), render(contract))


def check(env_file: Path, contract_file: Path, *, described_as: str) -> envfiles.EnvCheck:
    """Refuse an env file that lacks a key of the contract; print the other findings as warnings.

    ``described_as`` says which contract this is in every line ("the contract carried by
    tms-api-1.0.0-release.zip"). Keys are named, values never. Lines without ``=`` are refused as
    ``envfiles.load`` refuses them.
    """
    env_file = Path(env_file)
    result = envfiles.compare(env_file, Path(contract_file))
    if result.missing:
        raise ContractError(
            f"{env_file} lacks keys that {described_as} requires: {', '.join(result.missing)}; "
            f"add them to {env_file}"
        )
    if result.bare:
        known = envfiles.read(Path(contract_file))
        raise envfiles.EnvFileError(envfiles.bare_refusal(env_file, result.bare, known))
    warnings = []
    if result.unknown:
        warnings.append(
            f"{env_file} has keys that {described_as} does not list: "
            f"{', '.join(result.unknown)}; this version does not read them: check for typos"
        )
    # The remaining findings (empty keys, a readable mode) read the same for any example.
    warnings += replace(result, unknown=(), example=Path(described_as)).warnings
    for line in warnings:
        display.warn(line)
    return result
