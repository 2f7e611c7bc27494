"""A base-image candidate as the gate judged it: the record ``choose-base`` ranks (``candidates``)
and its table shows (``render.candidates_table``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..imagefacts import ImageFacts
from . import rules, scanreports


@dataclass
class Candidate:
    image: str
    size_mb: float
    counts: dict[str, int] | None  # None: no report for it
    lts_until: str  # the Node release's end of life, or "unknown"
    result: rules.GateResult

    @classmethod
    def judged(cls, facts: ImageFacts, result: rules.GateResult) -> Candidate:
        report = result.result("vulnerabilities").report
        release = result.result("node-lts").release
        return cls(
            image=facts.ref,
            size_mb=facts.size / rules.MB,
            counts=report.counts if report else None,
            lts_until=str(release.end) if release else "unknown",
            result=result,
        )

    def sort_key(self):
        """Passing first, then fewer critical, high, ... unspecified (no report: after every
        count), then smaller."""
        counts = [
            self.counts[s] if self.counts else float("inf") for s in scanreports.TABLE_SEVERITIES
        ]
        return (not self.result.passed, *counts, self.size_mb)
