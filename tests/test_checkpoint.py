"""The gate on real images of the engine: the table's values, the one-line refusals, the accepted
risk, the Node version read by running node, and ``inv check-image`` as a user runs it."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, timedelta

import pytest
from gate_support import (
    ACCEPT,
    GRYPE,
    GRYPE_COUNTS,
    IN_SUPPORT,
    LENIENT,
    STRICT,
    TRIVY,
    TRIVY_COUNTS,
    build,
    clean_report,
    host_node_version,
    inspect_mb,
    inv,
    private_key_pem,
    remove,
    report_for,
    saved,
)
from rich.console import Console

from airgapkit.errors import AirgapError, ImageMissing, PolicyViolation
from airgapkit.gate import checkpoint, facts

pytestmark = pytest.mark.docker

NODE_VERSION = host_node_version()


@pytest.fixture(scope="module")
def images(docker_client, base_image):
    made = {}
    try:
        made["big"] = build(docker_client, base_image, "RUN head -c 100000000 /dev/urandom > /pad")
        made["odd"] = build(docker_client, base_image, "ENV NODE_VERSION=21.7.3")
        made["nonroot"] = build(docker_client, base_image, "RUN adduser -u 1001 -D app\nUSER 1001")
        made["dotenv"] = build(
            docker_client,
            base_image,
            "RUN mkdir -p /app && echo DB_PASSWORD=hunter2 > /app/.env\n"
            "RUN rm /app/.env\n"
            "RUN adduser -u 1001 -D app\nUSER 1001",
        )
        made["key"] = build(
            docker_client,
            base_image,
            "RUN adduser -u 1001 -D app\nCOPY server.key /app/config/server.key\nUSER 1001",
            files={"server.key": private_key_pem()},
        )
        made["noenv"] = build(docker_client, base_image, "ENV NODE_VERSION=")
        made["nonode"] = build(docker_client, base_image, "ENV NODE_VERSION=\nRUN rm /usr/bin/node")
        yield made
    finally:
        remove(docker_client, made.values())


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def gate(client, ref, **kw):
    kw.setdefault("kind", "base")
    kw.setdefault("report", None)
    kw.setdefault("limits", LENIENT)
    kw.setdefault("today", IN_SUPPORT)
    return checkpoint.gate(client, ref, console=quiet(), **kw)


# --- the table's values --------------------------------------------------------------------------


def test_base_image_table_matches_inspect_and_report(docker_client, base_image, tmp_path):
    report = report_for(docker_client, base_image, tmp_path)
    result = gate(docker_client, base_image, report=report)
    assert [r.rule for r in result.results] == ["size", "node-lts", "vulnerabilities"]
    assert result.passed
    size = result.result("size")
    assert size.measured == inspect_mb(docker_client, base_image) and size.limit == "200 MB"
    lts = result.result("node-lts")
    assert lts.measured == f"Node {NODE_VERSION} (Iron)"
    assert lts.why == "Maintenance LTS; supported until 2026-04-30, 15 months left"
    assert result.result("vulnerabilities").measured == TRIVY_COUNTS


def test_the_table_is_printed(docker_client, base_image, tmp_path):
    console = quiet()
    report = report_for(docker_client, base_image, tmp_path)
    checkpoint.gate(
        docker_client,
        base_image,
        kind="base",
        report=report,
        limits=LENIENT,
        today=IN_SUPPORT,
        console=console,
    )
    out = console.file.getvalue()
    assert base_image in out and "PASS" in out and "Maintenance LTS" in out


def test_grype_report_numbers(docker_client, base_image, tmp_path):
    report = report_for(docker_client, base_image, tmp_path, GRYPE)
    result = gate(docker_client, base_image, report=report)
    assert result.result("vulnerabilities").measured == GRYPE_COUNTS


def test_size_limit_is_configurable(docker_client, images, tmp_path):
    ref = images["big"]
    result = gate(
        docker_client,
        ref,
        report=report_for(docker_client, ref, tmp_path),
        limits={**LENIENT, "max_size_mb": 300},
    )
    assert result.result("size").passed and result.result("size").limit == "300 MB"


def test_node_version_from_running_node_when_no_env(docker_client, images, tmp_path):
    ref = images["noenv"]
    result = gate(docker_client, ref, report=report_for(docker_client, ref, tmp_path))
    assert result.result("node-lts").measured == f"Node {NODE_VERSION} (Iron)"
    # the container that ran node --version is gone (others' tests may run containers meanwhile)
    assert docker_client.containers.list(all=True, filters={"ancestor": ref}) == []


def test_an_image_without_node_says_why_in_the_table(docker_client, images):
    found = facts.from_engine(docker_client, images["nonode"])
    version, why = checkpoint.node_version(docker_client, found)
    assert version == "" and why.startswith("no NODE_VERSION and node --version")
    assert docker_client.containers.list(all=True, filters={"ancestor": images["nonode"]}) == []


def test_the_declared_version_wins_without_running_a_container(docker_client, images):
    found = facts.from_engine(docker_client, images["odd"])
    assert checkpoint.node_version(docker_client, found) == ("21.7.3", "NODE_VERSION")


def test_root_app_image_fails_and_user_1001_passes(docker_client, base_image, images, tmp_path):
    with pytest.raises(PolicyViolation) as err:
        gate(
            docker_client,
            base_image,
            kind="app",
            report=report_for(docker_client, base_image, tmp_path),
        )
    assert str(err.value) == (
        "non-root: runs as root (no USER); a non-root USER is required; add RUN adduser -u 1001 -D "
        f"app and USER app to the Dockerfile {ACCEPT}"
    )
    ref = images["nonroot"]
    result = gate(docker_client, ref, kind="app", report=report_for(docker_client, ref, tmp_path))
    assert result.passed
    assert result.result("non-root").measured == "USER 1001"
    assert result.result("secrets").measured == "none found"


def test_base_report_covers_an_app_image_built_on_it(docker_client, base_image, images, tmp_path):
    base_layers = docker_client.api.inspect_image(base_image)["RootFS"]["Layers"]
    report = report_for(docker_client, base_image, tmp_path, layers=base_layers)
    result = gate(docker_client, images["nonroot"], kind="app", report=report)
    vulns = result.result("vulnerabilities")
    assert vulns.passed and vulns.measured == TRIVY_COUNTS
    assert vulns.why.endswith(
        "warning: the report is for the base image node:20-alpine; 1 layer added on top of it not "
        "scanned"
    )


# --- one-line refusals ---------------------------------------------------------------------------


def test_vulnerability_gate_fails_in_one_line(docker_client, base_image, tmp_path):
    report = report_for(docker_client, base_image, tmp_path)
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, base_image, report=report, limits=STRICT)
    assert str(err.value) == (
        "vulnerabilities: 1 critical and 2 high in the trivy report; the limit is critical 0, "
        f"high 0; pick a base with fewer (inv choose-base) {ACCEPT}"
    )


def test_missing_report_is_a_plain_failure(docker_client, base_image):
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, base_image)
    assert str(err.value) == (
        "vulnerabilities: no vulnerability report: a gate that cannot see is not a pass; scan on "
        f"the connected side with trivy/grype -f json and pass --report {ACCEPT}"
    )


def test_report_about_another_image_fails(docker_client, base_image):
    with pytest.raises(
        PolicyViolation,
        match=r"^vulnerabilities: the report is for image "
        r"sha256:0f0f0f0f0f0f \(node:20-alpine\), not sha256:",
    ):
        gate(docker_client, base_image, report=TRIVY)


def test_big_image_fails_size_with_the_measured_value_and_limit(docker_client, images, tmp_path):
    ref = images["big"]
    measured = inspect_mb(docker_client, ref)
    assert float(measured.split()[0]) > 200
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, ref, report=report_for(docker_client, ref, tmp_path))
    assert str(err.value) == (
        f"size: {measured} is over the 200 MB limit; pick a smaller base (inv choose-base) {ACCEPT}"
    )


def test_odd_node_major_fails(docker_client, images, tmp_path):
    ref = images["odd"]
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, ref, report=report_for(docker_client, ref, tmp_path))
    assert str(err.value) == (
        "node-lts: Node 21.7.3 is an odd release with no LTS (end of life 2024-06-01); an even LTS "
        "release is required; move to an even Node release with support left (inv choose-base) "
        f"{ACCEPT}"
    )


def test_env_file_deleted_in_a_later_layer_is_still_found(docker_client, images, tmp_path):
    ref = images["dotenv"]
    layers = len(docker_client.api.inspect_image(ref)["RootFS"]["Layers"])
    assert layers == 4  # base, .env written, .env removed, adduser
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, ref, kind="app", report=report_for(docker_client, ref, tmp_path))
    assert str(err.value) == (
        "secrets: /app/.env (.env file) in layer 2 of 4, deleted in a later layer but still in the "
        "image; no .env file or private key in any layer is allowed; keep .env files and keys out "
        f"with .dockerignore and rebuild {ACCEPT}"
    )


def test_private_key_is_found(docker_client, images, tmp_path):
    ref = images["key"]
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, ref, kind="app", report=report_for(docker_client, ref, tmp_path))
    assert str(err.value).startswith(
        "secrets: /app/config/server.key (PEM private key) in layer 3 of 3; "
    )


def test_missing_image_is_one_line(docker_client):
    with pytest.raises(ImageMissing):
        gate(docker_client, f"agk-test-absent-{uuid.uuid4().hex[:8]}:1")


def test_unknown_kind_is_refused_before_the_engine_is_asked(docker_client):
    with pytest.raises(AirgapError, match="image kind 'both' is unknown"):
        gate(docker_client, f"agk-test-absent-{uuid.uuid4().hex[:8]}:1", kind="both")


# --- accepted risk -------------------------------------------------------------------------------


def test_accepted_risk_is_returned_and_recorded(docker_client, images, tmp_path):
    ref = images["big"]
    result = gate(
        docker_client,
        ref,
        report=report_for(docker_client, ref, tmp_path),
        accept_risk="only base available offline; replace in Q3",
    )
    record = result.record()
    assert record["passed"] is False and record["failures"] == ["size"]
    assert record["accepted_risk"] == "only base available offline; replace in Q3"
    assert [r["rule"] for r in record["rules"]] == ["size", "node-lts", "vulnerabilities"]
    assert record["image_id"] == saved(docker_client, ref)[0]  # the config digest
    json.dumps(record)  # goes into the manifest as it is


def test_accepted_risk_is_printed_under_the_table(docker_client, images, tmp_path):
    console = quiet()
    ref = images["big"]
    checkpoint.gate(
        docker_client,
        ref,
        kind="base",
        report=report_for(docker_client, ref, tmp_path),
        limits=LENIENT,
        today=IN_SUPPORT,
        accept_risk="  replace in Q3 ",
        console=console,
    )
    assert "risk accepted for size: replace in Q3\n" in console.file.getvalue()


# --- the task, as a user runs it -----------------------------------------------------------------


def test_check_image_task_fails_with_one_line_and_no_traceback(docker_client, images, tmp_path):
    ref = images["big"]
    proc = inv(
        "check-image",
        ref,
        "--report",
        str(report_for(docker_client, ref, tmp_path)),
        "--today",
        "2025-01-15",
        "--kind",
        "base",
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"size: {inspect_mb(docker_client, ref)} is over the 200 MB limit" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0  # one line
    assert "FAIL" in proc.stdout and "1, high 2" in proc.stdout  # the table


def test_check_image_task_refuses_a_stale_report_with_its_date(docker_client, images, tmp_path):
    ref = images["big"]
    stale = report_for(docker_client, ref, tmp_path, made=date.today() - timedelta(days=8))
    proc = inv("check-image", ref, "--report", str(stale), "--today", "2025-01-15")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    day = date.today() - timedelta(days=8)
    assert f"is dated {day} (report), 8 days before {date.today()}; " in proc.stderr
    assert "policy.max_report_age_days allows 7: make the report again" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_check_image_task_passes_with_flags(docker_client, base_image, images, tmp_path):
    proc = inv(
        "check-image",
        images["nonroot"],
        "--kind",
        "app",
        "--today",
        "2025-01-15",
        "--report",
        str(clean_report(docker_client, images["nonroot"], tmp_path)),
        "--max-size-mb",
        "150",
        "--min-support-months",
        "12",
    )
    assert proc.returncode == 0, proc.stderr
    assert "150 MB" in proc.stdout and ">= 12 months" in proc.stdout
    assert proc.stdout.count("PASS") == 5


def test_check_image_task_bad_flag_values_are_one_line(base_image):
    proc = inv("check-image", base_image, "--max-size-mb", "big", "--today", "2025-01-15")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "policy limits must be numbers" in proc.stderr
    proc = inv("check-image", base_image, "--today", "15/01/2025")
    assert "is not YYYY-MM-DD" in proc.stderr and "Traceback" not in proc.stderr
