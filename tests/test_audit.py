"""flows/audit.py: real ``npm audit`` of the example app's installed tree, against a stand-in for the
registry's advisory service on loopback (the real one cannot be reached here: see
tests/support/advisory_service.py), and ``inv audit`` / ``inv check-image --app-report`` as a
user runs them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import advisory_service
import docker
import pytest
from invoking import REPO_ROOT, assert_refusal, free_port, inv

from airgapkit.errors import ScanReportError
from airgapkit.flows import audit
from airgapkit.gate import appreports
from airgapkit.gate.limits import Limits
from airgapkit.trust import sbom

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "appreports"
EXAMPLE = REPO_ROOT / "examples" / "tms-api"
TODAY = date.today()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the example app with its runtime tree installed (npm ci), and its SBOM."""
    app = tmp_path_factory.mktemp("audit") / "tms-api"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=app, check=True, capture_output=True
    )
    return app, sbom.generate(app)


def fresh(tmp_path: Path, name: str, day: date = TODAY) -> Path:
    """A copy of a dated fixture, made on ``day``."""
    doc = json.loads((FIXTURES / name).read_text())
    if "CreatedAt" in doc:
        doc["CreatedAt"] = f"{day.isoformat()}T08:00:00.000000000Z"
    else:
        doc["descriptor"]["timestamp"] = f"{day.isoformat()}T08:00:00Z"
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def check(installed, tmp_path, *, given=None, registry=""):
    app, bom = installed
    return audit.check(
        app,
        bom,
        given=given,
        out=tmp_path / "app-npm-audit.json",
        registry=registry,
        limits=Limits(),
        today=TODAY,
    )


def test_real_npm_audit_counts_what_npm_found_for_the_installed_tree(installed, tmp_path):
    with advisory_service.serve(advisory_service.recorded("tms-api")) as service:
        summary, report = check(installed, tmp_path, registry=service.url)
    method, path, asked = service.asked[0]
    assert (method, path) == ("POST", advisory_service.BULK)
    assert asked["qs"] == ["6.17.1"] and asked["express"] == ["5.3.0"] and len(asked) == 68
    assert summary.counts == {
        "critical": 1,
        "high": 1,
        "medium": 1,
        "low": 0,
        "none": 0,
        "unspecified": 0,
    }
    assert (summary.source, summary.dated_by, summary.date) == ("npm audit", "run", str(TODAY))
    assert (summary.packages, summary.unscored) == (68, 1)
    assert [w["id"] for w in summary.worst] == [
        "GHSA-2099-test-pr03",
        "GHSA-2099-test-qs01",
        "GHSA-2099-test-db02",
    ]
    assert report == tmp_path / "app-npm-audit.json"
    assert json.loads(report.read_text())["auditReportVersion"] == 2
    assert summary.member == "reports/app-npm-audit.json"


def test_npm_configured_offline_still_asks_the_service(installed, tmp_path, monkeypatch):
    """Offline, npm answers an empty report without asking anyone: that would be a silent pass."""
    monkeypatch.setenv("npm_config_offline", "true")
    with advisory_service.serve(advisory_service.recorded("tms-api")) as service:
        summary, _ = check(installed, tmp_path, registry=service.url)
    assert service.asked and summary.counts["critical"] == 1


@pytest.mark.parametrize(
    ("status", "said"),
    [(405, "405 Method Not Allowed - POST http://127.0.0.1:"), (500, "500 Internal Server Error")],
    ids=["no advisory endpoint", "failing"],
)
def test_a_registry_that_serves_no_advisories_gives_no_report_and_says_so(
    installed, tmp_path, status, said
):
    with advisory_service.serve({}, status=status) as service:
        evidence, report = check(installed, tmp_path, registry=service.url)
    assert isinstance(evidence, appreports.Unavailable) and report is None
    assert f"npm audit got no advisories from the registry at {service.url} ({said}" in evidence.why
    assert "pass --app-report FILE" in evidence.why
    assert not (tmp_path / "app-npm-audit.json").exists()


