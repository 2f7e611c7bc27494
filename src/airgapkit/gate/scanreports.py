"""Vulnerability reports made on the connected side: Trivy and Grype JSON, counted by severity.

The procedure's table counts vulnerabilities per CVSS v3.1 severity. Both scanners put the CVSS base
scores in their JSON output, so each finding is placed by its v3 base score:

    none 0.0 | low 0.1-3.9 | medium 4.0-6.9 | high 7.0-8.9 | critical 9.0-10.0

A finding without any v3 score falls back to the scanner's own severity label; one without a label
(or with ``UNKNOWN``) counts as ``unspecified``. Grype's ``Negligible`` label counts as ``low``.

A report is dated by what it says of itself (Trivy's ``CreatedAt``, Grype's
``descriptor.timestamp``), else by its file's modification time; ``refuse_stale`` holds that date
against ``policy.max_report_age_days`` where a fresher report can still be had (the connected side).

Findings are counted as the scanners list them (one per vulnerability and package, as in their own
summaries); a finding listed twice word for word (same id, package, version and target) counts once.

Formats (see tests/fixtures/scanners/README.md for the sources):

- Trivy, ``trivy image -f json``: ``Results[].Vulnerabilities[]`` with ``Severity``,
  ``CVSS.<source>.V3Score`` and ``FixedVersion``; the image in ``ArtifactName`` and
  ``Metadata.{ImageID,RepoTags,RepoDigests}``; the date in ``CreatedAt``.
- Grype, ``grype -o json``: ``matches[].vulnerability`` with ``severity``,
  ``cvss[].{version,metrics.baseScore}`` (and ``relatedVulnerabilities[]`` for the NVD record of the
  same CVE) and ``fix.versions``; the image in ``source.target.{userInput,imageID,tags,repoDigests}``;
  the date in ``descriptor.timestamp``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ..errors import AirgapError, ScanReportError
from ..oci import reference

# Worst first: the order of the table's columns and of the sorting in choose-base.
SEVERITIES = ("critical", "high", "medium", "low", "none", "unspecified")
TABLE_SEVERITIES = ("critical", "high", "medium", "low", "unspecified")

_LABELS = {
    "critical": "critical",
    "high": "high",
    "medium": "medium",
    "moderate": "medium",
    "low": "low",
    "negligible": "low",
    "info": "none",  # npm's informational level: below low
    "none": "none",
    "unknown": "unspecified",
    "": "unspecified",
}

# Which score counts when Trivy lists several sources': the one it took its severity from, then
# these, then the others.
_TRIVY_SOURCE_ORDER = ("nvd", "ghsa", "redhat")


def severity_from_score(score: float) -> str:
    """The CVSS v3.1 qualitative rating of a base score (specification, section 5)."""
    if not 0.0 <= score <= 10.0:
        raise ValueError(f"CVSS base score {score} is outside 0.0-10.0")
    if score == 0.0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def severity_from_label(label: str | None) -> str:
    return _LABELS.get((label or "").strip().lower(), "unspecified")


def known_label(label: str | None) -> bool:
    """Whether a scanner's severity label is one airgapkit can place (an empty one included)."""
    return (label or "").strip().lower() in _LABELS


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    version: str
    target: str
    score: float | None  # the CVSS v3 base score used, None when the report has none
    label: str  # the scanner's own severity label, as written
    severity: str  # where it was counted
    fixed: str = ""  # the versions the report says fix it ("" when it names none)


@dataclass
class VulnReport:
    """What a report says, reduced to what the gate needs."""

    path: Path
    scanner: str  # "trivy" or "grype"
    image_names: list[str] = field(default_factory=list)  # names the report gives the image
    image_id: str = ""  # the image's config digest (what `docker image inspect` calls Id)
    repo_digests: list[str] = field(default_factory=list)
    diff_ids: list[str] = field(default_factory=list)  # the image's layers, bottom first
    findings: list[Finding] = field(default_factory=list)
    dated: date | None = None  # when the scan was made
    dated_by: str = ""  # where that date comes from: "report" or "file time"

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(f.severity for f in self.findings)
        return {sev: counted.get(sev, 0) for sev in SEVERITIES}

    def describes(self) -> str:
        return self.image_names[0] if self.image_names else (self.image_id or "an unnamed image")


