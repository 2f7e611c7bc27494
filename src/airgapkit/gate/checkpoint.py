"""The gate on a local image: gather what the rules need from the engine, judge, show, stop.

``evaluate`` collects the evidence (the image's facts, the parsed report, the Node version, the
layers' secrets; the app packages' report when given) and hands it to ``rules.judge``; ``gate``
prints the table and stops the flow with one line unless every rule passes, or records the risk a
person accepted. Where a fresher report can still be had (the connected side), ``fresh_as_of``
refuses an image report older than ``policy.max_report_age_days``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import docker
from rich.console import Console

from .. import display
from ..errors import PolicyViolation
from ..imagefacts import ImageFacts
from . import facts as image_facts
from . import layerscan, render, rules, scanreports
from .limits import Limits, resolve
from .schedule import NodeRelease, load_schedule

NODE_VERSION_TIMEOUT = 60  # seconds node --version may take in a container


def evaluate(
    client: docker.DockerClient,
    ref: str,
    *,
    kind: str,
    report: Path | None,
    limits: Mapping | Limits | None = None,
    today: date | None = None,
    findings: list[layerscan.SecretFinding] | None = None,
    app: rules.AppEvidence | None = None,
    fresh_as_of: date | None = None,
) -> rules.GateResult:
    """Run every rule that applies to ``kind`` ("base" or "app") on a local image. ``findings``:
    the layers' secrets when already scanned (a release scans them while it archives the image)."""
    rules.check_kind(kind)
    limits = resolve(limits)
    facts = image_facts.from_engine(client, ref)
    return judge_local(
        client,
        facts,
        kind=kind,
        report=load_report(report, limits, fresh_as_of),
        limits=limits,
        schedule=load_schedule(limits.schedule or None),
        today=today or date.today(),
        findings=findings,
        app=app,
    )


def load_report(
    path: Path | None, limits: Limits, fresh_as_of: date | None
) -> scanreports.VulnReport | None:
    """The image's report, if one is given; refused when older than the limit on ``fresh_as_of``."""
    if not path:
        return None
    report = scanreports.load(Path(path))
    if fresh_as_of is not None:
        days = limits.max_report_age_days
        scanreports.refuse_stale(
            report, f"vulnerability report {path}", as_of=fresh_as_of, max_days=days
        )
    return report


def judge_local(
    client: docker.DockerClient,
    facts: ImageFacts,
    *,
    kind: str,
    report: scanreports.VulnReport | None,
    limits: Limits,
    schedule: dict[int, NodeRelease],
    today: date,
    findings: list[layerscan.SecretFinding] | None = None,
    app: rules.AppEvidence | None = None,
) -> rules.GateResult:
    """The rules on a local image whose facts and report are at hand: the engine gives the rest
    (the Node version when the image does not declare it; for an app, its layers' secrets)."""
    if findings is None and kind == "app":
        findings = layerscan.scan_image(client, facts.engine_id)
    return rules.judge(
        facts,
        kind=kind,
        limits=limits,
        schedule=schedule,
        today=today,
        node=node_version(client, facts),
        report=report,
        findings=findings,
        app=app,
    )


def gate(
    client: docker.DockerClient,
    ref: str,
    *,
    kind: str,
    report: Path | None,
    limits: Mapping | Limits | None,
    accept_risk: str = "",
    today: date | None = None,
    console: Console | None = None,
    findings: list[layerscan.SecretFinding] | None = None,
    can_accept: bool = True,
    app: rules.AppEvidence | None = None,
    fresh_as_of: date | None = None,
) -> rules.GateResult:
    """Check an image, print the table, and stop with one line unless every rule passes.

    With ``accept_risk`` (a reason a person gives), failures are printed and recorded instead: the
    caller puts ``result.record()`` in the bundle's manifest. ``can_accept`` False (check-image, a
    check that has no --accept-risk): the refusal does not offer it.
    """
    result = evaluate(
        client,
        ref,
        kind=kind,
        report=report,
        limits=limits,
        today=today,
        findings=findings,
        app=app,
        fresh_as_of=fresh_as_of,
    )
    return verdict(result, accept_risk, console, can_accept)


