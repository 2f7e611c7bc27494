"""gate/appreports.py: reports on the app's npm packages, in four formats, held against the SBOM.

Expected numbers come from tests/fixtures/appreports/README.md, written from the fixtures, not
from the code.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from airgapkit.crossing.manifest import FORMAT, Manifest
from airgapkit.errors import ScanReportError
from airgapkit.gate import appreports, render, rules, scanreports
from airgapkit.history import Entry
from airgapkit.trust import sbom

FIXTURES = Path(__file__).parent / "fixtures" / "appreports"
PACKAGES = sbom.packages(sbom.read(FIXTURES / "tms-api.cdx.json"))
STRICT = {"critical": 0, "high": 0}


def read(name: str, **kwargs) -> appreports.AppReport:
    return appreports.read(FIXTURES / name, packages=PACKAGES, **kwargs)


def counts(**given: int) -> dict[str, int]:
    return {severity: given.get(severity, 0) for severity in scanreports.SEVERITIES}


def altered(tmp_path: Path, name: str, change) -> Path:
    """A copy of a fixture with ``change(doc)`` applied."""
    doc = json.loads((FIXTURES / name).read_text())
    change(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


# --- each format, as its README table says ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source", "expected", "unscored", "dated", "dated_by"),
    [
        ("npm-audit.json", "npm audit", counts(critical=1, high=1, medium=1), 1, None, "file time"),
        (
            "trivy-sbom.json",
            "trivy",
            counts(critical=1, high=1, medium=1, low=1),
            1,
            date(2026, 11, 30),
            "report",
        ),
        (
            "grype-sbom.json",
            "grype",
            counts(critical=1, high=1, medium=2),
            1,
            date(2026, 11, 30),
            "report",
        ),
        (
            "osv-scanner.json",
            "osv-scanner",
            counts(critical=1, high=1, medium=1, low=1),
            1,
            None,
            "file time",
        ),
    ],
)
def test_each_format_counts_by_cvss_severity(name, source, expected, unscored, dated, dated_by):
    report = read(name)
    summary = report.summary(len(PACKAGES), "reports/x.json")
    assert (report.source, summary.counts, summary.unscored) == (source, expected, unscored)
    assert report.dated_by == dated_by
    assert report.dated == (dated or scanreports.file_day(FIXTURES / name))
    assert summary.packages == 68


@pytest.mark.parametrize(
    ("name", "finding"),
    [
        ("npm-audit.json", ("debug", "4.4.3", "GHSA-2099-test-db02", "medium", None, "4.4.4")),
        (
            "npm-audit.json",
            ("path-to-regexp", "8.4.2", "GHSA-2099-test-pr03", "critical", 9.8, "8.4.3"),
        ),
        ("trivy-sbom.json", ("qs", "6.17.1", "GHSA-2099-test-qs01", "high", 7.5, "6.17.2")),
        ("trivy-sbom.json", ("body-parser", "2.4.0", "CVE-2099-0203", "low", 3.1, "2.4.1, 2.3.9")),
        ("grype-sbom.json", ("send", "1.2.1", "CVE-2099-0302", "medium", 5.3, "1.2.2")),
        ("grype-sbom.json", ("debug", "4.4.3", "GHSA-2099-test-db02", "medium", None, "")),
        ("osv-scanner.json", ("qs", "6.17.1", "CVE-2099-0401", "high", 7.5, "6.17.2")),
        (
            "osv-scanner.json",
            ("path-to-regexp", "8.4.2", "GHSA-2099-test-pr03", "critical", 9.8, "8.4.3"),
        ),
        ("osv-scanner.json", ("debug", "4.4.3", "GHSA-2099-test-db02", "medium", None, "4.4.4")),
    ],
)
def test_each_finding_names_package_version_advisory_severity_and_fix(name, finding):
    found = {
        (f.package, f.version, f.id, f.severity, f.score, f.fixed) for f in read(name).findings
    }
    assert finding in found


def test_npm_keeps_only_the_advisories_npm_found_applying():
    """The real qs advisory for <6.14.1 was in the service's answer; npm left it out for 6.17.1."""
    ids = {f.id for f in read("npm-audit.json").findings}
    assert ids == {"GHSA-2099-test-pr03", "GHSA-2099-test-qs01", "GHSA-2099-test-db02"}


