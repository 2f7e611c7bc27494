"""The selection rules on real images of the engine, the gate's one-line refusals, the two tasks.

Test images are built FROM the node stand-in with the network off, named uniquely and removed at the
end. Sizes are compared with what the SDK's inspect says (read here, independently of the code under
test); vulnerability numbers with the counts written by hand for each fixture.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import docker
import pytest
from rich.console import Console

from airgapkit.errors import ImageMissing, PolicyViolation
from airgapkit.gate import policy

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "scanners"
TRIVY = FIXTURES / "trivy-node20.json"
GRYPE = FIXTURES / "grype-node20.json"
# Node 20 is in Maintenance LTS until 2026-04-30 on this day: 15 whole months left.
IN_SUPPORT = date(2025, 1, 15)
LENIENT = {"max_size_mb": 200, "min_support_months": 6, "allowed": {"critical": 9, "high": 9}}
STRICT = {"max_size_mb": 200, "min_support_months": 6, "allowed": {"critical": 0, "high": 0}}
NODE_VERSION = (
    subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    .stdout.strip()
    .lstrip("v")
)
TRIVY_COUNTS = "critical 1, high 2, medium 3, low 3, unspecified 1 (trivy)"
GRYPE_COUNTS = "critical 1, high 2, medium 3, low 2, unspecified 1 (grype)"
ACCEPT = 'or pass --accept-risk "reason"'


def _private_key_pem() -> str:
    """A fresh Ed25519 private key in PEM (PKCS#8), made for this run only."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


# --- images --------------------------------------------------------------------------------------


def _build(client, base: str, body: str, files: dict[str, str] | None = None) -> str:
    ref = f"agk-test-policy-{uuid.uuid4().hex[:10]}:1"
    dockerfile = f"FROM {base}\n{body}\n"
    if files:
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, text in {"Dockerfile": dockerfile, **files}.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        client.images.build(
            fileobj=buf, custom_context=True, tag=ref, network_mode="none", rm=True, forcerm=True
        )
    else:
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()),
            tag=ref,
            network_mode="none",
            rm=True,
            forcerm=True,
        )
    return ref


@pytest.fixture(scope="module")
def images(docker_client, base_image):
    made = {}
    try:
        made["big"] = _build(docker_client, base_image, "RUN head -c 100000000 /dev/urandom > /pad")
        made["odd"] = _build(docker_client, base_image, "ENV NODE_VERSION=21.7.3")
        made["nonroot"] = _build(docker_client, base_image, "RUN adduser -u 1001 -D app\nUSER 1001")
        made["dotenv"] = _build(
            docker_client,
            base_image,
            "RUN mkdir -p /app && echo DB_PASSWORD=hunter2 > /app/.env\n"
            "RUN rm /app/.env\n"
            "RUN adduser -u 1001 -D app\nUSER 1001",
        )
        made["key"] = _build(
            docker_client,
            base_image,
            "RUN adduser -u 1001 -D app\nCOPY server.key /app/config/server.key\nUSER 1001",
            files={"server.key": _private_key_pem()},
        )
        made["noenv"] = _build(docker_client, base_image, "ENV NODE_VERSION=")
        yield made
    finally:
        for ref in made.values():
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass


def inspect_mb(client, ref: str) -> str:
    return f"{client.api.inspect_image(ref)['Size'] / 1_000_000:.1f} MB"


def report_for(client, ref: str, tmp_path: Path, fixture: Path = TRIVY, *, layers=None) -> Path:
    """A copy of a fixture that says it is about ``ref`` (its image ID and layers)."""
    attrs = client.api.inspect_image(ref)
    doc = json.loads(fixture.read_text())
    diff_ids = layers if layers is not None else attrs["RootFS"]["Layers"]
    if "matches" in doc:
        doc["source"]["target"]["imageID"] = attrs["Id"]
        doc["source"]["target"]["layers"] = [{"digest": d} for d in diff_ids]
    else:
        doc["Metadata"]["ImageID"] = attrs["Id"]
        doc["Metadata"]["DiffIDs"] = diff_ids
    path = tmp_path / f"{uuid.uuid4().hex[:6]}-{fixture.name}"
    path.write_text(json.dumps(doc))
    return path


