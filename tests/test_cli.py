"""cli.py: the ``airgapkit`` program, the same tasks without a project's tasks.py."""

from __future__ import annotations

import sys

from invoking import assert_one_line_error, inv

from airgapkit.crossing import digest, sumsfile

# The console script pyproject.toml declares (airgapkit = "airgapkit.cli:main"), run by this
# interpreter so that it is this checkout's package whatever is installed.
MAIN = "import sys; from airgapkit.cli import main; sys.argv[0] = 'airgapkit'; main()"
AIRGAPKIT = (sys.executable, "-c", MAIN)


def airgapkit(*args: str, cwd, env=None):
    return inv(*args, cwd=cwd, env=env, timeout=120, program=AIRGAPKIT)


def test_list_shows_every_task_without_a_tasks_file(tmp_path):
    proc = airgapkit("--list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("pull", "save", "export", "release", "deploy", "debug-shell", "inspect", "hash"):
        assert f"  {name} " in proc.stdout
    assert "airgapkit" in airgapkit("--version", cwd=tmp_path).stdout


def test_a_task_runs_through_it(tmp_path):
    (tmp_path / "a.tar").write_bytes(b"image bytes")
    proc = airgapkit("hash", "--files", "a.tar", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sums = sumsfile.read_sums(tmp_path / "SHA256SUMS")
    assert sums == {"a.tar": digest.sha256_file(tmp_path / "a.tar")}


def test_settings_come_from_invoke_airgapkit_variables(tmp_path):
    env = {"INVOKE_AIRGAPKIT_HASHES_DIR": "dist", "AIRGAPKIT_PASSWORD": "Hq4!zR8#mW2$kT6@vN9x"}
    (tmp_path / "a.tar").write_bytes(b"image bytes")
    proc = airgapkit("archive", "--files", "a.tar", "--output", "dist/a.zip", cwd=tmp_path, env=env)
    assert_one_line_error(proc, "same or nested")
