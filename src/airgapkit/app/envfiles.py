"""The env file of an environment: chosen from the configuration, checked against ``.env.example``.

An env file holds passwords, so this module deals in *keys* only: no value of an env file ever
appears in a message, a warning or an exception, including when a line cannot be parsed.

Files are read by python-dotenv (``export KEY=...``, quotes, comments and multi-line quoted values
all work) without ``${VAR}`` interpolation: a value is passed to the container exactly as written,
as ``docker run --env-file`` does, so a password containing ``$`` stays intact and nothing from the
shell that runs the task leaks into the container.

Typical use (``deploy`` and ``debug-shell``)::

    env_file = envfiles.resolve("prod", cfg.environments, Path.cwd())
    envfiles.check(env_file, Path(cfg.env_example))
    environment = envfiles.load(env_file)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv.parser import parse_stream

from .. import display, platform
from ..errors import AirgapError
from ..secretshapes import secret_setting

__all__ = [
    "EnvCheck",
    "EnvFileError",
    "KeyNotes",
    "Parsed",
    "check",
    "comments",
    "compare",
    "holds_settings",
    "is_env_file",
    "is_env_template",
    "load",
    "loose_mode",
    "marked_secret",
    "parse",
    "read",
    "resolve",
    "secret_keys",
]

_CONFIG_HINT = "invoke.yaml under airgapkit.environments"

# What an env file is, decided here alone: pack, the build context and the secrets rule ask this.
_ENV_FILE = re.compile(r"(^|/)(\.env(\..*)?|[^/]*\.env)$")
_TEMPLATE = re.compile(r"\.(example|sample|template|dist|defaults)$", re.IGNORECASE)


def is_env_file(path: str) -> bool:
    """True for ``.env``, ``.env.prod``, ``prod.env``, ``.env.example`` (at any depth)."""
    return bool(_ENV_FILE.search(path.rstrip("/")))


def is_env_template(path: str) -> bool:
    """True for the placeholders-only kind: ``.env.example``, ``.env.sample``, ``.env.template``."""
    return is_env_file(path) and bool(_TEMPLATE.search(path.rstrip("/")))


def holds_settings(path: str) -> bool:
    """An env file with an environment's real settings (not a template): it never travels."""
    return is_env_file(path) and not is_env_template(path)


_NEWLINE = re.compile(r"\r\n|\r|\n")
_MARK = re.compile(r"^\s*(\[secret\]|secret\b)", re.IGNORECASE)  # a comment line, its '#' gone


class EnvFileError(AirgapError):
    """An env file is unknown, missing, unreadable, malformed or lacks keys."""


@dataclass(frozen=True)
class EnvCheck:
    """How an env file's keys compare with the example's. Keys only, never values."""

    env_file: Path
    example: Path
    # Keys the example has and the env file lacks (check() refuses these).
    missing: tuple[str, ...] = ()
    # Keys the env file has and the example does not (a typo, or a key the app no longer reads).
    unknown: tuple[str, ...] = ()
    # Keys empty in the env file while the example gives them a value (probably not filled in).
    empty: tuple[str, ...] = ()
    # Keys written without '=' (key -> line): no value to pass on; check() refuses these too.
    bare: Mapping[str, int] = field(default_factory=dict)
    # The env file's permission bits when group or others can access it, else None.
    loose_mode: int | None = None
    # Keys set on more than one line (key -> lines): the last one wins, as with docker.
    duplicates: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.bare or self.warnings)

    @property
    def warnings(self) -> list[str]:
        """One line per kind of finding that does not stop a deploy."""
        lines = []
        if self.unknown:
            lines.append(
                f"{self.env_file} has keys that {self.example} does not list: "
                f"{', '.join(self.unknown)}; check them for typos or add them to {self.example}"
            )
        if self.empty:
            lines.append(
                f"{self.env_file} leaves empty keys that {self.example} gives a value: "
                f"{', '.join(self.empty)}; fill them in if the app needs them"
            )
        if self.duplicates:
            lines.append(duplicates_warning(self.env_file, self.duplicates))
        if self.loose_mode is not None:
            lines.append(
                f"{self.env_file} is readable by group or others (mode {self.loose_mode:03o}) "
                f"and holds passwords; run: {platform.private_command(self.env_file)}"
            )
        return lines


def resolve(environment: str, environments: Mapping[str, str], base_dir: Path) -> Path:
    """The env file configured for ``environment``, relative paths taken from ``base_dir``.

    Refuses an environment that is not configured and a file that does not exist.
    """
    if environment not in environments:
        configured = ", ".join(environments) or "none"
        raise EnvFileError(
            f"unknown environment {environment!r} (configured: {configured}); "
            f"use one of those or add it to {_CONFIG_HINT}, e.g. {environment}: .env.{environment}"
        )
    path = Path(base_dir) / Path(str(environments[environment])).expanduser()
    if not path.exists():
        raise EnvFileError(
            f"env file {path} for environment {environment!r} does not exist; "
            f"copy .env.example to {path} and fill in its values"
        )
    if not path.is_file():
        raise EnvFileError(
            f"env file {path} for environment {environment!r} is not a file; "
            f"point {_CONFIG_HINT}.{environment} at a file"
        )
    return path


