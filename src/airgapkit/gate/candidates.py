"""Choosing a base image: every candidate judged by the same rules, ranked best first.

Best first: passing candidates, then fewer critical, high, medium, low, unspecified vulnerabilities
(a candidate without a report sorts after every count), then smaller. Each report and the release
schedule are read once; the table's numbers come from what the rules found, not from their text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

import docker
from rich.console import Console

from .. import display
from ..errors import AirgapError, PolicyViolation, ScanReportError
from ..imagefacts import ImageFacts
from . import checkpoint, render, scanreports
from .candidate import Candidate
from .facts import from_engine
from .limits import Limits, resolve
from .schedule import load_schedule


def compare(
    client: docker.DockerClient,
    refs: list[str],
    *,
    reports: Mapping[str, Path] | None = None,
    report_dir: Path | None = None,
    limits: Mapping | Limits | None = None,
    today: date | None = None,
) -> list[Candidate]:
    """The procedure's comparison of several local candidates, best first (``sort_key``)."""
    if not refs:
        raise AirgapError(
            "no candidate images; name one or more, e.g. inv choose-base node:20-alpine"
        )
    limits = resolve(limits)
    found = {ref: from_engine(client, ref) for ref in refs}
    parsed = _reports_for(found, reports or {}, report_dir)
    schedule = load_schedule(limits.schedule or None)
    today = today or date.today()
    ranked = [
        Candidate.judged(
            facts,
            checkpoint.judge_local(
                client,
                facts,
                kind="base",
                report=parsed.get(ref),
                limits=limits,
                schedule=schedule,
                today=today,
            ),
        )
        for ref, facts in found.items()
    ]
    return sorted(ranked, key=Candidate.sort_key)


def choose(
    client: docker.DockerClient,
    refs: list[str],
    *,
    reports: Mapping[str, Path] | None = None,
    report_dir: Path | None = None,
    limits: Mapping | Limits | None = None,
    today: date | None = None,
    console: Console | None = None,
) -> list[Candidate]:
    """Print the candidates' table, best first; PolicyViolation when none passes every rule."""
    ranked = compare(
        client, refs, reports=reports, report_dir=report_dir, limits=limits, today=today
    )
    (console or display.console()).print(render.candidates_table(ranked))
    if not any(c.result.passed for c in ranked):
        raise PolicyViolation(
            f"none of the {len(ranked)} candidates passes every rule (see the Verdict column); "
            "add candidates, scan them, or adjust the policy limits"
        )
    return ranked


def match_reports(
    paths: Iterable[Path], candidates: Mapping[str, ImageFacts]
) -> dict[str, scanreports.VulnReport]:
    """Which report is about which candidate: by image ID first, else by a name the report gives."""
    found: dict[str, scanreports.VulnReport] = {}
    for path in sorted(paths):
        try:
            report = scanreports.load(path)
        except ScanReportError:
            continue  # other JSON files may share the folder
        ref = next(
            (r for r, f in candidates.items() if r not in found and _speaks_of(report, f)), None
        )
        if ref is not None:
            found[ref] = report
    return found


def _speaks_of(report: scanreports.VulnReport, facts: ImageFacts) -> bool:
    """The report is about this image, with no doubt left (no note about it)."""
    fatal, note = scanreports.for_image(
        report, image_id=facts.image_id, names=facts.names, layers=list(facts.layers)
    )
    return not fatal and not note


def _reports_for(
    found: Mapping[str, ImageFacts], reports: Mapping[str, Path], report_dir: Path | None
) -> dict[str, scanreports.VulnReport]:
    """The reports given by hand, then, for the candidates left, the folder's that match them."""
    unknown = set(reports) - set(found)
    if unknown:
        raise AirgapError(
            f"--report names {', '.join(sorted(unknown))}, which is not a candidate; "
            "use IMAGE=FILE with one of the candidates"
        )
    parsed = {ref: scanreports.load(Path(path)) for ref, path in reports.items()}
    if report_dir:
        unmatched = {ref: facts for ref, facts in found.items() if ref not in parsed}
        parsed.update(match_reports(_report_files(Path(report_dir)), unmatched))
    return parsed


def _report_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise AirgapError(
            f"report folder {folder} does not exist; "
            "pass the folder holding the trivy/grype JSON reports"
        )
    return list(folder.glob("*.json"))
