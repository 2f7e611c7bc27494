"""Where a run's time goes: named phases, timed where the flows do them, said in one line at the end.

``history.record`` starts a stopwatch for each export, release and deploy; ``phase(name)`` times
one step of it wherever that step runs (nothing is kept outside such a run: the library called
alone). The phases do not overlap; what they leave is said as ``other``. A step that streams
through several stages at once (the engine's ``docker save`` into the archive, hashed and scanned
as it goes) is one phase: its stages wait on each other and cannot be told apart honestly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

SAVE_AND_ARCHIVE = "save & archive"  # docker save streamed into the archive, deflated and hashed
_times: ContextVar[dict[str, float] | None] = ContextVar("airgapkit_phase_times", default=None)


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """The phase times of the run inside the ``with``: {name: seconds}, in the order first met."""
    times: dict[str, float] = {}
    token = _times.set(times)
    try:
        yield times
    finally:
        _times.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the step inside the ``with`` as ``name`` (added up when met again)."""
    times = _times.get()
    started = time.monotonic()
    try:
        yield
    finally:
        if times is not None:
            times[name] = times.get(name, 0.0) + time.monotonic() - started


def rounded(times: dict[str, float]) -> dict[str, float]:
    """The times as a history entry keeps them: tenths of a second."""
    return {name: round(seconds, 1) for name, seconds in times.items()}


def line(times: dict[str, float], total: float) -> str:
    """``times: save 7.6 s, pack 3.1 s, other 0.4 s (total 11.1 s)``."""
    parts = [f"{name} {seconds:.1f} s" for name, seconds in times.items()]
    rest = total - sum(times.values())
    if rest >= 0.05:
        parts.append(f"other {rest:.1f} s")
    return f"times: {', '.join(parts)} (total {total:.1f} s)"
