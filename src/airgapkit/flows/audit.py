"""The app's own packages checked on the connected side, where advisories can still be had.

``check`` judges the installed runtime tree (the one the SBOM lists) against a report for exactly
that tree: by default npm's own advisory service, asked by ``npm audit --json --omit=dev`` in the
app folder (so against the registry the app installs from, or the ``audit_registry`` setting), or a
report made beforehand (``--app-report``). Either is read and matched by ``gate/appreports.py``.

A registry that serves no advisory endpoint (a mirror, a private registry) or does not answer gives
no report: ``check`` then returns ``appreports.Unavailable`` with npm's reason, and the gate's
app-vulnerabilities rule fails saying so and suggesting ``--app-report``: never a silent pass.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from rich.console import Console

from .. import display, fsutil
from ..app import npm
from ..errors import AirgapError, PolicyViolation
from ..fsutil import write_atomic
from ..gate import appreports, render, rules, scanreports
from ..gate.limits import Limits, resolve
from ..trust import sbom

# offline (an npmrc may set it) would make npm answer with an empty report without asking: a
# silent pass. The audit always asks.
AUDIT_ARGS = ["audit", "--json", "--omit=dev", "--offline=false"]
INSTALLED_LOCKS = ("node_modules/.package-lock.json", "package-lock.json", "npm-shrinkwrap.json")
_USERINFO = re.compile(r"(://)[^/@\s]+@")  # a registry URL's user:password, never repeated


class AdvisoryServiceError(AirgapError):
    """npm audit got no advisories: the service did not answer, or answered an error."""


def check(
    app_dir: Path,
    bom: dict,
    *,
    given: Path | None,
    out: Path | None,
    registry: str,
    limits: Limits,
    today: date,
) -> tuple[appreports.AppSummary | appreports.Unavailable, Path | None]:
    """The app's packages judged: (what the gate rule reads, the report file to carry or None).

    ``given``: a report made beforehand, refused when older than ``max_report_age_days`` on
    ``today``; else npm audit runs now and writes its report to ``out``. Call after the install
    (``npm.pack``): npm audit and the version of each install path read the installed tree.
    """
    listed = sbom.packages(bom)
    path = given
    if path is None:
        try:
            path = run_npm_audit(app_dir, out, registry=registry)
        except AdvisoryServiceError as exc:
            return appreports.Unavailable(str(exc)), None
    report = appreports.read(path, packages=listed, tree=installed_tree(app_dir))
    if given is None:
        report.dated, report.dated_by = today, "run"
    else:
        days = limits.max_report_age_days
        scanreports.refuse_stale(report, f"app report {path}", as_of=today, max_days=days)
    return report.summary(len(listed), member_name(report.source)), path


def judged_report(app_dir: Path, given: Path, *, limits: Mapping | Limits) -> appreports.AppSummary:
    """A report made beforehand, held against the SBOM of the installed app in ``app_dir``
    (``check-image --app-report``)."""
    bom = sbom.generate(app_dir)
    summary, _ = check(
        app_dir, bom, given=given, out=None, registry="", limits=resolve(limits), today=date.today()
    )
    return summary


def audit(
    app_dir: Path,
    *,
    given: Path | None,
    build_dir: Path,
    registry: str,
    limits: Mapping | Limits,
    console: Console | None = None,
) -> appreports.AppSummary:
    """``inv audit``: the app's dependencies installed as export installs them, then checked alone,
    with the table; one line (``PolicyViolation``) when they break the limits, and npm's reason
    when no report could be had."""
    limits, console = resolve(limits), console or display.console()
    fsutil.require_folder(build_dir, "build_dir")
    meta = npm.read_package(app_dir)
    npm.install(Path(app_dir))
    evidence, _ = check(
        app_dir,
        sbom.generate(app_dir),
        given=given,
        out=Path(build_dir) / f"{meta.image_name}-{meta.version}-app-npm-audit.json",
        registry=registry,
        limits=limits,
        today=date.today(),
    )
    if isinstance(evidence, appreports.Unavailable):
        raise AdvisoryServiceError(evidence.why)
    rule = rules.rule_app_vulnerabilities(evidence, limits.allowed)
    console.print(render.rules_table(f"{meta.name} {meta.version}: its npm packages", [rule]))
    console.print(render.app_report_table(evidence.record()))
    if not rule.passed:
        raise PolicyViolation(f"{rule.rule}: {rule.why}; {rule.fix}")
    return evidence


def member_name(source: str) -> str:
    """The report's member in a bundle: reports/app-npm-audit.json, reports/app-trivy.json, ..."""
    return f"reports/app-{source.replace(' ', '-')}.json"


def run_npm_audit(app_dir: Path, out: Path, *, registry: str = "") -> Path:
    """``npm audit --json --omit=dev`` in the app folder, its report written to ``out``.

    npm exits 1 when it finds vulnerabilities: the JSON on its stdout, not its exit code, says
    whether it is a report (``auditReportVersion``) or npm's account of a failed request.
    """
    args = [*AUDIT_ARGS, *(["--registry", registry] if registry else [])]
    try:
        proc = subprocess.run(
            [npm.npm_executable(), *args], cwd=app_dir, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise AirgapError(f"cannot run npm audit in {app_dir}: {exc}; {npm.INSTALL_HINT}") from exc
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "auditReportVersion" in doc:
        return write_atomic(Path(out), proc.stdout.encode())
    said = doc.get("message") if isinstance(doc, dict) and doc.get("message") else None
    reason = _without_userinfo((str(said or npm.npm_reason(proc)).splitlines() or [""])[0])[:300]
    asked = f" at {_without_userinfo(registry)}" if registry else ""
    raise AdvisoryServiceError(
        f"npm audit got no advisories from the registry{asked} ({reason}); where the registry "
        "serves no advisory endpoint, pass --app-report FILE: npm audit --json made where one does, "
        "or a Trivy, Grype or OSV-Scanner JSON report of the app's SBOM"
    )


def _without_userinfo(text: str) -> str:
    return _USERINFO.sub(r"\1", text)


def installed_tree(app_dir: Path) -> dict[str, str]:
    """Install path (``node_modules/a/node_modules/b``) -> version, from npm's record of the
    installed tree (its hidden lockfile), else the lockfile; empty when neither can be read."""
    for name in INSTALLED_LOCKS:
        try:
            lock = json.loads((Path(app_dir) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        packages = lock.get("packages") if isinstance(lock, dict) else None
        if isinstance(packages, dict):
            return {
                path: str(entry["version"])
                for path, entry in packages.items()
                if path and isinstance(entry, dict) and "version" in entry
            }
    return {}
