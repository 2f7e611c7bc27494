"""The Node.js release schedule: which major is supported until when.

The packaged schedule is ``data/node-releases.json`` (from the Node.js Release Working Group's
``schedule.json``); the ``policy.schedule`` setting points at a newer one, in that format or the
upstream one, so a new schedule needs no code change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import AirgapError


@dataclass(frozen=True)
class NodeRelease:
    major: int
    codename: str
    start: date
    lts: date | None  # None: an odd release, never LTS
    maintenance: date | None
    end: date  # end of life: no fixes after this day

    def phase(self, today: date) -> str:
        """Where the release stands on ``today``, in the schedule's own words."""
        if self.lts and today < self.lts:
            return f"Current, LTS from {self.lts}"
        if self.maintenance and today >= self.maintenance:
            return "Maintenance LTS"
        return "Active LTS"


def load_schedule(path: str | Path | None = None) -> dict[int, NodeRelease]:
    """The Node.js release schedule: the packaged one, or the file at ``path``.

    ``path`` may hold airgapkit's format (``{"releases": [{"major": 20, ...}]}``) or the upstream
    ``schedule.json`` of the Node.js Release Working Group (``{"v20": {"start": ..., ...}}``).
    """
    if not path:
        return _packaged_schedule()
    path = Path(path)
    try:
        return _parse_schedule(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise AirgapError(
            f"Node release schedule {path} does not exist; fix policy.schedule or remove it to use "
            "the packaged one"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AirgapError(
            f"Node release schedule {path} is not readable ({exc}); use the upstream schedule.json "
            "or the format of airgapkit/data/node-releases.json"
        ) from exc


@lru_cache(maxsize=1)
def _packaged_schedule() -> dict[int, NodeRelease]:
    packaged = resources.files("airgapkit").joinpath("data/node-releases.json")
    return _parse_schedule(json.loads(packaged.read_text(encoding="utf-8")))


def _day(value) -> date | None:
    return date.fromisoformat(value) if value else None


def _parse_schedule(doc: dict) -> dict[int, NodeRelease]:
    if "releases" in doc:
        rows = [(int(r["major"]), r) for r in doc["releases"]]
    else:  # upstream: {"v20": {...}}; "v0.10" and the like are not majors of today's numbering
        rows = [(int(k[1:]), v) for k, v in doc.items() if re.fullmatch(r"v\d+", k)]
    schedule = {
        major: NodeRelease(
            major=major,
            codename=r.get("codename") or "",
            start=_day(r["start"]),
            lts=_day(r.get("lts")),
            maintenance=_day(r.get("maintenance")),
            end=_day(r["end"]),
        )
        for major, r in rows
    }
    if not schedule:
        raise ValueError("no releases in it")
    return schedule


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start to end (negative when end is earlier)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return months