def test_an_unreachable_advisory_service_gives_no_report_and_says_so(installed, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/"
    evidence, _ = check(installed, tmp_path, registry=closed)
    assert isinstance(evidence, appreports.Unavailable)
    assert "ECONNREFUSED" in evidence.why and "pass --app-report FILE" in evidence.why


def test_a_given_report_is_matched_and_dated(installed, tmp_path):
    summary, report = check(installed, tmp_path, given=fresh(tmp_path, "grype-sbom.json"))
    assert report == tmp_path / "grype-sbom.json"
    assert (summary.source, summary.date, summary.dated_by) == ("grype", str(TODAY), "report")
    assert summary.member == "reports/app-grype.json"
    stale = fresh(tmp_path, "trivy-sbom.json", TODAY - timedelta(days=8))
    with pytest.raises(
        ScanReportError, match=f"dated {TODAY - timedelta(days=8)} \\(report\\), 8 days"
    ):
        check(installed, tmp_path, given=stale)


# --- the tasks, as a user runs them ----------------------------------------------------------------


def test_inv_audit_prints_the_table_and_refuses_a_critical_in_one_line(installed, tmp_path):
    app, _ = installed
    with advisory_service.serve(advisory_service.recorded("tms-api")) as service:
        env = {"INVOKE_AIRGAPKIT_AUDIT_REGISTRY": service.url, "COLUMNS": "200"}
        proc = inv("audit", "--app", str(app), cwd=tmp_path, env=env)
    line = assert_refusal(proc, "app-vulnerabilities: 1 critical and 1 high in the app's packages")
    assert "worst: path-to-regexp 8.4.2 GHSA-2099-test-pr03" in line and "npm audit fix" in line
    row = next(r for r in proc.stdout.splitlines() if r.startswith("│ path-to-regexp"))
    assert "GHSA-2099-test-pr03" in row and "critical" in row and "8.4.3" in row
    assert (tmp_path / "build" / "tms-api-1.0.0-app-npm-audit.json").is_file()


def test_inv_audit_with_no_advisory_service_says_to_pass_a_report(installed, tmp_path):
    app, _ = installed
    with advisory_service.serve({}, status=405) as service:
        env = {"INVOKE_AIRGAPKIT_AUDIT_REGISTRY": service.url}
        proc = inv("audit", "--app", str(app), cwd=tmp_path, env=env)
    assert_refusal(
        proc, "npm audit got no advisories", "405 Method Not Allowed", "--app-report FILE"
    )


def test_inv_audit_with_a_report_within_a_lenient_policy_passes(installed, tmp_path):
    app, _ = installed
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("airgapkit:\n  policy:\n    allowed: {critical: 1, high: 1}\n")
    report = fresh(tmp_path, "trivy-sbom.json")
    audit_it = ["audit", "--app", str(app), "--app-report", str(report)]
    proc = inv("-f", str(lenient), *audit_it, cwd=tmp_path, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout and "within the limit (trivy of 68 packages" in proc.stdout


def test_check_image_judges_the_app_packages_with_the_image(installed, tmp_path, base_image):
    app, _ = installed
    report = fresh(tmp_path, "trivy-sbom.json")
    proc = inv(
        "check-image",
        base_image,
        "--kind",
        "app",
        "--app-report",
        str(report),
        "--app",
        str(app),
        cwd=tmp_path,
        env={"COLUMNS": "250"},
    )
    line = assert_refusal(proc, "app-vulnerabilities: 1 critical and 1 high in the app's packages")
    assert "non-root" in line  # the stand-in runs as root: the image's rules still apply
    row = next(r for r in proc.stdout.splitlines() if r.startswith("│ app-vulnerabilities"))
    assert "critical 1, high 1, medium 1, low 1, unspecified 0 (trivy," in row


def test_an_image_read_from_its_registry_is_judged_with_the_app_packages_too():
    """check-image --source registry --app-report: the packages' row joins the registry's facts."""
    from airgapkit.gate import checkpoint
    from airgapkit.gate.facts import ImageFacts

    facts = ImageFacts("node:24-alpine", "sha256:" + "ab" * 32, 50_000_000)
    packages = appreports.Unavailable("npm audit got no advisories")
    result = checkpoint.judge_registry(facts, report=None, limits=None, app=packages)
    assert [r.rule for r in result.results][-1] == "app-vulnerabilities"
    assert "app-vulnerabilities" in [r.rule for r in result.failures]


def test_export_refuses_a_report_of_no_known_tool_before_pulling_anything(
    installed, tmp_path, remote_only, docker_client
):
    app, bom = installed
    given = tmp_path / "sbom.json"
    given.write_text(json.dumps(bom))  # the SBOM itself given by mistake
    export = ["export", "--app", str(app), "--base-image", remote_only, "--app-report", str(given)]
    proc = inv(*export, cwd=tmp_path)
    assert_refusal(proc, "is not a vulnerability report airgapkit reads (found an object with keys")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(remote_only)  # refused before the pull
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())
