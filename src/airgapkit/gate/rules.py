"""The image rules: size, Node LTS, vulnerabilities, non-root, no secrets. Data in, data out.

The procedure picks its base image by three rules (under 200 MB; minimal vulnerabilities by CVSS
v3.1 severity; long-term support: even Node releases, critical fixes for 30 months). Each rule here
judges data (an image's :class:`~airgapkit.imagefacts.ImageFacts`, a parsed report, the layer
scanner's findings) and returns a :class:`RuleResult`; nothing here talks to an engine or prints.
:func:`judge` runs every rule that applies to an image; ``checkpoint`` gathers the data from the
engine, ``render`` draws the tables.

Units and decisions, in one place:

- Sizes are in MB of 10^6 bytes, as ``docker image ls`` prints them. The size is the image's
  uncompressed size (every layer, the base's included). Over the limit fails; equal passes.
- The Node version is the image's ``NODE_VERSION`` (the official node images set it), else what
  ``node --version`` prints in the image (``checkpoint.node_version``). An odd major fails (no
  LTS), past end of life fails, fewer than ``min_support_months`` whole months to end of life fails.
  An even major not yet in LTS (a "Current" release) passes: it will get LTS.
- A missing vulnerability report fails: a gate that cannot see is not a pass. A report whose image
  ID differs from the image's fails (its numbers are about another image), unless its layers are
  the bottom layers of the image: then it is the base image's report, which is what the air-gapped
  side can have for an application image, and it passes with a note that the layers on top were not
  scanned. A report that names the image only by a different name passes with a warning in the
  table (images get retagged on the way).
- Non-root and secrets are checked for application images only (``kind="app"``): a base image runs
  as root by design and the app's Dockerfile adds the user.
- The app's own npm packages (``app-vulnerabilities``) are judged when their evidence is given:
  by ``export`` (with the base image: the packages travel in the same bundle), ``release`` (the
  app image) and ``check-image --app-report``. They count against the same ``allowed`` limits; a
  finding with no CVSS score counts under its source's severity, and the row says how many did.
  No report (the advisory service did not answer) fails, as a missing image report does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from ..errors import AirgapError
from . import appreports, scanreports
from .schedule import NodeRelease, months_between

if TYPE_CHECKING:
    from ..imagefacts import ImageFacts
    from .layerscan import SecretFinding
    from .limits import Limits

MB = 1_000_000  # docker prints sizes in decimal units; so does airgapkit

KINDS = ("base", "app")
RULES = ("size", "node-lts", "vulnerabilities", "non-root", "secrets")
APP_PACKAGES = "app-vulnerabilities"  # the app's npm packages, judged where their report is at hand

NO_REPORT = "no vulnerability report: a gate that cannot see is not a pass"
NO_REPORT_FIX = "scan on the connected side with trivy/grype -f json and pass --report"
_FIX = {
    "size": "pick a smaller base (inv choose-base)",
    "node-lts": "move to an even Node release with support left (inv choose-base)",
    "vulnerabilities": "pick a base with fewer (inv choose-base)",
    "non-root": "add RUN adduser -u 1001 -D app and USER app to the Dockerfile",
    "secrets": "keep .env files and keys out with .dockerignore and rebuild",
    APP_PACKAGES: "upgrade the packages the report names (npm audit fix) and export again",
}
NO_APP_REPORT_FIX = f"pass --app-report FILE ({appreports.FORMATS_HINT.removeprefix('pass ')})"
_NO_NODE_FIX = "set NODE_VERSION in the image or put node on its PATH"
_SCHEDULE_FIX = (
    "point policy.schedule at the current schedule.json of the Node.js Release Working Group"
)

VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")  # what node --version prints, and NODE_VERSION


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    measured: str
    limit: str
    why: str
    fix: str = ""  # what to do when it fails (empty when it passes)
    # What the rule found, kept as data for whoever ranks or shows it (never re-parsed from text):
    release: NodeRelease | None = field(default=None, compare=False)  # node-lts
    report: scanreports.VulnReport | None = field(default=None, compare=False, repr=False)
    findings: tuple[SecretFinding, ...] = field(default=(), compare=False)  # secrets

    def line(self, can_accept: bool = True) -> str:
        """The failure as one line: rule, measured value against the limit, what to do
        (``can_accept``: the task may go on with --accept-risk, which check-image may not)."""
        if not can_accept:
            return f"{self.rule}: {self.why}; {self.fix}"
        return f'{self.rule}: {self.why}; {self.fix} or pass --accept-risk "reason"'

    def record(self) -> dict:
        """What a bundle manifest keeps of it."""
        return {
            "rule": self.rule,
            "passed": self.passed,
            "measured": self.measured,
            "limit": self.limit,
            "why": self.why,
        }


@dataclass
class GateResult:
    image: str
    image_id: str
    kind: str
    results: list[RuleResult]
    accepted_risk: str = ""
    checked_on: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def result(self, rule: str) -> RuleResult:
        return next(r for r in self.results if r.rule == rule)

    def message(self, can_accept: bool = True) -> str:
        """One line for a failing gate; several failures share it, the table has the details."""
        failed = self.failures
        if len(failed) == 1:
            return failed[0].line(can_accept)
        causes = "; ".join(f"{r.rule}: {r.why}" for r in failed)
        if not can_accept:
            return f"{causes}; see the table"
        return f'{causes}; see the table, fix them or pass --accept-risk "reason"'

    def record(self) -> dict:
        """For the bundle manifest: every rule, which failed, and the reason they were accepted."""
        return {
            "image": self.image,
            "image_id": self.image_id,
            "kind": self.kind,
            "checked_on": self.checked_on,
            "passed": self.passed,
            "failures": [r.rule for r in self.failures],
            "accepted_risk": self.accepted_risk,
            "rules": [r.record() for r in self.results],
        }


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise AirgapError(f"image kind {kind!r} is unknown; use base or app")
    return kind


def judge(
    facts: ImageFacts,
    *,
    kind: str,
    limits: Limits,
    schedule: dict[int, NodeRelease],
    today: date,
    node: tuple[str, str],
    report: scanreports.VulnReport | None,
    findings: list[SecretFinding] | None = None,
    app: AppEvidence | None = None,
) -> GateResult:
    """Every rule that applies to ``kind`` ("base" or "app"), on data gathered beforehand.

    ``node`` is (version, where it came from), or ("", why not); ``findings`` are the layer
    scanner's, needed for an application image; ``app``: the app's packages' report, when judged.
    """
    results = [
        rule_size(facts, limits.max_size_mb),
        rule_node_lts(*node, schedule, limits.min_support_months, today),
        rule_vulnerabilities(report, facts, limits.allowed),
    ]
    if check_kind(kind) == "app":
        if findings is None:
            raise ValueError("an application image is judged with its layers' secret findings")
        results += [rule_non_root(facts), rule_secrets(findings)]
    if app is not None:
        results.append(rule_app_vulnerabilities(app, limits.allowed))
    return GateResult(
        image=facts.ref,
        image_id=facts.image_id,
        kind=kind,
        results=results,
        checked_on=today.isoformat(),
    )


# --- size ----------------------------------------------------------------------------------------


def rule_size(facts: ImageFacts, max_size_mb: float) -> RuleResult:
    measured, limit = f"{facts.size / MB:.1f} MB", f"{max_size_mb:g} MB"
    if facts.size > max_size_mb * MB:
        why = f"{measured} is over the {limit} limit"
        return RuleResult("size", False, measured, limit, why, _FIX["size"])
    return RuleResult("size", True, measured, limit, f"{measured} is within the {limit} limit")


# --- Node LTS ------------------------------------------------------------------------------------


def declared_node_version(facts: ImageFacts) -> str:
    """The image's NODE_VERSION without a leading "v"; "" when the image does not declare one."""
    return facts.env.get("NODE_VERSION", "").strip().lstrip("v")


