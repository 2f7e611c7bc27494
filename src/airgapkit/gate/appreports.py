"""Vulnerability reports on the app's own npm packages, from four tools, held against the SBOM.

The app image carries the app's npm packages (often hundreds) beside the base image's; the SBOM
(``npm sbom``, ``trust/sbom.py``) lists them. A report about them counts only when it is about that
tree: ``read`` parses one, refuses one that names a package (name and version) the SBOM does not
list, and places every finding by its CVSS v3 base score (``scanreports``), else by the severity
its source gives (npm's ``moderate`` is Medium, ``info`` None); a label no source uses is refused.

Formats, told apart by their content (see tests/fixtures/appreports/README.md for the sources):

- npm audit, ``npm audit --json --omit=dev`` of npm 7 and later (``auditReportVersion`` 2):
  ``vulnerabilities.<name>.{nodes,via}``. An advisory is a ``via`` object (``source``, ``url``,
  ``severity``, ``cvss.{score,vectorString}``, ``range``); a ``via`` string names another vulnerable
  package this one depends on (npm's metavulnerability), whose advisory is counted there, once. npm
  names no versions: a package's is the SBOM's, or for a name the tree holds in several versions,
  the installed tree's at the ``nodes`` install paths. A score comes with its vector (npm writes
  score 0 and no vector for an advisory without CVSS). Fixed-in: the upper bound of ``range``
  (``<6.14.1`` is fixed in 6.14.1).
- Trivy, ``trivy sbom SBOM -f json``, and Grype, ``grype sbom:SBOM -o json``: read as for images
  (``scanreports``). When Trivy lists every package it scanned (``--list-all-pkgs``:
  ``Results[].Packages[].{Name,Version}``), each of the SBOM's must be among them.
- OSV-Scanner, ``osv-scanner scan --format json -L SBOM``: ``results[].packages[]`` with
  ``package.{name,version}``, ``vulnerabilities[]`` (OSV records: ``severity[]`` CVSS v3 vectors,
  ``database_specific.severity``, ``affected[].ranges[].events[].fixed``) and ``groups[].ids`` (one
  vulnerability under all its IDs: one finding per group).

A report says only what it found: one with no finding names no package and so contradicts no SBOM.
npm's report counts the packages it audited (``metadata.dependencies``): fewer than the SBOM lists
is a report of another tree. Reports that carry no date (npm, OSV-Scanner) are dated by their file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from cvss import CVSS3, CVSSError

from .. import display
from ..errors import ScanReportError
from . import scanreports

NPM, TRIVY, GRYPE, OSV = "npm audit", "trivy", "grype", "osv-scanner"
WORST = 5  # findings a manifest keeps, worst first, for inspect and inv sbom
FORMATS_HINT = (
    "pass npm audit --json output (npm 7 or later), or the Trivy, Grype or OSV-Scanner JSON report "
    "of the app's SBOM"
)
_RANK = {severity: rank for rank, severity in enumerate(scanreports.SEVERITIES)}


@dataclass(frozen=True)
class AppFinding:
    package: str
    version: str
    id: str  # the advisory: GHSA-..., CVE-..., npm's number
    severity: str  # where it was counted
    score: float | None  # the CVSS v3 base score used; None: counted by its source's label
    label: str  # the source's own severity label
    fixed: str = ""  # the version(s) that fix it, where the report says

    def record(self) -> dict:
        score = "" if self.score is None else f"{self.score:.1f}"
        return {
            "package": self.package,
            "version": self.version,
            "id": self.id,
            "severity": self.severity,
            "score": score,
            "fixed": self.fixed,
        }


@dataclass
class AppReport:
    """A report read and matched to the SBOM."""

    path: Path
    source: str  # npm audit, trivy, grype, osv-scanner
    dated: date
    dated_by: str  # "report" (it says when it was made), "file time", or "run" (npm audit just ran)
    findings: list[AppFinding] = field(default_factory=list)
    scanned: set[tuple[str, str]] | None = None  # every package it scanned, where it lists them

    def summary(self, packages: int, member: str | None) -> AppSummary:
        counts = {severity: 0 for severity in scanreports.SEVERITIES}
        for finding in self.findings:
            counts[finding.severity] += 1
        return AppSummary(
            source=self.source,
            date=self.dated.isoformat(),
            dated_by=self.dated_by,
            packages=packages,
            counts=counts,
            unscored=sum(f.score is None for f in self.findings),
            worst=[f.record() for f in worst(self.findings)],
            member=member,
        )


@dataclass(frozen=True)
class AppSummary:
    """What the gate judges and a manifest carries (``app_report``): the far side has no tree and
    no network, so it shows and judges these numbers as the connected side counted them."""

    source: str
    date: str
    dated_by: str
    packages: int  # the SBOM's packages the report was held against
    counts: dict[str, int]  # findings per severity (scanreports.SEVERITIES)
    unscored: int  # findings with no CVSS v3 score, counted by their source's severity
    worst: list[dict]  # AppFinding.record() of the worst few
    member: str | None = None  # the report in the bundle (reports/app-*.json)

    def record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Mapping) -> AppSummary:
        return cls(**{key: record[key] for key in record})


@dataclass(frozen=True)
class Unavailable:
    """No report could be had (the advisory service did not answer): the rule fails, saying why."""

    why: str


def worst(findings: Iterable[AppFinding], count: int = WORST) -> list[AppFinding]:
    ranked = sorted(
        findings, key=lambda f: (_RANK[f.severity], -(f.score or 0.0), f.package, f.version, f.id)
    )
    return ranked[:count]


# --- reading -------------------------------------------------------------------------------------


def read(
    path: Path, *, packages: Iterable[tuple[str, str]], tree: Mapping[str, str] | None = None
) -> AppReport:
    """A report on the app's packages, refused unless every package it names is the SBOM's.

    ``packages`` are the SBOM's (name, version) pairs; ``tree`` maps the installed tree's paths
    (``node_modules/a/node_modules/b``) to versions, for npm's reports, which name no versions.
    """
    path, listed = Path(path), set(packages)
    doc = _load(path)
    source = _source(path, doc)
    if source == NPM:
        report = _npm(path, doc, listed, tree or {})
    elif source == OSV:
        report = _osv(path, doc)
    else:
        report = _scanner(scanreports.load(path), doc)
    _check_labels(report)
    _check_listed(report, listed)
    return report


def detect(path: Path) -> str:
    """Which tool wrote a report (npm audit, trivy, grype, osv-scanner), refusing anything else:
    the check a flow makes before its long steps, so a wrong file costs no pull."""
    return _source(Path(path), _load(Path(path)))


def _source(path: Path, doc) -> str:
    if not isinstance(doc, dict):
        raise ScanReportError(
            f"{path} is not a vulnerability report airgapkit reads (found {_shape(doc)}); "
            f"{FORMATS_HINT}"
        )
    if "auditReportVersion" in doc:
        return NPM
    if _is_npm_error(doc):
        raise ScanReportError(
            f"{path} is npm audit's error output, not a report ({_npm_message(doc)}); "
            f"{FORMATS_HINT}"
        )
    if isinstance(doc.get("advisories"), dict):
        raise ScanReportError(
            f"{path} is npm 6's audit format (no auditReportVersion); run npm audit --json with npm "
            "7 or later"
        )
    if isinstance(doc.get("results"), list):
        return OSV
    if isinstance(doc.get("matches"), list):
        return GRYPE
    if any(key in doc for key in ("SchemaVersion", "Results", "ArtifactName")):
        return TRIVY
    raise ScanReportError(
        f"{path} is not a vulnerability report airgapkit reads (found {_shape(doc)}); "
        f"{FORMATS_HINT}"
    )


def _load(path: Path):
    try:
        with path.open("rb") as f:
            return json.load(f)
    except FileNotFoundError as exc:
        raise ScanReportError(f"app report {path} does not exist; {FORMATS_HINT}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScanReportError(
            f"app report {path} is not readable JSON ({exc}); a report cut short reads so too: "
            "write it again"
        ) from exc


def _shape(doc) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(display.safe(str(key))[:30] for key in list(doc)[:6])
        return f"an object with keys {keys}" if keys else "an empty object"
    return {list: "a list", str: "a string"}.get(type(doc), type(doc).__name__)


def _check_labels(report: AppReport) -> None:
    for finding in report.findings:
        if not scanreports.known_label(finding.label):
            raise ScanReportError(
                f"{report.path}: {display.safe(finding.id)} of {display.safe(finding.package)} has "
                f"severity {display.safe(finding.label)!r}, which no tool airgapkit reads uses "
                "(critical, high, moderate or medium, low, info, negligible, unknown); the report is "
                "damaged or of another tool"
            )


def _check_listed(report: AppReport, listed: set[tuple[str, str]]) -> None:
    for finding in report.findings:
        _require_listed(report.path, finding.package, finding.version, listed)
    if report.scanned is None:
        return
    # Only the SBOM's packages missing from the scan: Trivy may also list the app's own package.
    for name, version in sorted(listed - report.scanned)[:1]:
        raise ScanReportError(
            f"{report.path} lists the packages it scanned, and {display.safe(name)} "
            f"{display.safe(version)} of the app's SBOM is not among them: {ANOTHER_TREE}"
        )


ANOTHER_TREE = (
    "the report is of another app or lock file; make it from this app's SBOM (or run npm audit "
    "in the app folder after npm ci)"
)


def _require_listed(path: Path, name: str, version: str, listed: set[tuple[str, str]]) -> None:
    if (name, version) in listed:
        return
    held = sorted(v for n, v in listed if n == name)
    what = f"lists {name} {', '.join(held)}" if held else f"does not list {name}"
    raise ScanReportError(
        f"{path} names {display.safe(f'{name} {version}'.strip())}, but the app's SBOM "
        f"{display.safe(what)}: {ANOTHER_TREE}"
    )


def _place(path: Path, vuln_id: str, score: float | None, label: str) -> str:
    if score is not None:
        try:
            return scanreports.severity_from_score(score)
        except ValueError as exc:
            raise ScanReportError(
                f"{path}: {display.safe(vuln_id)} has CVSS score {score}, outside 0.0-10.0; the "
                "report is damaged: make it again"
            ) from exc
    return scanreports.severity_from_label(label)


# --- npm audit -----------------------------------------------------------------------------------


def _is_npm_error(doc: dict) -> bool:
    return isinstance(doc.get("error"), dict) and "message" in doc


def _npm_message(doc: dict) -> str:
    return display.safe(
        str(doc.get("message", "")).splitlines()[0][:200] if doc.get("message") else ""
    )


def _npm(path: Path, doc: dict, listed: set, tree: Mapping[str, str]) -> AppReport:
    if doc["auditReportVersion"] != 2 or not isinstance(doc.get("vulnerabilities"), dict):
        raise ScanReportError(
            f"{path} is npm audit output of report version {doc['auditReportVersion']!r} with "
            f"vulnerabilities {_shape(doc.get('vulnerabilities'))}; airgapkit reads version 2 "
            "(npm 7 and later): run npm audit --json again"
        )
    _check_audited(path, doc, listed)
    findings: dict[tuple, AppFinding] = {}
    for name, entry in doc["vulnerabilities"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("via"), list):
            raise ScanReportError(f"{path}: vulnerabilities.{display.safe(name)} has no via list")
        versions = {
            _npm_version(path, name, node, listed, tree) for node in entry.get("nodes") or []
        }
        for via in entry["via"]:
            if not isinstance(via, dict):
                continue  # a package it depends on: that package's own entry holds the advisory
            for version in sorted(versions):
                finding = _npm_finding(path, name, version, via)
                findings[(finding.id, name, version)] = finding
    return AppReport(path, NPM, scanreports.file_day(path), "file time", list(findings.values()))


def _check_audited(path: Path, doc: dict, listed: set) -> None:
    """npm counts every installed package it audited; fewer than the SBOM lists means another tree."""
    counted = (doc.get("metadata") or {}).get("dependencies") or {}
    total, dev = counted.get("total"), counted.get("dev", 0)
    if isinstance(total, int) and isinstance(dev, int) and total - dev < len(listed):
        raise ScanReportError(
            f"{path} is npm audit of {total - dev} runtime packages, fewer than the {len(listed)} "
            f"the app's SBOM lists: {ANOTHER_TREE}"
        )


def _npm_version(path: Path, name: str, node: str, listed: set, tree: Mapping[str, str]) -> str:
    """The version of ``name`` installed at ``node``: the tree's, else the SBOM's only one."""
    held = sorted(v for n, v in listed if n == name)
    if node in tree or len(held) == 1:
        version = tree.get(node) or held[0]
        _require_listed(path, name, version, listed)
        return version
    if not held:
        _require_listed(path, name, "", listed)
    raise ScanReportError(
        f"{path} names {display.safe(name)} at {display.safe(node)}, and the app's SBOM holds it in "
        f"versions {', '.join(held)}: say which with the installed tree (run it where the app's "
        "node_modules is)"
    )


def _npm_finding(path: Path, name: str, version: str, via: dict) -> AppFinding:
    url = str(via.get("url") or "")
    vuln_id = url.rstrip("/").rsplit("/", 1)[-1] if url else str(via.get("source", "?"))
    cvss = via.get("cvss") if isinstance(via.get("cvss"), dict) else {}
    scored = cvss.get("vectorString") and isinstance(cvss.get("score"), int | float)
    score = float(cvss["score"]) if scored and not isinstance(cvss["score"], bool) else None
    label = str(via.get("severity") or "")
    return AppFinding(
        name,
        version,
        vuln_id,
        _place(path, vuln_id, score, label),
        score,
        label,
        _upper_bound(str(via.get("range") or "")),
    )


_BELOW = re.compile(r"<\s*(\d[\w.+-]*)\s*$")


def _upper_bound(vulnerable: str) -> str:
    """``>=2.0.0 <2.2.1`` is fixed in 2.2.1; ``<=1.4.0`` or ``*`` names no fix."""
    last = vulnerable.split("||")[-1].strip()
    match = _BELOW.search(last)
    return match.group(1) if match and "<=" not in last else ""


# --- Trivy and Grype (the image report readers, for an SBOM) -------------------------------------


def _scanner(scanned: scanreports.VulnReport, doc: dict) -> AppReport:
    report = AppReport(
        scanned.path,
        scanned.scanner,
        scanned.dated or scanreports.file_day(scanned.path),
        scanned.dated_by or "file time",
        [
            AppFinding(f.package, f.version, f.id, f.severity, f.score, f.label, f.fixed)
            for f in scanned.findings
        ],
    )
    report.scanned = _trivy_packages(doc) if scanned.scanner == TRIVY else None
    return report


def _trivy_packages(doc: dict) -> set[tuple[str, str]] | None:
    """Every package Trivy scanned, when it lists them (``--list-all-pkgs``)."""
    results = [r for r in doc.get("Results") or [] if isinstance(r, dict) and "Packages" in r]
    if not results:
        return None
    return {
        (str(p.get("Name", "")), str(p.get("Version", "")))
        for r in results
        for p in r.get("Packages") or []
    }


# --- OSV-Scanner ---------------------------------------------------------------------------------


def _osv(path: Path, doc: dict) -> AppReport:
    findings = []
    for result in doc["results"]:
        for entry in (result or {}).get("packages") or []:
            package = entry.get("package") or {}
            name, version = str(package.get("name", "")), str(package.get("version", ""))
            records = {v.get("id", "?"): v for v in entry.get("vulnerabilities") or []}
            groups = [g.get("ids") or [] for g in entry.get("groups") or []]
            for ids in groups or [[vid] for vid in records]:
                findings.append(_osv_finding(path, name, version, sorted(ids), records))
    return AppReport(path, OSV, scanreports.file_day(path), "file time", findings)


def _osv_finding(path: Path, name: str, version: str, ids: list[str], records: dict) -> AppFinding:
    """One vulnerability under all its IDs: the highest v3 score of its records, else a label."""
    group = [records[i] for i in ids if i in records]
    scores = [s for record in group for s in _osv_v3_scores(path, record)]
    score = max(scores) if scores else None
    labels = [(r.get("database_specific") or {}).get("severity") for r in group]
    label = next((str(label) for label in labels if label), "")
    fixed = sorted({fix for record in group for fix in _osv_fixed(record, name)})
    vuln_id = ids[0] if ids else "?"
    return AppFinding(
        name, version, vuln_id, _place(path, vuln_id, score, label), score, label, ", ".join(fixed)
    )


def _osv_v3_scores(path: Path, record: dict) -> list[float]:
    scores = []
    for severity in record.get("severity") or []:
        if severity.get("type") != "CVSS_V3":
            continue
        try:
            scores.append(float(CVSS3(str(severity.get("score", ""))).base_score))
        except CVSSError as exc:
            raise ScanReportError(
                f"{path}: {display.safe(record.get('id', '?'))} has a CVSS v3 vector that does not "
                f"parse ({exc}); the report is damaged: make it again"
            ) from exc
    return scores


def _osv_fixed(record: dict, name: str) -> list[str]:
    return [
        str(event["fixed"])
        for affected in record.get("affected") or []
        if (affected.get("package") or {}).get("name") == name
        for ranges in affected.get("ranges") or []
        for event in ranges.get("events") or []
        if "fixed" in event
    ]