def clean_report(client, ref: str, tmp_path: Path) -> Path:
    attrs = client.api.inspect_image(ref)
    path = tmp_path / "clean.json"
    path.write_text(
        json.dumps(
            {
                "SchemaVersion": 2,
                "ArtifactName": ref,
                "ArtifactType": "container_image",
                "Metadata": {"ImageID": attrs["Id"]},
                "Results": [],
            }
        )
    )
    return path


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def gate(client, ref, **kw):
    kw.setdefault("kind", "base")
    kw.setdefault("report", None)
    kw.setdefault("limits", LENIENT)
    kw.setdefault("today", IN_SUPPORT)
    return policy.gate(client, ref, console=quiet(), **kw)


# --- schedule and months (no engine needed, but cheap) -------------------------------------------


def test_packaged_schedule_holds_majors_14_to_26_with_upstream_dates():
    schedule = policy.load_schedule()
    assert sorted(schedule) == list(range(14, 27))
    assert schedule[20].codename == "Iron"
    assert (schedule[20].lts, schedule[20].maintenance, schedule[20].end) == (
        date(2023, 10, 24),
        date(2024, 10, 22),
        date(2026, 4, 30),
    )
    assert schedule[21].lts is None and schedule[21].end == date(2024, 6, 1)
    assert schedule[22].end == date(2027, 4, 30) and schedule[24].codename == "Krypton"