def rule_node_lts(
    version: str, source: str, schedule: dict[int, NodeRelease], min_months: int, today: date
) -> RuleResult:
    """``version`` as the image gives it, ``source`` where from (or why there is none)."""
    limit = f"even major, >= {min_months} months of support left"
    match = VERSION.match(version) if version else None
    if not match:
        why = source if not version else f"cannot read a Node version in {version!r} ({source})"
        return RuleResult("node-lts", False, version or "unknown", limit, why, _NO_NODE_FIX)
    major = int(match.group(1))
    release = schedule.get(major)
    if release is None:
        covers = f"{min(schedule)}-{max(schedule)}"
        why = f"Node {major} is not in the release schedule (it covers {covers})"
        return RuleResult("node-lts", False, f"Node {version}", limit, why, _SCHEDULE_FIX)
    measured = f"Node {version}" + (f" ({release.codename})" if release.codename else "")
    problem = _support_problem(version, release, min_months, today)
    if problem:
        return RuleResult(
            "node-lts", False, measured, limit, problem, _FIX["node-lts"], release=release
        )
    left = months_between(today, release.end)
    why = f"{release.phase(today)}; supported until {release.end}, {left} months left"
    return RuleResult("node-lts", True, measured, limit, why, release=release)


def _support_problem(version: str, release: NodeRelease, min_months: int, today: date) -> str:
    """Why the release does not give the support required; "" when it does."""
    if release.major % 2:
        return (
            f"Node {version} is an odd release with no LTS (end of life {release.end}); "
            "an even LTS release is required"
        )
    if today > release.end:
        return (
            f"Node {version} reached end of life on {release.end}; "
            f"at least {min_months} months of support left are required"
        )
    left = months_between(today, release.end)
    if left < min_months:
        return (
            f"Node {version} has {left} months of support left (end of life {release.end}); "
            f"at least {min_months} are required"
        )
    return ""


