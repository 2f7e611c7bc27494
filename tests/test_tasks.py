"""The collection itself: every task documented, every flag helped, configuration layered."""

from __future__ import annotations

import importlib
import inspect
import os

import pytest
from invoke import Config, Context
from invoking import assert_one_line_error, inv

import airgapkit.tasks
from airgapkit.tasks import anyside, connected, dev, ns, prod
from conftest import REPO_ROOT

DOCUMENT_COMMANDS = {
    "pull",
    "save",
    "pack",
    "hash",
    "archive",
    "load",
    "build",
    "prune",
    "run",
    "shell-debug",
}
COMPOSITE = {"export", "release", "deploy", "debug-shell", "inspect", "demo"}
SIDES = (connected, dev, prod, anyside)  # the modules of the tasks, one per side


def test_the_documents_commands_and_the_composite_flows_are_tasks():
    assert DOCUMENT_COMMANDS | COMPOSITE <= set(ns.task_names)


@pytest.fixture(scope="module")
def fresh_ns():
    """The collection as first loaded: invoke pops a task's help texts once it has parsed them."""
    for side in SIDES:
        importlib.reload(side)
    return importlib.reload(airgapkit.tasks).ns


@pytest.mark.parametrize("name", sorted(ns.task_names))
def test_every_task_has_a_one_line_docstring_and_help_for_every_flag(fresh_ns, name):
    task = fresh_ns[name]
    doc = (task.__doc__ or "").strip()
    assert doc and "\n" not in doc, f"{name}: docstring must be one line"
    flags = list(inspect.signature(task.body).parameters)[1:]  # after the context
    missing = [flag for flag in flags if not task.help.get(flag)]
    assert not missing, f"{name}: no help for {missing}"


def test_inv_list_shows_the_tasks_with_their_help(tmp_path):
    proc = inv("--list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in DOCUMENT_COMMANDS | COMPOSITE:
        assert f"  {name} " in out


def test_configuration_is_layered_defaults_yaml_environment(tmp_path):
    """Defaults, then invoke.yaml, then INVOKE_AIRGAPKIT_* variables (flags come last, per task)."""
    config = Config(project_location=str(REPO_ROOT), runtime_path=None)
    config.load_defaults(ns.configuration(), merge=False)
    config.load_project()
    config.merge()
    assert config.airgapkit.base_image == "node:20-alpine"  # invoke.yaml agrees with the default
    os.environ["INVOKE_AIRGAPKIT_BASE_IMAGE"] = "node:22-alpine"
    try:
        config.load_shell_env()
        assert Context(config).config.airgapkit.base_image == "node:22-alpine"
    finally:
        del os.environ["INVOKE_AIRGAPKIT_BASE_IMAGE"]


@pytest.fixture
def broken_app(tmp_path):
    """An app whose package.json has a trailing comma: pack refuses it, json's error the cause."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "x", "version": "1.0.0",}\n')
    return app


def test_a_refusal_is_one_line_without_the_chain_of_causes(broken_app, tmp_path):
    proc = inv("pack", "--app", str(broken_app), cwd=tmp_path)
    assert_one_line_error(proc, r"package\.json is not valid JSON.*fix the file")
    assert "JSONDecodeError" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("flags", "env"),
    [((), {"AIRGAPKIT_DEBUG": "1"}), (("--debug",), None)],
    ids=["AIRGAPKIT_DEBUG=1", "inv --debug"],
)
def test_the_chain_of_causes_is_shown_when_asked(broken_app, tmp_path, flags, env):
    proc = inv(*flags, "pack", "--app", str(broken_app), cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "json.decoder.JSONDecodeError" in proc.stderr
    assert "The above exception was the direct cause of the following exception" in proc.stderr
    assert "Traceback" not in proc.stdout  # the chain goes to stderr only
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("airgapkit: ") and "is not valid JSON" in last


@pytest.mark.parametrize("name", sorted(ns.task_names))
def test_every_short_flag_is_a_letter(fresh_ns, name):
    """Invoke would give ``--app-report`` the dash of its name (``--``) once ``-a`` and ``-p`` are
    taken; the tasks' Task class skips it."""
    for argument in fresh_ns[name].get_arguments():
        short = [flag for flag in argument.names if len(flag) == 1]
        assert all(flag.isalnum() for flag in short), (name, argument.names)
