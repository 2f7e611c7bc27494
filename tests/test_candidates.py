"""Base-image candidates judged on real images and ranked best first; ``inv choose-base``."""

from __future__ import annotations

import io

import pytest
from gate_support import (
    GRYPE,
    IN_SUPPORT,
    LENIENT,
    STRICT,
    build,
    clean_report,
    inspect_mb,
    inv,
    remove,
    report_for,
)
from rich.console import Console

from airgapkit.errors import AirgapError, PolicyViolation
from airgapkit.gate import candidates, facts

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def images(docker_client, base_image):
    made = {}
    try:
        made["big"] = build(docker_client, base_image, "RUN head -c 100000000 /dev/urandom > /pad")
        made["odd"] = build(docker_client, base_image, "ENV NODE_VERSION=21.7.3")
        yield made
    finally:
        remove(docker_client, made.values())


def test_compare_sorts_best_first(docker_client, base_image, images, tmp_path):
    refs = [images["odd"], images["big"], base_image]
    reports = {ref: report_for(docker_client, ref, tmp_path) for ref in refs}
    reports[base_image] = clean_report(docker_client, base_image, tmp_path)
    ranked = candidates.compare(
        docker_client, refs, reports=reports, limits=LENIENT, today=IN_SUPPORT
    )
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
    ranked = candidates.compare(
        docker_client,
        [images["odd"], base_image],
        report_dir=folder,
        limits=LENIENT,
        today=IN_SUPPORT,
    )
    by_image = {c.image: c for c in ranked}
    assert by_image[images["odd"]].counts["low"] == 2  # the Grype fixture's number
    assert by_image[base_image].counts is None  # no report for it: sorted last among equals


def test_a_report_given_by_hand_wins_over_the_folder(docker_client, base_image, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    report_for(docker_client, base_image, folder, GRYPE)
    clean = clean_report(docker_client, base_image, tmp_path)
    (ranked,) = candidates.compare(
        docker_client,
        [base_image],
        reports={base_image: clean},
        report_dir=folder,
        limits=LENIENT,
        today=IN_SUPPORT,
    )
    assert ranked.counts["low"] == 0


def test_match_reports_by_image_id_leaves_the_unsure_unmatched(docker_client, base_image, tmp_path):
    by_id = report_for(docker_client, base_image, tmp_path, GRYPE)
    other = tmp_path / "other.json"
    other.write_text(by_id.read_text().replace('"imageID": "sha256:', '"imageID": "sha256:0'))
    found = candidates.match_reports(
        [other, by_id], {base_image: facts.from_engine(docker_client, base_image)}
    )
    assert list(found) == [base_image] and found[base_image].path == by_id


def test_choose_prints_the_table_and_refuses_when_none_passes(docker_client, base_image, tmp_path):
    console = Console(file=io.StringIO(), width=200)
    report = report_for(docker_client, base_image, tmp_path)
    with pytest.raises(PolicyViolation, match="^none of the 1 candidates passes every rule"):
        candidates.choose(
            docker_client,
            [base_image],
            reports={base_image: report},
            limits=STRICT,
            today=IN_SUPPORT,
            console=console,
        )
    assert "Base image candidates, best first" in console.file.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"reports": {"node:99": "x.json"}}, "--report names node:99, which is not a candidate"),
        ({"report_dir": "/nonexistent-folder"}, "report folder /nonexistent-folder does not exist"),
    ],
)
def test_report_flags_that_point_nowhere_are_one_line(docker_client, base_image, kwargs, words):
    with pytest.raises(AirgapError, match=words):
        candidates.compare(docker_client, [base_image], limits=LENIENT, **kwargs)


def test_no_candidates_is_refused():
    with pytest.raises(AirgapError, match="^no candidate images"):
        candidates.compare(None, [])


# --- the task, as a user runs it -----------------------------------------------------------------


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
