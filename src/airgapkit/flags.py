"""Task flags turned into values: argument parsing, kept apart from the logic that uses them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from .errors import AirgapError


def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD flag; empty means today (None)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise AirgapError(f"date {text!r} is not YYYY-MM-DD; write it like 2025-01-15") from exc


def parse_report_pairs(items: Iterable[str]) -> dict[str, Path]:
    """Repeated ``IMAGE=FILE`` flags as a mapping."""
    pairs = {}
    for item in items:
        ref, sep, path = item.partition("=")
        if not sep or not ref or not path:
            raise AirgapError(
                f"--report {item!r} is not IMAGE=FILE; write e.g. --report node:20-alpine=trivy.json"
            )
        pairs[ref] = Path(path)
    return pairs