def _statement_line(original) -> int:
    """The line a statement's text starts on (python-dotenv counts the blank lines before it)."""
    text = original.string
    lead = text[: len(text) - len(text.lstrip())]
    return original.line + len(_NEWLINE.findall(lead))


def _statements(env_file: Path) -> tuple[str, list]:
    """The file's text and python-dotenv's statements; refuses what cannot be read or parsed."""
    env_file = Path(env_file)
    try:
        # utf-8-sig: an editor's byte-order mark would otherwise become part of the first key.
        text = env_file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise EnvFileError(
            f"env file {env_file} does not exist; create it (see .env.example) or check the path"
        ) from exc
    except IsADirectoryError as exc:
        raise EnvFileError(f"{env_file} is a folder, not an env file; check the path") from exc
    except PermissionError as exc:
        raise EnvFileError(
            f"{env_file} cannot be read by this user; fix its owner or run as its owner"
        ) from exc
    except UnicodeDecodeError as exc:
        # The codec's message quotes the offending byte, which may be part of a secret, and the
        # error holds the file's whole text: this one cause is dropped, even for AIRGAPKIT_DEBUG.
        raise EnvFileError(
            f"{env_file} is not UTF-8 text (first bad byte at offset {exc.start}); save it as UTF-8"
        ) from None

    bindings = list(parse_stream(io.StringIO(text)))
    # python-dotenv only logs an unparsable statement and skips it; a skipped line in a production
    # env file is a key silently missing, so each one is a refusal here.
    bad_lines = [_statement_line(b.original) for b in bindings if b.error]
    if bad_lines:
        raise EnvFileError(
            f"{env_file}: cannot parse {_lines(bad_lines)} (content not shown: it may hold a "
            f"secret); write each as KEY=value, quoting values that hold spaces, quotes or #"
        )
    _refuse_nul(env_file, bindings)
    return text, bindings


def _refuse_nul(env_file: Path, bindings: list) -> None:
    """Refuse a NUL byte in a key or value: no process environment can hold one, and the engine
    refuses the container only when it starts, quoting ``KEY=VALUE`` whole in its error."""
    held = [b for b in bindings if "\x00" in (b.key or "") + (b.value or "")]
    if held:
        # A key with a NUL in it may be a pasted secret: such a line is named by number only.
        named = [
            f"line {_statement_line(b.original)} "
            + ("(content not shown)" if "\x00" in b.key else f"({b.key})")
            for b in held
        ]
        raise EnvFileError(
            f"{env_file}: a NUL byte on {', '.join(named)}, which no container's environment can "
            "carry (value not shown); remove it"
        )


def duplicates_warning(env_file: Path, duplicates: Mapping[str, tuple[int, ...]]) -> str:
    """One line naming each key set more than once and its lines (never a value)."""
    said = "; ".join(
        f"{key} on lines {', '.join(map(str, lines[:-1]))} and {lines[-1]}"
        for key, lines in duplicates.items()
    )
    return f"{env_file} sets {said}; the last one wins: keep one line per key"


@dataclass(frozen=True)
class KeyNotes:
    """What an env file says of a key besides its value (``comments``)."""

    # The comment lines directly above the key (no blank line between), without their '#'.
    comment: tuple[str, ...] = ()
    # The key's statement as written: its value and any inline comment. Never for a message.
    statement: str = ""


@dataclass(frozen=True)
class Parsed:
    """An env file read and parsed once: each key's value (``None`` for a bare ``KEY`` written
    without ``=``; the last line of a key wins, as with docker), the line of each bare key, the
    lines of each key set more than once, and what the file says of each key besides its value."""

    values: dict[str, str | None]
    bare: dict[str, int]
    duplicates: dict[str, tuple[int, ...]]
    notes: dict[str, KeyNotes]


def parse(env_file: Path) -> Parsed:
    """The env file, parsed once by python-dotenv's parser (no ``${VAR}`` interpolation)."""
    values: dict[str, str | None] = {}
    lines: dict[str, list[int]] = {}
    for b in (bindings := _statements(env_file)[1]):
        if b.key is not None:
            values[b.key] = b.value
            if b.value is not None:
                lines.setdefault(b.key, []).append(_statement_line(b.original))
    bare = {
        b.key: _statement_line(b.original)
        for b in bindings
        if b.key is not None and values.get(b.key, "") is None
    }
    duplicates = {key: tuple(found) for key, found in lines.items() if len(found) > 1}
    return Parsed(values, bare, duplicates, _notes(bindings))


def _notes(bindings: list) -> dict[str, KeyNotes]:
    """Per key, the comment lines above it and its own statement (for an example's documentation).

    The statements are python-dotenv's, so a ``#`` inside a quoted multi-line value is never taken
    for a comment.
    """
    notes: dict[str, KeyNotes] = {}
    pending: list[str] = []
    for binding in bindings:
        raw = binding.original.string
        statement = raw.lstrip()
        if "\n" in raw[: len(raw) - len(statement)]:
            pending = []  # a blank line before it ends the comment block above
        if binding.key is not None:
            notes[binding.key], pending = KeyNotes(tuple(pending), statement), []
            continue
        for line in statement.splitlines():
            if line.strip().startswith("#"):
                pending.append(line.strip()[1:].removeprefix(" ").rstrip())
            elif not line.strip():
                pending = []
    return notes


