"""nox sessions for airgapkit.

    nox                          # tests on every supported CPython found here, then lint
    nox -s tests-3.12 -- -k env  # one interpreter; arguments after -- go to pytest
    nox -s lint -- src           # lint some paths only
    nox -s rebuild               # the example app image built again with --no-cache (Docker)
    nox -s e2e                   # the whole round trip on this machine (Docker)

The supported CPython versions are the ``Programming Language :: Python :: 3.X`` classifiers of
pyproject.toml: add or drop one there and the ``tests`` sessions follow. nox finds an interpreter
on PATH or through pyenv's *active* versions; with pyenv, make the installed ones active first, e.g.
``pyenv global 3.11.7 3.10.13 3.12.1 3.13.0`` or ``PYENV_VERSION=3.11.7:3.10.13:3.12.1:3.13.0 nox``.
"""

from __future__ import annotations

from pathlib import Path

import nox

# nox.project.load_toml/python_versions (tomllib, or tomli on the 3.10 nox may run under).
nox.needs_version = ">=2024.4.15"

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHON_VERSIONS = nox.project.python_versions(PYPROJECT)
LINT_PATHS = ("src", "tests", "bench", "tasks.py", "noxfile.py")

nox.options.sessions = ["tests", "lint"]
# Venvs are kept between runs; the package itself is reinstalled every time (pip always rebuilds
# a local folder), so a reused venv still tests the working tree. `nox -N` starts afresh.
nox.options.reuse_venv = "yes"
# An interpreter that is not on this machine means its tests sessions are skipped, and nox says
# so ("Session tests-3.13 skipped: Python interpreter 3.13 not found"). nox turns that into an
# error by default when CI is set; the CI machine need not have every supported CPython either (it
# runs the suite on the ones it has), so it stays a skip there too, and nox's generic line "Missing
# interpreters will error by default on CI systems" does not apply here. Pass
# --error-on-missing-interpreters to demand them all.
nox.options.error_on_missing_interpreters = False
# Skipped, not fetched: nox would otherwise download a stand-in build of a missing CPython.
nox.options.download_python = "never"


def install(session: nox.Session, extras: str = "") -> None:
    """The package from this working tree (not editable, as users get it), with extras."""
    session.install(f".[{extras}]" if extras else ".")


def extra_requirements(name: str) -> list[str]:
    """One optional-dependencies list of pyproject.toml, so versions are pinned in one place."""
    return PYPROJECT["project"]["optional-dependencies"][name]


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """The test suite on each supported CPython present (Docker tests need a running engine)."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check (posargs: paths, default: the project's Python)."""
    session.install(*extra_requirements("lint"))
    paths = session.posargs or [p for p in LINT_PATHS if (ROOT / p).exists()]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(default=False)
def rebuild(session: nox.Session) -> None:
    """The example app image built again with --no-cache (posargs go to `inv build`)."""
    install(session)
    session.run("inv", "build", "--no-cache", *session.posargs)


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """The whole round trip: the tests marked e2e (export, release, deploy, the demo)."""
    install(session, "test")
    session.run("pytest", "-m", "e2e", *session.posargs)