# --- a field the code reads, renamed in the fixture, changes what is read ----------------------------

# Each path names a field of the tool's published format that the code reads; "*" is every item
# of a list, "<name>" every value of an object.
READ_FIELDS = {
    "npm-audit.json": [
        ("auditReportVersion",),
        ("vulnerabilities",),
        ("vulnerabilities", "<name>", "via"),
        ("vulnerabilities", "<name>", "nodes"),
        ("vulnerabilities", "<name>", "via", "*", "url"),
        ("vulnerabilities", "<name>", "via", "*", "severity"),
        ("vulnerabilities", "<name>", "via", "*", "cvss"),
        ("vulnerabilities", "<name>", "via", "*", "cvss", "score"),
        ("vulnerabilities", "<name>", "via", "*", "cvss", "vectorString"),
        ("vulnerabilities", "<name>", "via", "*", "range"),
    ],
    "trivy-sbom.json": [
        ("CreatedAt",),
        ("Results",),
        ("Results", "*", "Vulnerabilities"),
        ("Results", "*", "Vulnerabilities", "*", "VulnerabilityID"),
        ("Results", "*", "Vulnerabilities", "*", "PkgName"),
        ("Results", "*", "Vulnerabilities", "*", "InstalledVersion"),
        ("Results", "*", "Vulnerabilities", "*", "FixedVersion"),
        ("Results", "*", "Vulnerabilities", "*", "Severity"),
        ("Results", "*", "Vulnerabilities", "*", "SeveritySource"),
        ("Results", "*", "Vulnerabilities", "*", "CVSS"),
        ("Results", "*", "Vulnerabilities", "*", "CVSS", "<name>", "V3Score"),
    ],
    "grype-sbom.json": [
        ("matches",),
        ("descriptor", "timestamp"),
        ("matches", "*", "vulnerability"),
        ("matches", "*", "vulnerability", "id"),
        ("matches", "*", "vulnerability", "severity"),
        ("matches", "*", "vulnerability", "cvss"),
        ("matches", "*", "vulnerability", "cvss", "*", "version"),
        ("matches", "*", "vulnerability", "cvss", "*", "metrics", "baseScore"),
        ("matches", "*", "vulnerability", "fix", "versions"),
        ("matches", "*", "relatedVulnerabilities"),
        ("matches", "*", "artifact", "name"),
        ("matches", "*", "artifact", "version"),
    ],
    "osv-scanner.json": [
        ("results",),
        ("results", "*", "packages"),
        ("results", "*", "packages", "*", "package", "name"),
        ("results", "*", "packages", "*", "package", "version"),
        ("results", "*", "packages", "*", "vulnerabilities"),
        ("results", "*", "packages", "*", "vulnerabilities", "*", "id"),
        ("results", "*", "packages", "*", "vulnerabilities", "*", "severity"),
        ("results", "*", "packages", "*", "vulnerabilities", "*", "severity", "*", "type"),
        ("results", "*", "packages", "*", "vulnerabilities", "*", "severity", "*", "score"),
        ("results", "*", "packages", "*", "vulnerabilities", "*", "database_specific", "severity"),
        ("results", "*", "packages", "*", "vulnerabilities", "*", "affected"),
        (
            "results",
            "*",
            "packages",
            "*",
            "vulnerabilities",
            "*",
            "affected",
            "*",
            "ranges",
            "*",
            "events",
            "*",
            "fixed",
        ),
        ("results", "*", "packages", "*", "groups"),
        ("results", "*", "packages", "*", "groups", "*", "ids"),
    ],
}