def comments(env_file: Path) -> dict[str, KeyNotes]:
    """Per key, the comment lines above it and its own statement; refuses what ``read`` refuses."""
    return parse(env_file).notes


def marked_secret(example: Path) -> set[str]:
    """Keys of ``.env.example`` whose comment block above starts a line with ``# secret`` (or
    ``# [secret]``): they go into a Swarm service as secrets (``secret_keys``)."""
    return {key for key, note in comments(example).items() if any(map(_MARK.match, note.comment))}


def secret_keys(
    values: Mapping[str, str], example: Path, configured: Iterable[str] = ()
) -> set[str]:
    """The keys of an env file that go into a Swarm service as secrets, never as plain environment:
    those whose name or value looks secret (``secretshapes.secret_setting``), those marked in the
    example (``marked_secret``), and those the environment lists under ``secrets``."""
    shaped = {k for k, v in values.items() if secret_setting(k, v)}
    return (shaped | marked_secret(example) | set(configured)) & set(values)


def _lines(numbers) -> str:
    numbers = sorted(set(numbers))
    return f"line{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


def bare_refusal(env_file: Path, bare: Mapping[str, int], known_keys) -> str:
    """One line about bare ``KEY`` lines; only keys the example lists are named.

    A line without ``=`` may be a password pasted on a line of its own, so an unlisted one is
    shown by its line number only.
    """
    known = set(known_keys)
    named = [f"{key} (line {line})" for key, line in bare.items() if key in known]
    unnamed = [line for key, line in bare.items() if key not in known]
    parts = named + ([f"{_lines(unnamed)} (content not shown)"] if unnamed else [])
    return f"{env_file}: no '=' on {'; '.join(parts)}; write KEY=value, or KEY= for an empty value"


def read(env_file: Path) -> dict[str, str | None]:
    """Every key of an env file with its value (``None`` for a bare ``KEY`` written without ``=``).

    Refuses a file python-dotenv cannot parse, naming the line numbers but never their content.
    """
    return parse(env_file).values


def loose_mode(env_file: Path) -> int | None:
    """The file's permission bits if group or others may access it, else None (and on Windows)."""
    return platform.loose_mode(Path(env_file))


def compare(env_file: Path, example: Path) -> EnvCheck:
    """Compare an env file's keys with the example's, refusing nothing and printing nothing.

    Still refuses what cannot be compared: a missing example, an unreadable or malformed file.
    """
    env_file, example = Path(env_file), Path(example)
    if not example.is_file():
        raise EnvFileError(
            f"{example} does not exist; it lists the keys every env file must have: restore it "
            f"from the app's repository or set airgapkit.env_example in invoke.yaml"
        )
    wanted = parse(example).values
    parsed = parse(env_file)
    given, bare = parsed.values, parsed.bare
    return EnvCheck(
        env_file=env_file,
        example=example,
        missing=tuple(k for k in wanted if k not in given),
        # A bare line is no key the user meant to add (it may be a pasted password): it is
        # reported by line under ``bare``, never by its text here.
        unknown=tuple(k for k in given if k not in wanted and k not in bare),
        empty=tuple(k for k in given if given[k] == "" and wanted.get(k)),
        bare=bare,
        loose_mode=loose_mode(env_file),
        duplicates=parsed.duplicates,
    )


def check(env_file: Path, example: Path) -> EnvCheck:
    """Refuse an env file that lacks keys of the example; print its warnings to stderr.

    Also refuses lines written without ``=`` (as ``load`` would). Returns the comparison, whose
    ``warnings`` are the lines printed, each prefixed with ``airgapkit: warning:``.
    """
    result = compare(env_file, example)
    if result.missing:
        raise EnvFileError(
            f"{result.env_file} lacks keys that {result.example} lists: "
            f"{', '.join(result.missing)}; add them to {result.env_file}"
        )
    if result.bare:
        raise EnvFileError(bare_refusal(result.env_file, result.bare, read(result.example)))
    for line in result.warnings:
        display.warn(line)
    return result


def load(env_file: Path, known_keys: Iterable[str] = (), *, warn: bool = True) -> dict[str, str]:
    """The env file as the ``environment`` of a container: every key with a string value.

    A bare ``KEY`` line (no ``=``) is refused: ``docker run --env-file`` would copy that variable
    from the host's environment, which on a release machine is never what is meant. The refusal
    names such a key when it is one of ``known_keys`` (the example's keys), else gives its line
    number only, since a line without ``=`` may be a pasted password.
    """
    parsed = parse(env_file)
    if parsed.bare:
        raise EnvFileError(bare_refusal(env_file, parsed.bare, known_keys))
    if warn and parsed.duplicates:  # ``check`` says it where it ran first
        display.warn(duplicates_warning(env_file, parsed.duplicates))
    return {k: v for k, v in parsed.values.items() if v is not None}
