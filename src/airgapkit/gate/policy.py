"""Base-image and application-image rules: size, Node LTS, vulnerabilities, non-root, no secrets.

The procedure picks its base image by three rules (under 200 MB; minimal vulnerabilities by CVSS
v3.1 severity; long-term support: even Node releases, critical fixes for 30 months) and shows the
table it decided from. Here each rule gives a :class:`RuleResult`; :func:`evaluate` runs them on one
image, :func:`gate` prints the table and stops the flow when one fails, :func:`compare` makes the
procedure's table for several candidates.

Units and decisions, in one place:

- Sizes are in MB of 10^6 bytes, as ``docker image ls`` prints them. The size is the image's
  ``Size`` from ``docker image inspect`` (every layer, the base's included). Over the limit fails;
  equal passes.
- The Node version is the image's ``NODE_VERSION`` (the official node images set it), else what
  ``node --version`` prints in a container with the network off. The release schedule is
  ``data/node-releases.json`` (from the Node.js Release Working Group's ``schedule.json``); the
  ``policy.schedule`` setting points at a newer one, in that format or the upstream one. An odd
  major fails (no LTS), past end of life fails, fewer than ``min_support_months`` whole months to
  end of life fails. An even major not yet in LTS (a "Current" release) passes: it will get LTS.
- A missing vulnerability report fails: a gate that cannot see is not a pass. A report whose image
  ID differs from the image's fails (its numbers are about another image), unless its layers are
  the bottom layers of the image: then it is the base image's report, which is what the air-gapped
  side can have for an application image, and it passes with a note that the layers on top were not
  scanned. A report that names the image only by a different name passes with a warning in the
  table (images get retagged on the way).
- Non-root and secrets are checked for application images only (``kind="app"``): a base image runs
  as root by design and the app's Dockerfile adds the user.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import docker
from rich.console import Console
from rich.table import Table

from ..app import envfiles
from ..engine import images as engine
from ..errors import AirgapError, PolicyViolation, ScanReportError
from ..gate import scanreports

MB = 1_000_000  # docker prints sizes in decimal units; so does airgapkit

DEFAULT_LIMITS = {
    "max_size_mb": 200,
    "min_support_months": 6,
    "allowed": {"critical": 0, "high": 0},
    "schedule": "",
}

NO_REPORT = "no vulnerability report: a gate that cannot see is not a pass"
NO_REPORT_FIX = "scan on the connected side with trivy/grype -f json and pass --report"

RULES = ("size", "node-lts", "vulnerabilities", "non-root", "secrets")
_FIX = {
    "size": "pick a smaller base (inv choose-base)",
    "node-lts": "move to an even Node release with support left (inv choose-base)",
    "vulnerabilities": "pick a base with fewer (inv choose-base)",
    "non-root": "add RUN adduser -u 1001 -D app and USER app to the Dockerfile",
    "secrets": "keep .env files and keys out with .dockerignore and rebuild",
}


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    measured: str
    limit: str
    why: str
    fix: str = ""  # what to do when it fails (empty when it passes)

    def line(self) -> str:
        """The failure as one line: rule, measured value against the limit, what to do."""
        return f'{self.rule}: {self.why}; {self.fix} or pass --accept-risk "reason"'


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

    def message(self) -> str:
        """One line for a failing gate; several failures share it, the table has the details."""
        failed = self.failures
        if len(failed) == 1:
            return failed[0].line()
        causes = "; ".join(f"{r.rule}: {r.why}" for r in failed)
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
            "rules": [{k: v for k, v in asdict(r).items() if k != "fix"} for r in self.results],
        }


# --- limits and the release schedule ------------------------------------------------------------


def limits_from(limits: Mapping | None) -> dict:
    """The ``policy`` configuration section (or any mapping) over the defaults, as plain values."""
    merged = {**DEFAULT_LIMITS, "allowed": dict(DEFAULT_LIMITS["allowed"])}
    for key in limits.keys() if limits is not None else ():
        value = limits[key]
        if key == "allowed":
            merged["allowed"] = {str(k).lower(): int(value[k]) for k in value.keys()}
        else:
            merged[key] = value
    try:
        merged["max_size_mb"] = float(merged["max_size_mb"])
        merged["min_support_months"] = int(merged["min_support_months"])
    except (TypeError, ValueError):
        raise AirgapError(
            f"policy limits must be numbers (max_size_mb={merged['max_size_mb']!r}, "
            f"min_support_months={merged['min_support_months']!r}); fix the flag or invoke.yaml"
        ) from None
    unknown = set(merged["allowed"]) - set(scanreports.SEVERITIES)
    if unknown:
        raise AirgapError(
            f"policy.allowed names unknown severities {sorted(unknown)}; use "
            f"{', '.join(scanreports.SEVERITIES)}"
        )
    return merged


@dataclass(frozen=True)
class NodeRelease:
    major: int
    codename: str
    start: date
    lts: date | None
    maintenance: date | None
    end: date


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
    except FileNotFoundError:
        raise AirgapError(
            f"Node release schedule {path} does not exist; fix policy.schedule or remove "
            "it to use the packaged one"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AirgapError(
            f"Node release schedule {path} is not readable ({exc}); use the upstream "
            "schedule.json or the format of airgapkit/data/node-releases.json"
        ) from None


@lru_cache(maxsize=1)
def _packaged_schedule() -> dict[int, NodeRelease]:
    text = (
        resources.files("airgapkit").joinpath("data/node-releases.json").read_text(encoding="utf-8")
    )
    return _parse_schedule(json.loads(text))


def _day(value) -> date | None:
    return date.fromisoformat(value) if value else None


def _parse_schedule(doc: dict) -> dict[int, NodeRelease]:
    if "releases" in doc:
        rows = [(int(r["major"]), r) for r in doc["releases"]]
    else:  # upstream: {"v20": {...}}; "v0.10" and the like are not majors of today's numbering
        rows = [(int(k[1:]), v) for k, v in doc.items() if re.fullmatch(r"v\d+", k)]
    schedule = {}
    for major, r in rows:
        schedule[major] = NodeRelease(
            major=major,
            codename=r.get("codename") or "",
            start=_day(r["start"]),
            lts=_day(r.get("lts")),
            maintenance=_day(r.get("maintenance")),
            end=_day(r["end"]),
        )
    if not schedule:
        raise ValueError("no releases in it")
    return schedule


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start to end (negative when end is earlier)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return months


# --- the image ----------------------------------------------------------------------------------


def get_image(client: docker.DockerClient, ref: str):
    """The local image (never pulled), or ImageMissing saying which tar to load."""
    return engine.require_image(client, ref)


def _layers(image) -> list[str]:
    return list((image.attrs.get("RootFS") or {}).get("Layers") or [])


def _env(image) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in (image.attrs.get("Config") or {}).get("Env") or [])
    return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}


_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def node_version(client: docker.DockerClient, image) -> tuple[str, str]:
    """(version, where it came from); ("", reason) when the image does not tell."""
    declared = _env(image).get("NODE_VERSION", "").strip()
    if declared:
        return declared.lstrip("v"), "NODE_VERSION"
    container = None
    try:
        container = client.containers.create(
            image.id, entrypoint=["node", "--version"], network_mode="none", detach=True
        )
        container.start()
        status = container.wait(timeout=60).get("StatusCode")
        out = container.logs(stdout=True, stderr=False).decode(errors="replace").strip()
    except (docker.errors.APIError, OSError) as exc:
        return "", f"no NODE_VERSION and node --version did not run ({_short(exc)})"
    except Exception as exc:  # noqa: BLE001 - a timeout from the SDK's transport, among others
        return "", f"no NODE_VERSION and node --version did not finish ({_short(exc)})"
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except docker.errors.APIError:
                pass
    match = _VERSION.search(out)
    if status != 0 or not match:
        return "", f"no NODE_VERSION and node --version printed {out[:40]!r} (exit {status})"
    return match.group(0).lstrip("v"), "node --version"


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


# --- the rules ----------------------------------------------------------------------------------


def rule_size(image, max_size_mb: float) -> RuleResult:
    size = image.attrs["Size"]
    measured, limit = f"{size / MB:.1f} MB", f"{max_size_mb:g} MB"
    if size > max_size_mb * MB:
        return RuleResult(
            "size", False, measured, limit, f"{measured} is over the {limit} limit", _FIX["size"]
        )
    return RuleResult("size", True, measured, limit, f"{measured} is within the {limit} limit")


def rule_node_lts(
    version: str, source: str, schedule: dict[int, NodeRelease], min_months: int, today: date
) -> RuleResult:
    limit = f"even major, >= {min_months} months of support left"
    fix = _FIX["node-lts"]
    match = _VERSION.match(version) if version else None
    if not match:
        why = source if not version else f"cannot read a Node version in {version!r} ({source})"
        return RuleResult(
            "node-lts",
            False,
            version or "unknown",
            limit,
            why,
            "set NODE_VERSION in the image or put node on its PATH",
        )
    major = int(match.group(1))
    release = schedule.get(major)
    if release is None:
        known = f"{min(schedule)}-{max(schedule)}"
        return RuleResult(
            "node-lts",
            False,
            f"Node {version}",
            limit,
            f"Node {major} is not in the release schedule (it covers {known})",
            "point policy.schedule at the current schedule.json of the Node.js "
            "Release Working Group",
        )
    measured = f"Node {version}" + (f" ({release.codename})" if release.codename else "")
    if major % 2:
        return RuleResult(
            "node-lts",
            False,
            measured,
            limit,
            f"Node {version} is an odd release with no LTS (end of life {release.end}); "
            "an even LTS release is required",
            fix,
        )
    if today > release.end:
        return RuleResult(
            "node-lts",
            False,
            measured,
            limit,
            f"Node {version} reached end of life on {release.end}; at least "
            f"{min_months} months of support left are required",
            fix,
        )
    left = months_between(today, release.end)
    if left < min_months:
        return RuleResult(
            "node-lts",
            False,
            measured,
            limit,
            f"Node {version} has {left} months of support left (end of life "
            f"{release.end}); at least {min_months} are required",
            fix,
        )
    if release.lts and today < release.lts:
        phase = f"Current, LTS from {release.lts}"
    elif release.maintenance and today >= release.maintenance:
        phase = "Maintenance LTS"
    else:
        phase = "Active LTS"
    return RuleResult(
        "node-lts",
        True,
        measured,
        limit,
        f"{phase}; supported until {release.end}, {left} months left",
    )


def _counts_text(counts: Mapping[str, int]) -> str:
    shown = [s for s in scanreports.TABLE_SEVERITIES] + (["none"] if counts.get("none") else [])
    return ", ".join(f"{s} {counts.get(s, 0)}" for s in shown)


def rule_vulnerabilities(
    report: Path | None, image, ref: str, allowed: Mapping[str, int]
) -> tuple[RuleResult, scanreports.VulnReport | None]:
    limit = ", ".join(f"{s} {allowed[s]}" for s in scanreports.SEVERITIES if s in allowed) or "any"
    if report is None:
        return RuleResult(
            "vulnerabilities", False, "no report", limit, NO_REPORT, NO_REPORT_FIX
        ), None
    parsed = scanreports.load(report)
    counts = parsed.counts
    measured = f"{_counts_text(counts)} ({parsed.scanner})"
    fatal, note = scanreports.for_image(
        parsed,
        image_id=image.id,
        names=[ref, *(image.attrs.get("RepoTags") or [])],
        layers=_layers(image),
    )
    if fatal:
        return RuleResult(
            "vulnerabilities",
            False,
            measured,
            limit,
            f"{note}; its numbers do not describe this image",
            f"scan {ref} itself on the connected side and pass that report",
        ), parsed
    over = [s for s in scanreports.SEVERITIES if s in allowed and counts[s] > allowed[s]]
    if over:
        found = " and ".join(f"{counts[s]} {s}" for s in over)
        why = f"{found} in the {parsed.scanner} report; the limit is {limit}"
        return RuleResult(
            "vulnerabilities", False, measured, limit, why, _FIX["vulnerabilities"]
        ), parsed
    why = f"within the limit ({parsed.scanner} report {report.name})"
    if note:
        why += f"; warning: {note}"
    return RuleResult("vulnerabilities", True, measured, limit, why), parsed


_ROOT_USERS = {"", "root", "0"}


def rule_non_root(image) -> RuleResult:
    user = ((image.attrs.get("Config") or {}).get("User") or "").strip()
    name = user.split(":", 1)[0]
    limit = "a non-root USER"
    if name in _ROOT_USERS:
        measured = f"root (USER {user})" if user else "root (no USER)"
        return RuleResult(
            "non-root",
            False,
            measured,
            limit,
            f"runs as {measured}; {limit} is required",
            _FIX["non-root"],
        )
    return RuleResult("non-root", True, f"USER {user}", limit, f"runs as {user}")


# --- secrets in layers, streamed ----------------------------------------------------------------

_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----\r?\n"  # the armour line ends its line
    rb"(?:[A-Za-z-]+:[^\n]*\r?\n)*\r?\n?"  # optional RFC 1421 headers (Proc-Type, DEK-Info)
    rb"[A-Za-z0-9+/=]{16,}\r?\n(?:[A-Za-z0-9+/=]+\r?\n)*"  # base64 body (one line for Ed25519)
    rb"-----END \1PRIVATE KEY-----"  # and the closing line: a placeholder in docs has neither
)
_KEY_NAMES = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"}
_READ_LIMIT = 1 << 20  # keys and .env files are small; bigger files are not read for PEM armour


@dataclass
class SecretFinding:
    path: str
    what: str
    layer: str  # the layer's name in the saved image
    index: int = 0  # 1-based position in the image, bottom first
    of: int = 0
    deleted_later: bool = False

    def describe(self) -> str:
        where = f"layer {self.index} of {self.of}" if self.index else f"layer {self.layer}"
        gone = ", deleted in a later layer but still in the image" if self.deleted_later else ""
        return f"{self.path} ({self.what}) in {where}{gone}"


class _ChunkStream(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the SDK's ``get_image`` stream)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._view = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._pos >= len(self._view):
            try:
                self._view, self._pos = memoryview(next(self._chunks)), 0
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n


def scan_layers(chunks: Iterable[bytes]) -> list[SecretFinding]:
    """Find .env files and private keys in every layer of a ``docker save`` stream.

    The outer tar and each layer tar inside it are read in stream mode (``r|``): one pass, nothing
    held but the current block and the small files checked for PEM armour. A file a later layer
    deletes is still in the lower layer's tar, so it is still found (and said to be deleted later).
    """
    findings: list[SecretFinding] = []
    whiteouts: dict[
        str, set[str]
    ] = {}  # layer -> paths deleted (a directory deletes what is under it)
    order: list[str] = []  # layers in the order met, in case the manifest does not say
    manifest_layers: list[str] = []
    stream = io.BufferedReader(_ChunkStream(chunks), buffer_size=1 << 20)
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            if not member.isfile():
                continue
            if member.name == "manifest.json":
                manifest = json.load(outer.extractfile(member))
                manifest_layers = list(manifest[0].get("Layers") or []) if manifest else []
                continue
            if not (member.name.endswith("/layer.tar") or member.name.startswith("blobs/")):
                continue
            try:
                layer = tarfile.open(fileobj=outer.extractfile(member), mode="r|*")
            except (tarfile.TarError, EOFError, OSError):
                continue  # a config or manifest blob, not a layer
            order.append(member.name)
            whiteouts[member.name] = set()
            with layer:
                _scan_layer(layer, member.name, findings, whiteouts[member.name])
    layers = manifest_layers or order
    for finding in findings:
        if finding.layer in layers:
            finding.index, finding.of = layers.index(finding.layer) + 1, len(layers)
            later = layers[finding.index :]
            finding.deleted_later = any(
                _deleted(finding.path, whiteouts.get(name, ())) for name in later
            )
    return sorted(findings, key=lambda f: (f.index, f.path))


def _deleted(path: str, deleted: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deleted)


def _scan_layer(
    layer: tarfile.TarFile, name: str, findings: list[SecretFinding], deleted: set[str]
) -> None:
    for entry in layer:
        path = "/" + entry.name.lstrip("./").lstrip("/")
        base = posixpath.basename(path)
        if base.startswith(".wh."):
            parent = posixpath.dirname(path)
            deleted.add(parent if base == ".wh..wh..opq" else posixpath.join(parent, base[4:]))
            continue
        if not entry.isfile():
            continue
        if envfiles.holds_settings(base):
            findings.append(SecretFinding(path, ".env file", name))
            continue
        if base in _KEY_NAMES:
            findings.append(SecretFinding(path, "SSH private key", name))
            continue
        if entry.size <= _READ_LIMIT:
            data = layer.extractfile(entry).read()
            if b"PRIVATE KEY-----" in data and _PEM_KEY.search(data):
                findings.append(SecretFinding(path, "PEM private key", name))


def rule_secrets(client: docker.DockerClient, image) -> RuleResult:
    limit = "no .env file or private key in any layer"
    findings = scan_layers(client.api.get_image(image.id))
    if not findings:
        return RuleResult(
            "secrets", True, "none found", limit, "no .env file or private key in any layer"
        )
    listed = "; ".join(f.describe() for f in findings)
    return RuleResult(
        "secrets",
        False,
        f"{len(findings)} found",
        limit,
        f"{listed}; {limit} is allowed",
        _FIX["secrets"],
    )


# --- one image, the gate, several candidates ----------------------------------------------------


def evaluate(
    client: docker.DockerClient,
    ref: str,
    *,
    kind: str,
    report: Path | None,
    limits: Mapping | None = None,
    today: date | None = None,
) -> GateResult:
    """Run every rule that applies to ``kind`` ("base" or "app") on a local image."""
    if kind not in ("base", "app"):
        raise AirgapError(f"image kind {kind!r} is unknown; use base or app")
    lim = limits_from(limits)
    today = today or date.today()
    image = get_image(client, ref)
    schedule = load_schedule(lim.get("schedule") or None)
    version, source = node_version(client, image)
    results = [
        rule_size(image, lim["max_size_mb"]),
        rule_node_lts(version, source, schedule, lim["min_support_months"], today),
        rule_vulnerabilities(Path(report) if report else None, image, ref, lim["allowed"])[0],
    ]
    if kind == "app":
        results += [rule_non_root(image), rule_secrets(client, image)]
    return GateResult(
        image=ref, image_id=image.id, kind=kind, results=results, checked_on=today.isoformat()
    )


def table(result: GateResult) -> Table:
    title = f"{result.image} ({result.kind} image {result.image_id.split(':')[-1][:12]})"
    out = Table(title=title, title_justify="left")
    for column in ("Rule", "Result", "Measured", "Limit", "Why"):
        out.add_column(column, overflow="fold")
    for r in result.results:
        verdict = "[green]PASS[/green]" if r.passed else "[bold red]FAIL[/bold red]"
        out.add_row(r.rule, verdict, r.measured, r.limit, r.why)
    return out


def gate(
    client: docker.DockerClient,
    ref: str,
    *,
    kind: str,
    report: Path | None,
    limits: Mapping,
    accept_risk: str = "",
    today: date | None = None,
    console: Console | None = None,
) -> GateResult:
    """Check an image, print the table, and stop with one line unless every rule passes.

    With ``accept_risk`` (a reason a person gives), failures are printed and recorded instead: the
    caller puts ``result.record()`` in the bundle's manifest.
    """
    console = console or Console()
    result = evaluate(client, ref, kind=kind, report=report, limits=limits, today=today)
    console.print(table(result))
    if result.passed:
        return result
    reason = (accept_risk or "").strip()
    if not reason:
        raise PolicyViolation(result.message())
    result.accepted_risk = reason
    console.print(
        f"[yellow]risk accepted[/yellow] for {', '.join(r.rule for r in result.failures)}: {reason}"
    )
    return result


@dataclass
class Candidate:
    image: str
    size_mb: float
    counts: dict[str, int] | None  # None: no report for it
    lts_until: str
    result: GateResult
    notes: list[str] = field(default_factory=list)

    def sort_key(self):
        counts = [
            self.counts[s] if self.counts else float("inf") for s in scanreports.TABLE_SEVERITIES
        ]
        return (not self.result.passed, *counts, self.size_mb)


def match_reports(paths: Iterable[Path], candidates: dict[str, object]) -> dict[str, Path]:
    """Which report is about which candidate: by image ID first, else by a name the report gives."""
    found: dict[str, Path] = {}
    for path in sorted(paths):
        try:
            report = scanreports.load(path)
        except ScanReportError:
            continue  # other JSON files may share the folder
        for ref, image in candidates.items():
            if ref in found:
                continue
            fatal, note = scanreports.for_image(
                report,
                image_id=image.id,
                names=[ref, *(image.attrs.get("RepoTags") or [])],
                layers=_layers(image),
            )
            if not fatal and not note:
                found[ref] = path
                break
    return found


def compare(
    client: docker.DockerClient,
    refs: list[str],
    *,
    reports: Mapping[str, Path] | None = None,
    report_dir: Path | None = None,
    limits: Mapping | None = None,
    today: date | None = None,
) -> list[Candidate]:
    """The procedure's table for several local candidates, best first.

    Best first: passing candidates, then fewer critical, high, medium, low, unspecified (a candidate
    without a report sorts after every count), then smaller.
    """
    if not refs:
        raise AirgapError(
            "no candidate images; name one or more, e.g. inv choose-base node:20-alpine"
        )
    images = {ref: get_image(client, ref) for ref in refs}
    chosen = dict(reports or {})
    unknown = set(chosen) - set(refs)
    if unknown:
        raise AirgapError(
            f"--report names {', '.join(sorted(unknown))}, which is not a candidate; "
            "use IMAGE=FILE with one of the candidates"
        )
    if report_dir:
        report_dir = Path(report_dir)
        if not report_dir.is_dir():
            raise AirgapError(
                f"report folder {report_dir} does not exist; pass the folder holding "
                "the trivy/grype JSON reports"
            )
        missing = {r: img for r, img in images.items() if r not in chosen}
        chosen.update(match_reports(report_dir.glob("*.json"), missing))
    schedule = load_schedule(limits_from(limits).get("schedule") or None)
    out = []
    for ref in refs:
        result = evaluate(
            client, ref, kind="base", report=chosen.get(ref), limits=limits, today=today
        )
        parsed = scanreports.load(chosen[ref]) if ref in chosen else None
        version = result.result("node-lts").measured
        match = _VERSION.search(version)
        release = schedule.get(int(match.group(1))) if match else None
        out.append(
            Candidate(
                image=ref,
                size_mb=images[ref].attrs["Size"] / MB,
                counts=parsed.counts if parsed else None,
                lts_until=str(release.end) if release else "unknown",
                result=result,
            )
        )
    return sorted(out, key=Candidate.sort_key)


def compare_table(candidates: list[Candidate]) -> Table:
    out = Table(title="Base image candidates, best first", title_justify="left")
    out.add_column("Image")
    out.add_column("Size", justify="right")
    for sev in scanreports.TABLE_SEVERITIES:
        out.add_column(sev.capitalize(), justify="right")
    out.add_column("LTS until")
    out.add_column("Verdict", overflow="fold")
    for c in candidates:
        counts = [str(c.counts[s]) if c.counts else "-" for s in scanreports.TABLE_SEVERITIES]
        if c.result.passed:
            verdict = "[green]PASS[/green]"
        else:
            verdict = "[bold red]FAIL[/bold red] " + ", ".join(r.rule for r in c.result.failures)
        out.add_row(c.image, f"{c.size_mb:.1f} MB", *counts, c.lts_until, verdict)
    return out


def choose(
    client: docker.DockerClient,
    refs: list[str],
    *,
    reports: Mapping[str, Path] | None = None,
    report_dir: Path | None = None,
    limits: Mapping | None = None,
    today: date | None = None,
    console: Console | None = None,
) -> list[Candidate]:
    """Print the candidates' table, best first; PolicyViolation when none passes every rule."""
    ranked = compare(
        client, refs, reports=reports, report_dir=report_dir, limits=limits, today=today
    )
    (console or Console()).print(compare_table(ranked))
    if not any(c.result.passed for c in ranked):
        raise PolicyViolation(
            f"none of the {len(ranked)} candidates passes every rule (see the Verdict column); "
            "add candidates, scan them, or adjust the policy limits"
        )
    return ranked


# --- flag parsing for the tasks -----------------------------------------------------------------


def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD flag; empty means today."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AirgapError(f"date {text!r} is not YYYY-MM-DD; write it like 2025-01-15") from None


def parse_report_pairs(items: Iterable[str]) -> dict[str, Path]:
    """``IMAGE=FILE`` flags as a mapping."""
    pairs = {}
    for item in items:
        ref, sep, path = item.partition("=")
        if not sep or not ref or not path:
            raise AirgapError(
                f"--report {item!r} is not IMAGE=FILE; "
                "write e.g. --report node:20-alpine=trivy.json"
            )
        pairs[ref] = Path(path)
    return pairs


def override(limits: Mapping, **flags) -> dict:
    """The configured limits with the flags that were given (None or "" means not given)."""
    merged = {key: limits[key] for key in limits.keys()}
    merged.update({key: value for key, value in flags.items() if value not in (None, "")})
    return merged