def rename(doc, path: tuple[str, ...]) -> int:
    """Rename the field at ``path`` wherever it occurs; how many were renamed."""
    head, rest = path[0], path[1:]
    if head == "*":
        return sum(rename(item, rest) for item in doc) if isinstance(doc, list) else 0
    if not isinstance(doc, dict):
        return 0
    if head == "<name>":
        return sum(rename(value, rest) for value in doc.values())
    if not rest:
        if head not in doc:
            return 0
        doc[f"{head}_renamed"] = doc.pop(head)
        return 1
    return rename(doc[head], rest) if head in doc else 0


def what_is_read(path: Path):
    try:
        report = appreports.read(path, packages=PACKAGES)
    except ScanReportError as exc:
        return ("refused", str(exc).split(":", 1)[-1][:40])
    return (report.source, report.dated, sorted(map(repr, report.findings)))


@pytest.mark.parametrize(
    ("name", "path"),
    [(name, path) for name, paths in READ_FIELDS.items() for path in paths],
    ids=lambda value: ".".join(value) if isinstance(value, tuple) else value,
)
def test_renaming_a_field_the_code_reads_changes_what_is_read(tmp_path, name, path):
    """Each field is in the fixture under its published name, and the code reads it by that name:
    renamed (as a change of the tool's format would), the result changes or the report is refused."""
    original = tmp_path / "original" / name
    original.parent.mkdir()
    original.write_bytes((FIXTURES / name).read_bytes())
    doc = json.loads(original.read_text())
    assert rename(doc, path), f"{'.'.join(path)} is not in {name}"
    changed = tmp_path / name
    changed.write_text(json.dumps(doc))
    assert what_is_read(changed) != what_is_read(original)


# --- matching the SBOM -----------------------------------------------------------------------------


def test_a_report_naming_a_package_the_sbom_lacks_is_refused_naming_it(tmp_path):
    def other_app(doc):
        doc["Results"][0]["Vulnerabilities"][0]["PkgName"] = "left-pad"

    with pytest.raises(
        ScanReportError, match="names left-pad 6.17.1, but the app's SBOM does not list left-pad"
    ):
        appreports.read(altered(tmp_path, "trivy-sbom.json", other_app), packages=PACKAGES)


def test_a_report_of_another_version_is_refused_naming_both(tmp_path):
    def other_lock(doc):
        doc["matches"][0]["artifact"]["version"] = "6.13.0"

    with pytest.raises(
        ScanReportError,
        match="names qs 6.13.0, but the app's SBOM lists qs 6.17.1: the report is of another app",
    ):
        appreports.read(altered(tmp_path, "grype-sbom.json", other_lock), packages=PACKAGES)


def test_an_npm_report_of_a_smaller_tree_is_refused(tmp_path):
    def smaller(doc):
        doc["metadata"]["dependencies"]["total"] = 12

    with pytest.raises(
        ScanReportError, match="npm audit of 12 runtime packages, fewer than the 68"
    ):
        appreports.read(altered(tmp_path, "npm-audit.json", smaller), packages=PACKAGES)


def test_npm_versions_come_from_the_installed_tree_where_a_name_has_several(tmp_path):
    nested = "node_modules/body-parser/node_modules/qs"
    both = PACKAGES | {("qs", "6.13.0")}

    def two_copies(doc):
        doc["vulnerabilities"]["qs"]["nodes"] = ["node_modules/qs", nested]
        doc["metadata"]["dependencies"]["total"] += 1

    report_path = altered(tmp_path, "npm-audit.json", two_copies)
    with pytest.raises(
        ScanReportError,
        match="names qs at node_modules/qs, and the app's SBOM holds it in versions 6.13.0, 6.17.1",
    ):
        appreports.read(report_path, packages=both)
    tree = {"node_modules/qs": "6.17.1", nested: "6.13.0"}
    report = appreports.read(report_path, packages=both, tree=tree)
    assert {(f.package, f.version) for f in report.findings if f.package == "qs"} == {
        ("qs", "6.17.1"),
        ("qs", "6.13.0"),
    }


