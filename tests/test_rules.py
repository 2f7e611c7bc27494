"""Each image rule on ImageFacts built here (no engine needed): verdicts, the measured values, the
one-line refusals, and the data each result keeps for whoever ranks or shows it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from gate_support import ACCEPT, FAKE_ID, FAKE_LAYER, GRYPE, IN_SUPPORT, TRIVY, TRIVY_COUNTS

from airgapkit.errors import AirgapError
from airgapkit.gate import rules, scanreports
from airgapkit.gate.facts import ImageFacts
from airgapkit.gate.layerscan import SecretFinding
from airgapkit.gate.limits import resolve
from airgapkit.gate.schedule import load_schedule

# What the scanner fixtures say about their image: same ID, same one layer.
NODE20 = ImageFacts(
    ref="node:20-alpine",
    image_id=FAKE_ID,
    size=140_000_000,
    layers=(FAKE_LAYER,),
    env={"NODE_VERSION": "20.20.2", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    repo_tags=("node:20-alpine",),
)
APP = replace(
    NODE20,
    ref="tms-api:1.0.0",
    image_id="sha256:" + "ab" * 32,
    layers=(FAKE_LAYER, "sha256:" + "cd" * 32),
    repo_tags=("tms-api:1.0.0",),
    user="1001",
)
ALLOWED = {"critical": 0, "high": 0}


def judge(facts=NODE20, **kw):
    kw.setdefault("kind", "base")
    kw.setdefault("limits", resolve(None))
    kw.setdefault("schedule", load_schedule())
    kw.setdefault("today", IN_SUPPORT)
    kw.setdefault("node", (rules.declared_node_version(facts), "NODE_VERSION"))
    kw.setdefault("report", scanreports.load(TRIVY))
    return rules.judge(facts, **kw)


# --- size ----------------------------------------------------------------------------------------


def test_size_at_the_limit_passes_and_one_byte_over_fails():
    at = rules.rule_size(replace(NODE20, size=200_000_000), 200)
    assert at.passed and at.measured == "200.0 MB" and at.limit == "200 MB"
    assert at.why == "200.0 MB is within the 200 MB limit"
    over = rules.rule_size(replace(NODE20, size=200_000_001), 200)
    assert not over.passed
    assert over.line() == (
        f"size: 200.0 MB is over the 200 MB limit; pick a smaller base (inv choose-base) {ACCEPT}"
    )


def test_size_limit_prints_without_a_needless_decimal():
    assert rules.rule_size(NODE20, 150.5).limit == "150.5 MB"
    assert rules.rule_size(NODE20, 300.0).limit == "300 MB"


# --- Node LTS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "today", "line"),
    [
        (
            "21.7.3",
            IN_SUPPORT,
            "node-lts: Node 21.7.3 is an odd release with no LTS (end of life "
            "2024-06-01); an even LTS release is required",
        ),
        (
            "20.20.2",
            date(2026, 5, 1),
            "node-lts: Node 20.20.2 reached end of life on 2026-04-30; "
            "at least 6 months of support left are required",
        ),
        (
            "22.1.0",
            date(2026, 12, 1),
            "node-lts: Node 22.1.0 has 4 months of support left (end of "
            "life 2027-04-30); at least 6 are required",
        ),
        (
            "12.22.12",
            IN_SUPPORT,
            "node-lts: Node 12 is not in the release schedule (it covers 14-26)",
        ),
    ],
)
def test_node_lts_failures(version, today, line):
    result = rules.rule_node_lts(version, "NODE_VERSION", load_schedule(), 6, today)
    assert not result.passed
    assert result.line().startswith(line + "; ")
    assert result.line().endswith(ACCEPT)


def test_an_even_release_before_its_lts_passes_and_says_so():
    result = rules.rule_node_lts("26.0.0", "NODE_VERSION", load_schedule(), 6, date(2026, 5, 1))
    assert result.passed and result.why.startswith("Current, LTS from 2026-10-28")


def test_a_passing_release_keeps_the_schedule_row_it_was_judged_by():
    result = rules.rule_node_lts("20.20.2", "NODE_VERSION", load_schedule(), 6, IN_SUPPORT)
    assert result.passed and result.measured == "Node 20.20.2 (Iron)"
    assert result.why == "Maintenance LTS; supported until 2026-04-30, 15 months left"
    assert result.release.major == 20 and result.release.end == date(2026, 4, 30)


def test_the_last_whole_month_of_support_counts():
    # 2026-10-30 to 2027-04-30 is 6 whole months: passes; a day later it is 5
    schedule = load_schedule()
    assert rules.rule_node_lts("22.1.0", "x", schedule, 6, date(2026, 10, 30)).passed
    assert not rules.rule_node_lts("22.1.0", "x", schedule, 6, date(2026, 10, 31)).passed


@pytest.mark.parametrize(
    ("version", "source", "why"),
    [
        ("", "no NODE_VERSION and node --version printed '' (exit 127)", "no NODE_VERSION and"),
        ("lts-iron", "NODE_VERSION", "cannot read a Node version in 'lts-iron' (NODE_VERSION)"),
    ],
)
def test_an_unreadable_version_fails_and_says_where_to_set_it(version, source, why):
    result = rules.rule_node_lts(version, source, load_schedule(), 6, IN_SUPPORT)
    assert not result.passed and result.why.startswith(why) and result.release is None
    assert result.measured == (version or "unknown")
    assert result.fix == "set NODE_VERSION in the image or put node on its PATH"


def test_declared_node_version_drops_the_v_and_blanks():
    assert rules.declared_node_version(replace(NODE20, env={"NODE_VERSION": " v22.1.0 "})) == (
        "22.1.0"
    )
    assert rules.declared_node_version(replace(NODE20, env={"NODE_VERSION": ""})) == ""
    assert rules.declared_node_version(replace(NODE20, env={})) == ""


# --- vulnerabilities -----------------------------------------------------------------------------


def test_a_report_about_this_image_within_the_limit_passes_and_is_kept():
    report = scanreports.load(TRIVY)
    result = rules.rule_vulnerabilities(report, NODE20, {"critical": 9, "high": 9})
    assert result.passed and result.measured == TRIVY_COUNTS
    assert result.limit == "critical 9, high 9"
    assert result.why == "within the limit (trivy report trivy-node20.json)"
    assert result.report is report and result.report.counts["low"] == 3


def test_counts_over_the_limit_fail_in_one_line():
    result = rules.rule_vulnerabilities(scanreports.load(TRIVY), NODE20, ALLOWED)
    assert result.line() == (
        "vulnerabilities: 1 critical and 2 high in the trivy report; the limit is critical 0, "
        f"high 0; pick a base with fewer (inv choose-base) {ACCEPT}"
    )


def test_no_limits_at_all_reads_any():
    result = rules.rule_vulnerabilities(scanreports.load(GRYPE), NODE20, {})
    assert result.passed and result.limit == "any"


def test_no_report_is_a_failure():
    result = rules.rule_vulnerabilities(None, NODE20, ALLOWED)
    assert not result.passed and result.measured == "no report" and result.report is None
    assert result.line() == (
        "vulnerabilities: no vulnerability report: a gate that cannot see is not a pass; scan on "
        f"the connected side with trivy/grype -f json and pass --report {ACCEPT}"
    )


def test_a_report_about_another_image_fails_and_names_both():
    other = replace(NODE20, image_id="sha256:" + "ab" * 32, layers=("sha256:" + "cd" * 32,))
    result = rules.rule_vulnerabilities(scanreports.load(TRIVY), other, {"critical": 9})
    assert not result.passed
    assert result.line().startswith(
        "vulnerabilities: the report is for image sha256:0f0f0f0f0f0f (node:20-alpine), not "
        "sha256:abababababab; its numbers do not describe this image; scan node:20-alpine itself "
    )


def test_the_base_report_covers_an_app_built_on_it_with_a_warning():
    result = rules.rule_vulnerabilities(scanreports.load(TRIVY), APP, {"critical": 9, "high": 9})
    assert result.passed and result.measured == TRIVY_COUNTS
    assert result.why.endswith(
        "warning: the report is for the base image node:20-alpine; 1 layer added on top of it not "
        "scanned"
    )


def test_none_severity_shows_only_when_present(tmp_path):
    doc = json.loads(TRIVY.read_text())
    doc["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"]["V3Score"] = 0.0
    path = tmp_path / "none.json"
    path.write_text(json.dumps(doc))
    result = rules.rule_vulnerabilities(scanreports.load(path), NODE20, {})
    assert result.measured == ("critical 0, high 2, medium 3, low 3, unspecified 1, none 1 (trivy)")


# --- non-root and secrets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "measured"),
    [
        ("", "root (no USER)"),
        ("root", "root (USER root)"),
        ("0", "root (USER 0)"),
        ("0:0", "root (USER 0:0)"),
    ],
)
def test_root_fails(user, measured):
    result = rules.rule_non_root(replace(APP, user=user))
    assert not result.passed and result.measured == measured
    assert result.line() == (
        f"non-root: runs as {measured}; a non-root USER is required; add RUN adduser -u 1001 -D "
        f"app and USER app to the Dockerfile {ACCEPT}"
    )


@pytest.mark.parametrize("user", ["1001", "app", "1001:1001", "node:node"])
def test_a_named_or_numbered_user_passes(user):
    result = rules.rule_non_root(replace(APP, user=user))
    assert result.passed and result.measured == f"USER {user}" and result.why == f"runs as {user}"


def test_no_secrets_pass_and_each_finding_is_listed():
    assert rules.rule_secrets([]).measured == "none found"
    findings = [
        SecretFinding("/app/.env", ".env file", "a/layer.tar", 2, 4, deleted_later=True),
        SecretFinding("/root/.ssh/id_rsa", "SSH private key", "b/layer.tar", 3, 4),
    ]
    result = rules.rule_secrets(findings)
    assert not result.passed and result.measured == "2 found"
    assert result.findings == tuple(findings)
    assert result.line() == (
        "secrets: /app/.env (.env file) in layer 2 of 4, deleted in a later layer but still in the "
        "image; /root/.ssh/id_rsa (SSH private key) in layer 3 of 4; no .env file or private key "
        "in any layer is allowed; keep .env files and keys out with .dockerignore and rebuild "
        f"{ACCEPT}"
    )


# --- every rule at once --------------------------------------------------------------------------


def test_a_base_image_is_judged_by_three_rules_and_an_app_by_five():
    base = judge(limits=resolve({"allowed": {"critical": 9, "high": 9}}))
    assert [r.rule for r in base.results] == ["size", "node-lts", "vulnerabilities"]
    assert base.passed and base.checked_on == "2025-01-15" and base.image_id == FAKE_ID
    app = judge(APP, kind="app", findings=[], limits=resolve({"allowed": {}}))
    assert [r.rule for r in app.results] == list(rules.RULES)
    assert app.passed and app.image == "tms-api:1.0.0"


def test_an_unknown_kind_is_refused():
    with pytest.raises(AirgapError, match="image kind 'both' is unknown; use base or app"):
        judge(kind="both")


def test_an_app_image_needs_its_layers_scanned():
    with pytest.raises(ValueError, match="secret findings"):
        judge(APP, kind="app")


def test_several_failures_share_one_line():
    result = judge(replace(NODE20, size=300_000_000), today=date(2026, 5, 1))
    assert [r.rule for r in result.failures] == ["size", "node-lts", "vulnerabilities"]
    assert result.message() == (
        "size: 300.0 MB is over the 200 MB limit; node-lts: Node 20.20.2 reached end of life on "
        "2026-04-30; at least 6 months of support left are required; vulnerabilities: 1 critical "
        "and 2 high in the trivy report; the limit is critical 0, high 0; see the table, fix them "
        'or pass --accept-risk "reason"'
    )


def test_the_record_keeps_what_the_table_shows_and_no_parsed_data():
    result = judge(replace(NODE20, size=300_000_000))
    result.accepted_risk = "only base available offline"
    record = json.loads(json.dumps(result.record()))
    assert record == {
        "image": "node:20-alpine",
        "image_id": FAKE_ID,
        "kind": "base",
        "checked_on": "2025-01-15",
        "passed": False,
        "failures": ["size", "vulnerabilities"],
        "accepted_risk": "only base available offline",
        "rules": [
            {
                "rule": r.rule,
                "passed": r.passed,
                "measured": r.measured,
                "limit": r.limit,
                "why": r.why,
            }
            for r in result.results
        ],
    }