def load(path: Path) -> VulnReport:
    """Read a Trivy or Grype JSON report; which one it is comes from its shape."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except FileNotFoundError as exc:
        raise ScanReportError(
            f"vulnerability report {path} does not exist; pass the JSON file the scanner wrote on "
            "the connected side"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScanReportError(
            f"vulnerability report {path} is not readable JSON ({exc}); write it with trivy image "
            "-f json or grype -o json"
        ) from exc
    try:
        if isinstance(doc, dict) and isinstance(doc.get("matches"), list):
            return dated(_grype(path, doc), ((doc.get("descriptor") or {}).get("timestamp")))
        if isinstance(doc, dict) and (
            "SchemaVersion" in doc or "Results" in doc or "ArtifactName" in doc
        ):
            return dated(_trivy(path, doc), doc.get("CreatedAt"))
    except (AttributeError, TypeError, KeyError) as exc:  # a list where a mapping goes, ...
        raise ScanReportError(
            f"{path} is damaged: a field holds the wrong type ({exc}); write it again with "
            "trivy image -f json or grype -o json"
        ) from exc
    raise ScanReportError(
        f"{path} is neither a Trivy nor a Grype JSON report; write it with "
        "trivy image -f json or grype -o json"
    )


_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def report_day(stamp) -> date | None:
    """The day an RFC 3339 time stamp names (``2026-12-01T09:00:00.000000000Z``); None if none."""
    match = _DAY.match(stamp) if isinstance(stamp, str) else None
    try:
        return date(*map(int, match.groups())) if match else None
    except ValueError:
        return None


def file_day(path: Path) -> date:
    """The day a file was last written, on this machine's clock."""
    return datetime.fromtimestamp(Path(path).stat().st_mtime).date()


def dated(report: VulnReport, stamp) -> VulnReport:
    """The report with its date: the one it states, else its file's."""
    day = report_day(stamp)
    report.dated, report.dated_by = (day, "report") if day else (file_day(report.path), "file time")
    return report


def refuse_stale(report, what: str, *, as_of: date, max_days: int) -> None:
    """Refuse a report (its ``dated`` and ``dated_by``) older than ``max_days`` on ``as_of``:
    advisories published since it was made are not in it."""
    age = (as_of - report.dated).days
    if age > max_days:
        raise ScanReportError(
            f"{what} is dated {report.dated} ({report.dated_by}), {age} days before {as_of}; "
            f"policy.max_report_age_days allows {max_days}: make the report again"
        )