def test_an_npm_report_naming_a_package_outside_the_tree_is_refused(tmp_path):
    def extra(doc):
        doc["vulnerabilities"]["left-pad"] = {
            **doc["vulnerabilities"]["router"],
            "name": "left-pad",
        }
        doc["vulnerabilities"]["left-pad"]["nodes"] = ["node_modules/left-pad"]

    with pytest.raises(
        ScanReportError, match="names left-pad, but the app's SBOM does not list left-pad"
    ):
        appreports.read(altered(tmp_path, "npm-audit.json", extra), packages=PACKAGES)


def test_a_trivy_list_of_every_package_must_hold_the_sboms(tmp_path):
    def listed(doc):
        doc["Results"][0]["Packages"] = [
            {"Name": name, "Version": version} for name, version in sorted(PACKAGES)
        ]

    assert appreports.read(altered(tmp_path, "trivy-sbom.json", listed), packages=PACKAGES)

    def one_missing(doc):
        listed(doc)
        doc["Results"][0]["Packages"] = [
            p for p in doc["Results"][0]["Packages"] if p["Name"] != "vary"
        ]

    with pytest.raises(ScanReportError, match="vary 1.1.2 of the app's SBOM is not among them"):
        appreports.read(altered(tmp_path, "trivy-sbom.json", one_missing), packages=PACKAGES)


# --- bad input: one line each ---------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json at all", "is not readable JSON"),
        (
            (FIXTURES / "npm-audit.json").read_text()[:900],
            "is not readable JSON (.*); a report cut short reads so too",
        ),
        (
            '{"bomFormat": "CycloneDX", "components": []}',
            "not a vulnerability report airgapkit reads \\(found an object with keys bomFormat, comp",
        ),
        ("[1, 2]", "found a list"),
        (
            json.dumps(
                {
                    "message": "405 Method Not Allowed - POST http://127.0.0.1:9/-/npm/v1/security/advisories/bulk",
                    "error": {"summary": "", "detail": ""},
                }
            ),
            "is npm audit's error output, not a report \\(405 Method Not Allowed",
        ),
        (json.dumps({"advisories": {}, "actions": [], "metadata": {}}), "npm 6's audit format"),
        (json.dumps({"auditReportVersion": 3, "vulnerabilities": {}}), "report version 3"),
    ],
    ids=["not json", "truncated", "an sbom", "a list", "npm error", "npm 6", "npm version 3"],
)
def test_bad_input_is_one_line(tmp_path, text, words):
    with pytest.raises(ScanReportError, match=words) as err:
        appreports.read(_write(tmp_path, text), packages=PACKAGES)
    assert "\n" not in str(err.value)


def test_a_missing_report_is_one_line(tmp_path):
    with pytest.raises(
        ScanReportError, match="app report .*absent.json does not exist; pass npm audit"
    ):
        appreports.read(tmp_path / "absent.json", packages=PACKAGES)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        (
            "trivy-sbom.json",
            lambda d: d["Results"][0]["Vulnerabilities"][1].update(Severity="SEVERE"),
        ),
        (
            "npm-audit.json",
            lambda d: d["vulnerabilities"]["debug"]["via"][0].update(severity="urgent"),
        ),
        (
            "osv-scanner.json",
            lambda d: d["results"][0]["packages"][1]["vulnerabilities"][0][
                "database_specific"
            ].update(severity="BAD"),
        ),
    ],
)
def test_a_severity_no_tool_uses_is_refused(tmp_path, name, change):
    with pytest.raises(
        ScanReportError,
        match="has severity '(SEVERE|urgent|BAD)', which no tool airgapkit reads uses",
    ):
        appreports.read(altered(tmp_path, name, change), packages=PACKAGES)


def test_a_vector_that_does_not_parse_is_refused(tmp_path):
    def broken(doc):
        doc["results"][0]["packages"][0]["vulnerabilities"][0]["severity"][0]["score"] = (
            "CVSS:3.1/AV:Q"
        )

    with pytest.raises(
        ScanReportError, match="GHSA-2099-test-qs01 has a CVSS v3 vector that does not parse"
    ):
        appreports.read(altered(tmp_path, "osv-scanner.json", broken), packages=PACKAGES)