# --- vulnerabilities -----------------------------------------------------------------------------


def counts_text(counts: Mapping[str, int]) -> str:
    """ "critical 1, high 2, ..." in the table's order; "none" only when there are some."""
    shown = [*scanreports.TABLE_SEVERITIES, *(["none"] if counts.get("none") else [])]
    return ", ".join(f"{s} {counts.get(s, 0)}" for s in shown)


def allowed_text(allowed: Mapping[str, int]) -> str:
    """The limits as the table shows them: "critical 0, high 0" ("any" when none is set)."""
    return ", ".join(f"{s} {allowed[s]}" for s in scanreports.SEVERITIES if s in allowed) or "any"


def over_limit(counts: Mapping[str, int], allowed: Mapping[str, int]) -> list[str]:
    """The severities whose count is over its limit, worst first."""
    return [s for s in scanreports.SEVERITIES if s in allowed and counts[s] > allowed[s]]


def rule_vulnerabilities(
    report: scanreports.VulnReport | None, facts: ImageFacts, allowed: Mapping[str, int]
) -> RuleResult:
    limit = allowed_text(allowed)
    if report is None:
        return RuleResult("vulnerabilities", False, "no report", limit, NO_REPORT, NO_REPORT_FIX)
    counts = report.counts
    measured = f"{counts_text(counts)} ({report.scanner})"
    fatal, note = scanreports.for_image(
        report, image_id=facts.image_id, names=facts.names, layers=list(facts.layers)
    )
    if fatal:
        why = f"{note}; its numbers do not describe this image"
        fix = f"scan {facts.ref} itself on the connected side and pass that report"
        return RuleResult("vulnerabilities", False, measured, limit, why, fix, report=report)
    over = over_limit(counts, allowed)
    if over:
        found = " and ".join(f"{counts[s]} {s}" for s in over)
        why = f"{found} in the {report.scanner} report; the limit is {limit}"
        fix = _FIX["vulnerabilities"]
        return RuleResult("vulnerabilities", False, measured, limit, why, fix, report=report)
    why = f"within the limit ({report.scanner} report {report.path.name})"
    if note:
        why += f"; warning: {note}"
    return RuleResult("vulnerabilities", True, measured, limit, why, report=report)


# --- the app's own packages ----------------------------------------------------------------------

AppEvidence = appreports.AppSummary | appreports.Unavailable


def rule_app_vulnerabilities(app: AppEvidence, allowed: Mapping[str, int]) -> RuleResult:
    """The app's npm packages against the same limits as the image, from their report's counts."""
    rule = APP_PACKAGES
    limit = allowed_text(allowed)
    if isinstance(app, appreports.Unavailable):
        return RuleResult(rule, False, "no report", limit, app.why, NO_APP_REPORT_FIX)
    counts = app.counts
    measured = f"{counts_text(counts)} ({app.source}, {app.date})"
    source = f"{app.source} of {app.packages} packages as of {app.date}"
    if app.unscored:
        source += f"; {app.unscored} with no CVSS score counted by {app.source}'s own severity"
    over = over_limit(counts, allowed)
    if over:
        found = " and ".join(f"{counts[s]} {s}" for s in over)
        first = next(iter(app.worst), None)
        worst = f"; worst: {first['package']} {first['version']} {first['id']}" if first else ""
        why = f"{found} in the app's packages ({source}){worst}; the limit is {limit}"
        return RuleResult(rule, False, measured, limit, why, _FIX[rule])
    return RuleResult(rule, True, measured, limit, f"within the limit ({source})")


# --- non-root and secrets (application images) ---------------------------------------------------

_ROOT_USERS = {"", "root", "0"}


def rule_non_root(facts: ImageFacts) -> RuleResult:
    user = facts.user.strip()
    limit = "a non-root USER"
    if user.split(":", 1)[0] in _ROOT_USERS:
        measured = f"root (USER {user})" if user else "root (no USER)"
        why = f"runs as {measured}; {limit} is required"
        return RuleResult("non-root", False, measured, limit, why, _FIX["non-root"])
    return RuleResult("non-root", True, f"USER {user}", limit, f"runs as {user}")


def rule_secrets(findings: list[SecretFinding]) -> RuleResult:
    limit = "no .env file or private key in any layer"
    if not findings:
        return RuleResult("secrets", True, "none found", limit, limit)
    listed = "; ".join(f.describe() for f in findings)
    why = f"{listed}; {limit} is allowed"
    return RuleResult(
        "secrets",
        False,
        f"{len(findings)} found",
        limit,
        why,
        _FIX["secrets"],
        findings=tuple(findings),
    )
