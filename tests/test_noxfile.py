"""The nox sessions follow pyproject.toml: one tests session per supported CPython, and no more."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli below 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def classifier_versions() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    versions = []
    for classifier in project["classifiers"]:
        if m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier):
            versions.append(m.group(1))
    return versions


def test_classifiers_agree_with_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    versions = classifier_versions()
    minors = sorted(int(v.split(".")[1]) for v in versions)
    assert minors == list(range(minors[0], minors[-1] + 1)), "a gap in the supported versions"
    assert project["requires-python"] == f">=3.{minors[0]}"


def test_noxfile_runs_tests_and_lint_by_default_and_rebuild_and_e2e_on_request():
    listing = subprocess.run(
        [sys.executable, "-m", "nox", "--list", "-f", str(ROOT / "noxfile.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    marked = {name: mark for mark, name in re.findall(r"^([*-]) (\S+)", listing, re.MULTILINE)}
    expected_tests = {f"tests-{v}": "*" for v in classifier_versions()}
    assert marked == {**expected_tests, "lint": "*", "rebuild": "-", "e2e": "-"}


def test_noxfile_skips_missing_interpreters_even_under_ci(monkeypatch):
    import runpy

    import nox

    monkeypatch.setenv("CI", "true")
    namespace = runpy.run_path(str(ROOT / "noxfile.py"))
    assert nox.options.error_on_missing_interpreters is False
    assert nox.options.download_python == "never"
    assert namespace["PYTHON_VERSIONS"] == classifier_versions()
    assert nox.options.sessions == ["tests", "lint"]
