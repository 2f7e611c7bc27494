"""Every table the gate shows: one image's rules, the base-image candidates, a recorded gate, the
app packages' report.

The rules return data; these functions only turn it into Rich tables (and one line for an accepted
risk). A recorded gate is the dict ``GateResult.record()`` put in a bundle's manifest, shown by
``inv inspect`` on the other side; so is the app packages' report (``AppSummary.record()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from rich.table import Table

from .. import display
from . import scanreports
from .rules import counts_text

if TYPE_CHECKING:
    from .candidate import Candidate
    from .rules import GateResult, RuleResult

PASSED = "[green]PASS[/green]"
FAILED = "[bold red]FAIL[/bold red]"


def gate_table(result: GateResult) -> Table:
    """One row per rule: result, measured value, limit, and why."""
    title = f"{result.image} ({result.kind} image {_short_id(result.image_id)})"
    return _rules_table(title, (r.record() for r in result.results))


def rules_table(title: str, results: Iterable[RuleResult]) -> Table:
    """Some rules' rows under a title of the caller's (``inv audit``: the app's packages alone)."""
    return _rules_table(title, (r.record() for r in results))


def record_table(record: Mapping) -> Table:
    """A gate as a bundle's manifest recorded it: the same rows, and the day they were checked."""
    about = " ".join(
        filter(None, [f"{record['kind']} image", _short_id(record.get("image_id", ""))])
    )
    checked = f", checked {record['checked_on']}" if record.get("checked_on") else ""
    return _rules_table(f"{record['image']} ({about}{checked})", record["rules"])


def accepted_risk_line(record: Mapping) -> str:
    """The failures a person went on with, and their reason ("" when none was accepted)."""
    if not record.get("accepted_risk"):
        return ""
    failed = ", ".join(record["failures"])
    return f"[yellow]risk accepted[/yellow] for {failed}: {record['accepted_risk']}"


def app_report_table(record: Mapping) -> Table:
    """The app packages' known vulnerabilities: counts per severity, source and date, and the worst
    findings (package, version, advisory, severity, fixed-in). ``record`` may come from a bundle:
    every value is shown as data."""
    dated = " (its file's date)" if record["dated_by"] == "file time" else ""
    about = f"{record['source']} of {record['packages']} packages, as of {record['date']}{dated}"
    if record["unscored"]:
        about += f"; {record['unscored']} with no CVSS score counted by {record['source']}'s own severity"
    out = Table(
        title=display.text(f"App packages: {counts_text(record['counts'])}"),
        title_justify="left",
        caption=display.text(about),
        caption_justify="left",
    )
    for column in ("Package", "Version", "Advisory", "Severity", "CVSS", "Fixed in"):
        out.add_column(column, overflow="fold")
    for row in record["worst"]:
        cells = ("package", "version", "id", "severity", "score", "fixed")
        out.add_row(*(display.text(row[key] or "-") for key in cells))
    return out


def candidates_table(candidates: Iterable[Candidate]) -> Table:
    """The procedure's comparison: size, vulnerabilities per severity, end of life, verdict."""
    out = Table(title="Base image candidates, best first", title_justify="left")
    out.add_column("Image")
    out.add_column("Size", justify="right")
    for severity in scanreports.TABLE_SEVERITIES:
        out.add_column(severity.capitalize(), justify="right")
    out.add_column("LTS until")
    out.add_column("Verdict", overflow="fold")
    for c in candidates:
        counts = [str(c.counts[s]) if c.counts else "-" for s in scanreports.TABLE_SEVERITIES]
        failed = ", ".join(r.rule for r in c.result.failures)
        verdict = f"{FAILED} {failed}" if failed else PASSED
        out.add_row(c.image, f"{c.size_mb:.1f} MB", *counts, c.lts_until, verdict)
    return out


def _rules_table(title: str, rows: Iterable[Mapping]) -> Table:
    out = Table(title=title, title_justify="left")
    for column in ("Rule", "Result", "Measured", "Limit", "Why"):
        out.add_column(column, overflow="fold")
    for row in rows:
        verdict = PASSED if row["passed"] else FAILED
        out.add_row(row["rule"], verdict, row["measured"], row["limit"], row.get("why", ""))
    return out


def _short_id(image_id: str) -> str:
    return image_id.split(":")[-1][:12]