def test_a_user_schedule_in_upstream_format_replaces_the_packaged_one(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text(
        json.dumps(
            {
                "v0.12": {"start": "2015-02-06", "end": "2016-12-31"},
                "v28": {
                    "start": "2027-04-20",
                    "lts": "2027-10-26",
                    "maintenance": "2028-10-17",
                    "end": "2030-04-30",
                    "codename": "",
                },
            }
        )
    )
    schedule = policy.load_schedule(path)
    assert list(schedule) == [28] and schedule[28].end == date(2030, 4, 30)
    result = policy.rule_node_lts("28.0.0", "NODE_VERSION", schedule, 6, date(2028, 1, 1))
    assert result.passed


def test_months_between():
    assert policy.months_between(date(2025, 1, 15), date(2026, 4, 30)) == 15
    assert policy.months_between(date(2026, 12, 1), date(2027, 4, 30)) == 4
    assert policy.months_between(date(2027, 1, 31), date(2027, 4, 30)) == 2


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
    result = policy.rule_node_lts(version, "NODE_VERSION", policy.load_schedule(), 6, today)
    assert not result.passed
    assert result.line().startswith(line + "; ")
    assert result.line().endswith(ACCEPT)


def test_an_even_release_before_its_lts_passes_and_says_so():
    result = policy.rule_node_lts(
        "26.0.0", "NODE_VERSION", policy.load_schedule(), 6, date(2026, 5, 1)
    )
    assert result.passed and result.why.startswith("Current, LTS from 2026-10-28")


# --- the rules on real images --------------------------------------------------------------------


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


def test_grype_report_numbers(docker_client, base_image, tmp_path):
    report = report_for(docker_client, base_image, tmp_path, GRYPE)
    result = gate(docker_client, base_image, report=report)
    assert result.result("vulnerabilities").measured == GRYPE_COUNTS


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


def test_size_limit_is_configurable(docker_client, images, tmp_path):
    ref = images["big"]
    result = gate(
        docker_client,
        ref,
        report=report_for(docker_client, ref, tmp_path),
        limits={**LENIENT, "max_size_mb": 300},
    )
    assert result.result("size").passed and result.result("size").limit == "300 MB"


def test_odd_node_major_fails(docker_client, images, tmp_path):
    ref = images["odd"]
    with pytest.raises(PolicyViolation) as err:
        gate(docker_client, ref, report=report_for(docker_client, ref, tmp_path))
    assert str(err.value) == (
        "node-lts: Node 21.7.3 is an odd release with no LTS (end of life 2024-06-01); an even LTS "
        "release is required; move to an even Node release with support left (inv choose-base) "
        f"{ACCEPT}"
    )


def test_node_version_from_running_node_when_no_env(docker_client, images, tmp_path):
    ref = images["noenv"]
    result = gate(docker_client, ref, report=report_for(docker_client, ref, tmp_path))
    assert result.result("node-lts").measured == f"Node {NODE_VERSION} (Iron)"
    # the container that ran node --version is gone (others' tests may run containers meanwhile)
    assert docker_client.containers.list(all=True, filters={"ancestor": ref}) == []


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


def test_base_report_covers_an_app_image_built_on_it(docker_client, base_image, images, tmp_path):
    base_layers = docker_client.api.inspect_image(base_image)["RootFS"]["Layers"]
    report = report_for(docker_client, base_image, tmp_path, layers=base_layers)
    result = gate(docker_client, images["nonroot"], kind="app", report=report)
    vulns = result.result("vulnerabilities")
    assert vulns.passed and vulns.measured == TRIVY_COUNTS
    assert vulns.why.endswith(
        "warning: the report is for the base image node:20-alpine; 1 layer "
        "added on top of it not scanned"
    )


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
    assert record["image_id"] == docker_client.api.inspect_image(ref)["Id"]
    json.dumps(record)  # goes into the manifest as it is


def test_missing_image_is_one_line(docker_client):
    with pytest.raises(ImageMissing):
        gate(docker_client, f"agk-test-absent-{uuid.uuid4().hex[:8]}:1")


def test_compare_sorts_best_first(docker_client, base_image, images, tmp_path):
    refs = [images["odd"], images["big"], base_image]
    reports = {ref: report_for(docker_client, ref, tmp_path) for ref in refs}
    reports[base_image] = clean_report(docker_client, base_image, tmp_path)
    ranked = policy.compare(docker_client, refs, reports=reports, limits=LENIENT, today=IN_SUPPORT)
    # the passing one first; the two failing ones have equal counts, so the smaller comes next
    assert [c.image for c in ranked] == [base_image, images["odd"], images["big"]]
    assert ranked[0].result.passed and ranked[0].counts["critical"] == 0
    assert ranked[2].counts == {
        "critical": 1,
        "high": 2,
        "medium": 3,
        "low": 3,
        "none": 0,
        "unspecified": 1,
    }
    assert ranked[1].lts_until == "2024-06-01" and ranked[0].lts_until == "2026-04-30"
    assert f"{ranked[2].size_mb:.1f} MB" == inspect_mb(docker_client, images["big"])
    assert [r.rule for r in ranked[2].result.failures] == ["size"]


def test_compare_finds_reports_in_a_folder_by_image_id(docker_client, base_image, images, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    report_for(docker_client, images["odd"], folder, GRYPE)
    (folder / "notes.json").write_text('{"not": "a report"}')
    ranked = policy.compare(
        docker_client,
        [images["odd"], base_image],
        report_dir=folder,
        limits=LENIENT,
        today=IN_SUPPORT,
    )
    by_image = {c.image: c for c in ranked}
    assert by_image[images["odd"]].counts["low"] == 2  # the Grype fixture's number
    assert by_image[base_image].counts is None  # no report for it: sorted last among equals


# --- the tasks, as a user runs them --------------------------------------------------------------


def inv(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


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


def test_choose_base_task(docker_client, base_image, images, tmp_path):
    clean = clean_report(docker_client, base_image, tmp_path)
    odd = report_for(docker_client, images["odd"], tmp_path)
    proc = inv(
        "choose-base",
        f"{images['odd']},{base_image}",
        "--report",
        f"{base_image}={clean}",
        "--report",
        f"{images['odd']}={odd}",
        "--today",
        "2025-01-15",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    base_row = next(i for i, line in enumerate(lines) if base_image in line)
    odd_row = next(i for i, line in enumerate(lines) if images["odd"] in line)
    assert base_row < odd_row  # best first
    assert inspect_mb(docker_client, base_image) in lines[base_row]
    assert "2026-04-30" in lines[base_row] and "PASS" in lines[base_row]
    assert "FAIL" in lines[odd_row] and "node-lts" in lines[odd_row]


@pytest.mark.parametrize("form", ["pkcs8", "openssl-rsa", "openssh", "encrypted-rsa"])
def test_pem_private_keys_in_their_usual_forms_are_recognised(form):
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = (
        ed25519.Ed25519PrivateKey.generate()
        if form in ("pkcs8", "openssh")
        else rsa.generate_private_key(65537, 2048)
    )
    fmt = {"pkcs8": s.PrivateFormat.PKCS8, "openssh": s.PrivateFormat.OpenSSH}.get(
        form, s.PrivateFormat.TraditionalOpenSSL
    )
    enc = s.BestAvailableEncryption(b"pw") if form == "encrypted-rsa" else s.NoEncryption()
    assert policy._PEM_KEY.search(key.private_bytes(s.Encoding.PEM, fmt, enc))


def test_a_placeholder_key_in_documentation_is_not_a_key():
    doc = b'key="-----BEGIN PRIVATE KEY-----\\nXXXX\\nXXXX\\n-----END PRIVATE KEY-----"\n'
    assert not policy._PEM_KEY.search(doc)
