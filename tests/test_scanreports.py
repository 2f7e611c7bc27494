"""Trivy and Grype reports counted by CVSS v3.1 severity. Expected numbers are written by hand from
the fixtures (see tests/fixtures/scanners/README.md), never recomputed with the code under test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airgapkit.errors import AirgapError, ScanReportError
from airgapkit.gate import scanreports

FIXTURES = Path(__file__).parent / "fixtures" / "scanners"
TRIVY = FIXTURES / "trivy-node20.json"
GRYPE = FIXTURES / "grype-node20.json"
FAKE_ID = "sha256:" + "0f" * 32
FAKE_LAYER = "sha256:" + "1e" * 32


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, "none"),
        (0.1, "low"),
        (3.9, "low"),
        (4.0, "medium"),
        (6.9, "medium"),
        (7.0, "high"),
        (8.9, "high"),
        (9.0, "critical"),
        (9.8, "critical"),
        (10.0, "critical"),
    ],
)
def test_cvss_v31_ratings(score, severity):
    assert scanreports.severity_from_score(score) == severity


def test_trivy_counts_by_hand():
    report = scanreports.load(TRIVY)
    assert report.scanner == "trivy"
    assert report.counts == {
        "critical": 1,
        "high": 2,
        "medium": 3,
        "low": 3,
        "none": 0,
        "unspecified": 1,
    }
    assert len(report.findings) == 10
    by_id = {f.id: f for f in report.findings}
    assert by_id["CVE-2099-0001"].score == 9.8
    assert by_id["CVE-2099-0005"].severity == "medium"  # nvd 6.5 wins over the HIGH label
    assert by_id["CVE-2099-0008"].score is None  # a v2 score is not a v3 score
    assert by_id["CVE-2099-0010"].severity == "unspecified"
    assert report.image_id == FAKE_ID
    assert report.image_names[0] == "node:20-alpine"
    assert report.diff_ids == [FAKE_LAYER]


def test_grype_counts_by_hand():
    report = scanreports.load(GRYPE)
    assert report.scanner == "grype"
    assert report.counts == {
        "critical": 1,
        "high": 2,
        "medium": 3,
        "low": 2,
        "none": 0,
        "unspecified": 1,
    }
    by_id = {f.id: f for f in report.findings}
    assert by_id["CVE-2099-0102"].score == 7.8  # from the related NVD record of the same CVE
    assert by_id["CVE-2099-0103"].score == 4.4  # v3.0, not the v2 9.3
    assert by_id["CVE-2099-0107"].severity == "low"  # Negligible
    assert report.image_id == FAKE_ID
    assert report.diff_ids == [FAKE_LAYER]


def test_a_finding_listed_twice_counts_once(tmp_path):
    doc = json.loads(TRIVY.read_text())
    vulns = doc["Results"][0]["Vulnerabilities"]
    vulns.append(dict(vulns[0]))
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(doc))
    assert scanreports.load(path).counts["critical"] == 1


def test_an_empty_trivy_report_counts_zero(tmp_path):
    path = tmp_path / "clean.json"
    path.write_text(
        json.dumps(
            {
                "SchemaVersion": 2,
                "ArtifactName": "x",
                "Results": [{"Target": "x (alpine 3.19.1)", "Class": "os-pkgs", "Type": "alpine"}],
            }
        )
    )
    assert set(scanreports.load(path).counts.values()) == {0}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "is not readable JSON"),
        ('{"bomFormat": "CycloneDX"}', "neither a Trivy nor a Grype JSON report"),
        ("[1, 2]", "neither a Trivy nor a Grype JSON report"),
    ],
)
def test_unreadable_reports_say_so_in_one_line(tmp_path, content, words):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ScanReportError) as err:
        scanreports.load(path)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, AirgapError)


def test_a_missing_report_file_names_it(tmp_path):
    with pytest.raises(ScanReportError, match="does not exist") as err:
        scanreports.load(tmp_path / "nope.json")
    assert isinstance(err.value.__cause__, FileNotFoundError)  # kept for AIRGAPKIT_DEBUG


def test_a_score_outside_the_scale_is_refused(tmp_path):
    doc = json.loads(TRIVY.read_text())
    doc["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"]["V3Score"] = 11.0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ScanReportError, match="outside 0.0-10.0") as err:
        scanreports.load(path)
    assert isinstance(err.value.__cause__, ValueError)


def test_report_identity():
    report = scanreports.load(TRIVY)
    other = "sha256:" + "ab" * 32
    # same image ID: about this image
    assert scanreports.for_image(report, image_id=FAKE_ID, names=["x:1"]) == (False, "")
    # another ID: about another image, a failure
    fatal, note = scanreports.for_image(report, image_id=other, names=["node:20-alpine"])
    assert fatal and "not sha256:abababab" in note
    # another ID, but the report's layers are this image's bottom layers: its base, noted
    fatal, note = scanreports.for_image(
        report, image_id=other, names=["app:1"], layers=[FAKE_LAYER, "sha256:" + "cd" * 32]
    )
    assert not fatal
    assert note == (
        "the report is for the base image node:20-alpine; 1 layer added on top of it not scanned"
    )


def test_report_without_id_is_matched_by_name(tmp_path):
    doc = json.loads(TRIVY.read_text())
    del doc["Metadata"]["ImageID"]
    path = tmp_path / "noid.json"
    path.write_text(json.dumps(doc))
    report = scanreports.load(path)
    assert scanreports.for_image(report, image_id=FAKE_ID, names=["library/node:20-alpine"]) == (
        False,
        "",
    )
    fatal, note = scanreports.for_image(report, image_id=FAKE_ID, names=["node:18-alpine"])
    assert not fatal and note == "the report names node:20-alpine, not node:18-alpine"


@pytest.mark.parametrize(
    "name", ["docker.io/library/node:20-alpine", "index.docker.io/library/node:20-alpine"]
)
def test_a_name_is_matched_by_the_reference_it_means(tmp_path, name):
    """Docker's defaults, as oci.reference applies them: the registry written out is the same image."""
    doc = json.loads(TRIVY.read_text())
    del doc["Metadata"]["ImageID"]
    path = tmp_path / "noid.json"
    path.write_text(json.dumps(doc))
    report = scanreports.load(path)
    assert scanreports.for_image(report, image_id=FAKE_ID, names=[name]) == (False, "")


@pytest.mark.parametrize(
    "doc",
    [
        {"SchemaVersion": 2, "Results": "x"},
        {"SchemaVersion": 2, "Results": [1]},
        {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [None]}]},
        {"SchemaVersion": 2, "Metadata": [1]},
        {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"CVSS": [1]}]}]},
        {"matches": [1]},
        {"matches": [{"vulnerability": "x"}]},
        {"matches": [], "source": {"target": {"layers": [1]}}},
    ],
)
def test_a_report_with_fields_of_the_wrong_type_is_one_line(tmp_path, doc):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ScanReportError, match=rf"^{path} is damaged: a field holds the wrong type"):
        scanreports.load(path)