def test_a_stale_report_is_refused_with_its_date():
    report = read("trivy-sbom.json")
    with pytest.raises(
        ScanReportError,
        match="dated 2026-11-30 \\(report\\), 8 days before 2026-12-08; policy.max_report_age_days allows 7",
    ):
        scanreports.refuse_stale(report, "app report x", as_of=date(2026, 12, 8), max_days=7)
    scanreports.refuse_stale(report, "app report x", as_of=date(2026, 12, 7), max_days=7)


# --- the rule, the manifest, the table, the history -------------------------------------------------


def summary(name: str = "npm-audit.json") -> appreports.AppSummary:
    return read(name).summary(len(PACKAGES), "reports/app-npm-audit.json")


def test_the_rule_fails_over_the_limit_naming_the_worst_and_the_unscored():
    result = rules.rule_app_vulnerabilities(summary(), STRICT)
    assert not result.passed
    assert result.measured.startswith(
        "critical 1, high 1, medium 1, low 0, unspecified 0 (npm audit, "
    )
    assert "1 critical and 1 high in the app's packages" in result.why
    assert "1 with no CVSS score counted by npm audit's own severity" in result.why
    assert "worst: path-to-regexp 8.4.2 GHSA-2099-test-pr03" in result.why
    assert result.line().endswith('(npm audit fix) and export again or pass --accept-risk "reason"')


def test_the_rule_passes_within_the_limit():
    result = rules.rule_app_vulnerabilities(summary(), {"critical": 1, "high": 1})
    assert result.passed and result.why.startswith("within the limit (npm audit of 68 packages")


def test_no_report_fails_and_says_to_pass_one():
    result = rules.rule_app_vulnerabilities(
        appreports.Unavailable("npm audit got no advisories"), STRICT
    )
    assert (result.passed, result.measured) == (False, "no report")
    assert "pass --app-report FILE (npm audit --json output" in result.line()


def test_the_summary_travels_in_a_manifest_and_reads_back():
    manifest = Manifest(
        kind="base", app={"name": "tms-api", "version": "1.0.0", "image_name": "tms-api"}
    )
    manifest.app_report = summary().record()
    again = Manifest.from_json(manifest.to_json(), Path("m.json"))
    assert appreports.AppSummary.from_record(again.app_report) == summary()
    body = json.loads(manifest.to_json())
    body["app_report"]["counts"]["critical"] = "1"
    with pytest.raises(Exception, match="where a size belongs at app_report.counts.critical"):
        Manifest.from_json(json.dumps(body).encode(), Path("m.json"))


def test_a_format_1_manifest_without_the_report_still_reads():
    body = {
        "format": FORMAT,
        "format_version": 1,
        "kind": "base",
        "app": {"name": "a", "version": "1", "image_name": "a"},
    }
    assert Manifest.from_json(json.dumps(body).encode(), Path("m.json")).app_report is None


def test_the_table_shows_the_worst_findings_and_the_unscored(capsys):
    from rich.console import Console

    Console(width=200).print(render.app_report_table(summary().record()))
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "GHSA-2099" in line]
    assert "path-to-regexp" in lines[0] and "9.8" in lines[0] and "8.4.3" in lines[0]
    assert "debug" in lines[2] and "4.4.4" in lines[2]
    said = " ".join(out.split())
    assert "App packages: critical 1, high 1, medium 1, low 0, unspecified 0" in said
    assert "npm audit of 68 packages, as of" in said
    assert "1 with no CVSS score counted by npm audit's own severity" in said


def test_the_history_records_the_counts():
    manifest = Manifest(
        kind="base", app={"name": "tms-api", "version": "1.0.0", "image_name": "tms-api"}
    )
    manifest.app_report = summary().record()
    entry = Entry("export")
    entry.bundle(manifest, "tms-api-1.0.0-base.zip")
    assert entry.app_vulnerabilities["counts"] == counts(critical=1, high=1, medium=1)
    assert entry.app_vulnerabilities["source"] == "npm audit"