def _score(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _place(score: float | None, label: str, path: Path, vuln_id: str) -> str:
    if score is None:
        return severity_from_label(label)
    try:
        return severity_from_score(score)
    except ValueError as exc:
        raise ScanReportError(
            f"{path}: {vuln_id} has CVSS score {score}, outside 0.0-10.0; the report is damaged, "
            "scan again"
        ) from exc


def _trivy(path: Path, doc: dict) -> VulnReport:
    meta = doc.get("Metadata") or {}
    names = [n for n in [doc.get("ArtifactName"), *(meta.get("RepoTags") or [])] if n]
    report = VulnReport(
        path=path,
        scanner="trivy",
        image_names=names,
        image_id=meta.get("ImageID") or "",
        repo_digests=list(meta.get("RepoDigests") or []),
        diff_ids=list(meta.get("DiffIDs") or []),
    )
    seen = set()
    for result in doc.get("Results") or []:
        target = result.get("Target", "")
        for vuln in result.get("Vulnerabilities") or []:
            vid = vuln.get("VulnerabilityID", "?")
            key = (vid, vuln.get("PkgName", ""), vuln.get("InstalledVersion", ""), target)
            if key in seen:
                continue
            seen.add(key)
            score = _trivy_v3_score(vuln)
            label = vuln.get("Severity") or ""
            severity = _place(score, label, path, vid)
            fixed = str(vuln.get("FixedVersion") or "")
            report.findings.append(
                Finding(vid, key[1], key[2], target, score, label, severity, fixed)
            )
    return report


def _trivy_v3_score(vuln: dict) -> float | None:
    cvss = vuln.get("CVSS") or {}
    order = [vuln.get("SeveritySource"), *_TRIVY_SOURCE_ORDER, *sorted(cvss)]
    for source in order:
        score = _score((cvss.get(source) or {}).get("V3Score")) if source else None
        if score is not None:
            return score
    return None


def _grype(path: Path, doc: dict) -> VulnReport:
    target = (doc.get("source") or {}).get("target")
    target = target if isinstance(target, dict) else {}
    names = [n for n in [target.get("userInput"), *(target.get("tags") or [])] if n]
    report = VulnReport(
        path=path,
        scanner="grype",
        image_names=names,
        image_id=target.get("imageID") or "",
        repo_digests=list(target.get("repoDigests") or []),
        diff_ids=[layer.get("digest", "") for layer in target.get("layers") or []],
    )
    seen = set()
    for match in doc["matches"]:
        vuln = match.get("vulnerability") or {}
        artifact = match.get("artifact") or {}
        vid = vuln.get("id", "?")
        key = (
            vid,
            artifact.get("name", ""),
            artifact.get("version", ""),
            vuln.get("namespace", ""),
        )
        if key in seen:
            continue
        seen.add(key)
        score = _grype_match_score(match, vid)
        label = vuln.get("severity") or ""
        severity = _place(score, label, path, vid)
        fixed = ", ".join(str(v) for v in (vuln.get("fix") or {}).get("versions") or [])
        report.findings.append(Finding(vid, *key[1:], score, label, severity, fixed))
    return report


def _grype_match_score(match: dict, vuln_id: str) -> float | None:
    """The v3 score of a match: its own record's, else the related record of the same CVE (the
    distribution's record often has no score; the NVD record of the same CVE does)."""
    records = [match.get("vulnerability") or {}] + [
        related
        for related in match.get("relatedVulnerabilities") or []
        if related.get("id") == vuln_id
    ]
    scores = (_grype_v3_score(record.get("cvss")) for record in records)
    return next((score for score in scores if score is not None), None)


def _grype_v3_score(entries) -> float | None:
    v3 = [e for e in entries or [] if str(e.get("version", "")).startswith("3")]
    v3.sort(key=lambda e: e.get("type") != "Primary")  # the primary score first, when marked
    for entry in v3:
        score = _score((entry.get("metrics") or {}).get("baseScore"))
        if score is not None:
            return score
    return None


def for_image(
    report: VulnReport, *, image_id: str, names: list[str], layers: list[str] | None = None
) -> tuple[bool, str]:
    """Does the report speak about this image? Returns (fatal mismatch, note).

    The image ID (the config digest) survives ``docker save``/``docker load``, so a report that
    names an ID different from the image's is about another image: its numbers would be a lie, and
    that is a failure. One exception: when the report's layers are the bottom layers of this image
    (``layers``, the image's RootFS diff IDs), the report is for its base image; the application
    image built on the air-gapped side cannot be scanned there, so that passes with a note that the
    layers on top were not scanned. A report that names the image only by a name that differs is a
    warning: images are retagged on the way (``node:20-alpine`` saved, loaded, tagged
    ``registry.local/node:20``).
    """
    if report.image_id:
        if report.image_id == image_id:
            return False, ""
        layers = layers or []
        base = report.diff_ids
        if base and len(base) < len(layers) and layers[: len(base)] == base:
            added = len(layers) - len(base)
            return False, (
                f"the report is for the base image {report.describes()}; {added} "
                f"layer{'s' if added != 1 else ''} added on top of it not scanned"
            )
        return True, (
            f"the report is for image {report.image_id[:19]} ({report.describes()}), "
            f"not {image_id[:19]}"
        )
    if not report.image_names:
        return False, "the report does not name its image; make sure it is this one"
    wanted = {_normal(n) for n in names}
    if any(_normal(n) in wanted for n in report.image_names):
        return False, ""
    return (
        False,
        f"the report names {report.image_names[0]}, not {names[0] if names else image_id[:19]}",
    )


def _normal(name: str) -> reference.ImageRef | str:
    """library/node:20-alpine is node:20-alpine; a name without a tag means :latest (Docker's
    defaults, from oci.reference); a name that is no reference stays as it is, to match itself."""
    try:
        return reference.parse(name)
    except AirgapError:
        return name
