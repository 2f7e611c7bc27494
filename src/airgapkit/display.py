"""Untrusted text shown to a person: archive member names, manifest strings, hash-file names.

Such text comes from the other side of the air gap and may hold terminal escape sequences, other
control characters, or Rich markup (``[black on black]`` would hide what follows). ``safe`` escapes
control and invisible format characters so they show as ``\\x1b``, ``\\u202e``, ...; ``text`` gives
a Rich ``Text`` of it, which Rich never reads as markup; ``markup`` escapes it for places that do
read markup (a formatted message, a table cell given as a string).

Every Rich console airgapkit prints through is made here, in one of three kinds: ``console`` for
tables and messages a person reads, ``plain`` for lines that are data (a command to copy, a
reference, a path: never wrapped, never read as markup), ``wide`` for tables of hashes, which a
pipe or file must get whole. A console finds its stream when it prints, so one made at import
writes where stdout or stderr is at that time.
"""

from __future__ import annotations

import sys
import unicodedata

from rich.console import Console
from rich.markup import escape
from rich.text import Text


def safe(value: object) -> str:
    """``value`` as text with every control or invisible format character escaped."""
    return "".join(_escaped(ch) for ch in str(value))


def _escaped(ch: str) -> str:
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def text(value: object, style: str = "") -> Text:
    """A Rich ``Text`` of ``value``, escaped, never read as markup."""
    return Text(safe(value), style=style)


def markup(value: object) -> str:
    """``value`` escaped, and its square brackets escaped for Rich markup."""
    return escape(safe(value))


def warn(line: str) -> None:
    """One warning line on stderr, as every module words it: ``airgapkit: warning: ...``."""
    print(f"airgapkit: warning: {line}", file=sys.stderr)


def console(*, stderr: bool = False) -> Console:
    """For tables and messages a person reads (Rich markup in the message)."""
    return Console(stderr=stderr)


def plain(*, stderr: bool = False) -> Console:
    """For lines that are data: never wrapped, never read as markup, never coloured by guess."""
    return Console(stderr=stderr, soft_wrap=True, markup=False, highlight=False)


def wide() -> Console:
    """For tables of hashes: as wide as a terminal, or 400 columns in a file or pipe, so a hash
    is never cut."""
    out = Console()
    return out if out.is_terminal else Console(width=400)