def verdict(
    result: rules.GateResult, accept_risk: str, console: Console | None, can_accept: bool = True
) -> rules.GateResult:
    """Print the table; stop with one line unless every rule passed or a person accepted the risk."""
    console = console or display.console()
    console.print(render.gate_table(result))
    if result.passed:
        return result
    reason = (accept_risk or "").strip()
    if not reason:
        raise PolicyViolation(result.message(can_accept))
    result.accepted_risk = reason
    console.print(render.accepted_risk_line(result.record()))
    return result


def gate_registry(
    facts: ImageFacts,
    *,
    report: Path | None,
    limits: Mapping | Limits | None,
    accept_risk: str = "",
    today: date | None = None,
    console: Console | None = None,
    can_accept: bool = True,
    fresh_as_of: date | None = None,
    app: rules.AppEvidence | None = None,
) -> rules.GateResult:
    """The base-image rules on facts read from a registry (``oci.image_facts``), with no engine."""
    result = judge_registry(
        facts, report=report, limits=limits, today=today, fresh_as_of=fresh_as_of, app=app
    )
    return verdict(result, accept_risk, console, can_accept)


def judge_registry(
    facts: ImageFacts,
    *,
    report: Path | None,
    limits: Mapping | Limits | None,
    today: date | None = None,
    fresh_as_of: date | None = None,
    app: rules.AppEvidence | None = None,
) -> rules.GateResult:
    """The base-image rules on a registry's facts, judged, not yet shown.

    Node's version comes from the config's NODE_VERSION alone (nothing can run ``node --version``
    here); a report is matched to the image by its ID, the config digest, as for a local image.
    """
    limits = resolve(limits)
    declared = rules.declared_node_version(facts)
    node = (declared, "NODE_VERSION") if declared else ("", "no NODE_VERSION in the image's config")
    return rules.judge(
        facts,
        kind="base",
        limits=limits,
        schedule=load_schedule(limits.schedule or None),
        today=today or date.today(),
        node=node,
        report=load_report(report, limits, fresh_as_of),
        app=app,
    )


# --- the Node version ----------------------------------------------------------------------------


def node_version(client: docker.DockerClient, facts: ImageFacts) -> tuple[str, str]:
    """(version, where it came from): NODE_VERSION, else node --version run in the image."""
    declared = rules.declared_node_version(facts)
    if declared:
        return declared, "NODE_VERSION"
    return run_node_version(client, facts.engine_id)


def run_node_version(client: docker.DockerClient, image_id: str) -> tuple[str, str]:
    """What ``node --version`` prints in the image, with the network off; ("", why) when it fails."""
    container = None
    try:
        container = client.containers.create(
            image_id, entrypoint=["node", "--version"], network_mode="none", detach=True
        )
        container.start()
        status = container.wait(timeout=NODE_VERSION_TIMEOUT).get("StatusCode")
        out = container.logs(stdout=True, stderr=False).decode(errors="replace").strip()
    except (docker.errors.APIError, OSError) as exc:
        return "", f"no NODE_VERSION and node --version did not run ({_first_line(exc)})"
    except Exception as exc:  # noqa: BLE001 - a timeout from the SDK's transport, among others
        return "", f"no NODE_VERSION and node --version did not finish ({_first_line(exc)})"
    finally:
        if container is not None:
            _remove(container)
    match = rules.VERSION.search(out)
    if status != 0 or not match:
        return "", f"no NODE_VERSION and node --version printed {out[:40]!r} (exit {status})"
    return match.group(0).lstrip("v"), "node --version"


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.APIError:
        pass  # already gone; nothing else holds it


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
