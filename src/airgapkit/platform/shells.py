"""Words quoted for the shell a person types a printed command into: POSIX ``sh`` or PowerShell.

Both systems' rules are here so either can be printed anywhere (a command meant for the far side,
whose system need not be this one's); ``airgapkit.platform.quote`` is this system's.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

# Words each shell takes as they are (file names, flags, image references): printed unquoted.
_SH_PLAIN = re.compile(r"^[A-Za-z0-9_./:=@%+,-]+$")
# PowerShell: no comma (it makes an array), no leading @ (a splat); a backslash is plain there.
_PS_PLAIN = re.compile(r"^[A-Za-z0-9_./:=%+\\-][A-Za-z0-9_./:=@%+\\-]*$")
# PowerShell ends a single-quoted string at any of these; inside one, each is written twice.
_PS_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")


def sh_quote(word: str) -> str:
    """``word`` as one argument of a POSIX shell (single quotes, ``'`` written ``'"'"'``)."""
    return word if _SH_PLAIN.match(word) else shlex.quote(word)


def powershell_quote(word: str) -> str:
    """``word`` as one argument of PowerShell: in single quotes, where nothing expands."""
    return word if _PS_PLAIN.match(word) else "'" + _PS_QUOTES.sub(r"\1\1", word) + "'"


def sh_join(argv: Iterable[str]) -> str:
    return " ".join(sh_quote(str(word)) for word in argv)


def powershell_join(argv: Iterable[str]) -> str:
    return " ".join(powershell_quote(str(word)) for word in argv)


def for_either(argv: Iterable[str]) -> list[tuple[str, str]]:
    """A command for a machine whose shell is not known here: one line when it reads the same in
    both shells, else ``(shell, line)`` for each."""
    words = [str(word) for word in argv]
    sh, ps = sh_join(words), powershell_join(words)
    return [("", sh)] if sh == ps else [("sh", sh), ("PowerShell", ps)]


def sha256_checks(sums_name: str, several: bool) -> list[tuple[str, str]]:
    """How a person checks files against the hash file ``sums_name`` by hand, in the folder
    holding both: ``sha256sum -c`` (Linux, macOS) and ``Get-FileHash`` (Windows PowerShell).
    ``several``: it lists files that need not all be there (media volumes and their whole)."""
    sh = ["sha256sum", "-c", *(["--ignore-missing"] if several else []), sums_name]
    ps = (
        f"Get-Content -LiteralPath {powershell_quote(sums_name)} | ForEach-Object "
        "{ $h, $n = $_ -split '\\s+', 2; if (Test-Path -LiteralPath $n) { "
        "if ((Get-FileHash -LiteralPath $n -Algorithm SHA256).Hash -eq $h) "
        '{ "${n}: OK" } else { "${n}: FAILED" } } }'
    )
    return [("Linux, macOS", sh_join(sh)), ("Windows PowerShell", ps)]
