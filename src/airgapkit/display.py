"""Untrusted text shown to a person: archive member names, manifest strings, hash-file names.

Such text comes from the other side of the air gap and may hold terminal escape sequences, other
control characters, or Rich markup (``[black on black]`` would hide what follows). ``safe`` escapes
control and invisible format characters so they show as ``\\x1b``, ``\\u202e``, ...; ``text`` gives
a Rich ``Text`` of it, which Rich never reads as markup; ``markup`` escapes it for places that do
read markup (a formatted message, a table cell given as a string).
"""

from __future__ import annotations

import sys
import unicodedata

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
