"""The app's own packages through the session's round trip: real npm audit at export (against the
stand-in advisory service, tests/support/advisory_service.py), the report and its counts carried in
both bundles, shown by inspect and inv sbom, recorded in the history, judged again by release; and a
critical finding refused at export and at release without --accept-risk.

The recorded advisories hold one critical, one high and one medium finding for the example app
(tests/fixtures/appreports/README.md); the round trip goes on with --accept-risk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoking import assert_refusal, inv
from machines import RISK, carry, export_flags, release_flags

from airgapkit.crossing.archive import ArchiveReader

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

COUNTS = {"critical": 1, "high": 1, "medium": 1, "low": 0, "none": 0, "unspecified": 0}
REFUSED = "app-vulnerabilities: 1 critical and 1 high in the app's packages (npm audit of 68"


def manifest(files: tuple[Path, Path, Path]) -> tuple[dict, dict[str, bytes]]:
    """A bundle's manifest, and its reports/ members."""
    archive, _, password = files
    with ArchiveReader(archive, password.read_text().strip()) as reader:
        body = json.loads(reader.read_bytes("manifest.json"))
        reports = {
            name: reader.read_bytes(name) for name in reader.names() if name.startswith("reports/")
        }
    return body, reports


@pytest.mark.parametrize("side", ["exported", "released"])
def test_both_bundles_carry_the_report_its_counts_and_the_accepted_risk(round_trip, side):
    body, reports = manifest(round_trip[side])
    assert body["format_version"] == 2
    report = body["app_report"]
    assert (report["source"], report["counts"], report["packages"]) == ("npm audit", COUNTS, 68)
    assert (report["unscored"], report["member"]) == (1, "reports/app-npm-audit.json")
    assert report["worst"][0] == {
        "package": "path-to-regexp",
        "version": "8.4.2",
        "id": "GHSA-2099-test-pr03",
        "severity": "critical",
        "score": "9.8",
        "fixed": "8.4.3",
    }
    assert json.loads(reports["reports/app-npm-audit.json"])["auditReportVersion"] == 2
    gate = body["gate"]
    assert "app-vulnerabilities" in gate["failures"] and gate["accepted_risk"] == RISK


def test_the_release_gate_table_judges_the_app_image_on_both_reports(round_trip):
    out = round_trip["release_proc"].stdout
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│ ")}
    assert "no report" in rows["vulnerabilities"]  # the base image's: none on this machine
    packages = rows["app-vulnerabilities"]
    assert "FAIL" in packages
    assert "critical 1, high 1, medium 1, low 0, unspecified 0" in packages
    assert f"risk accepted for node-lts, vulnerabilities, app-vulnerabilities: {RISK}" in out


def test_inspect_and_sbom_show_the_counts_and_the_worst_findings(round_trip):
    archive, sums, password = round_trip["released"]
    flags = [str(archive), "--sums", str(sums), "--password-file", str(password)]
    for task in ("inspect", "sbom"):
        proc = inv(task, *flags, cwd=archive.parent, env={"COLUMNS": "200"}, check=True)
        said = " ".join(proc.stdout.split())
        assert "App packages: critical 1, high 1, medium 1, low 0, unspecified 0" in said
        rows = [r for r in proc.stdout.splitlines() if r.startswith("│ path-to-regexp ")]
        row = next(r for r in rows if "GHSA-2099-test-pr03" in r)  # not the SBOM's own row
        assert "8.4.2" in row and "critical" in row and "9.8" in row and "8.4.3" in row


def test_the_history_records_the_counts_on_both_sides(round_trip, machines):
    for side, action in (("connected", "export"), ("airgapped", "release")):
        lines = (machines[side] / ".airgapkit" / "history.jsonl").read_text().splitlines()
        entry = next(
            json.loads(line)
            for line in reversed(lines)
            if json.loads(line)["action"] == action and json.loads(line)["outcome"] == "ok"
        )
        assert entry["app_vulnerabilities"]["counts"] == COUNTS
        assert entry["app_vulnerabilities"]["source"] == "npm audit"


def test_a_critical_finding_is_refused_at_export_without_accept_risk(
    round_trip, app_copy, advisories, private_tmp, tmp_path
):
    flags = [
        f for f in export_flags(app_copy, round_trip["base"]) if f not in ("--accept-risk", RISK)
    ]
    env = {**private_tmp, "INVOKE_AIRGAPKIT_AUDIT_REGISTRY": advisories.url}
    proc = inv(*flags, cwd=tmp_path, env=env)
    line = assert_refusal(proc, REFUSED)
    assert line.endswith('see the table, fix them or pass --accept-risk "reason"')
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_a_critical_finding_is_refused_at_release_without_accept_risk(
    round_trip, app_copy, private_tmp, tmp_path
):
    inbox = carry(round_trip["exported"], tmp_path / "inbox")
    flags = [f for f in release_flags(*inbox) if f not in ("--accept-risk", RISK)]
    smoke_env = ["--smoke-env", str(app_copy / ".env.example")]
    proc = inv(*flags, *smoke_env, cwd=tmp_path, env=private_tmp)
    assert_refusal(proc, REFUSED)
    assert [p.name for p in (tmp_path / "dist").iterdir() if p.suffix == ".zip"] == []
