"""Run a task as a user runs it: ``inv ARGS`` in a child process, from a folder of the user's.

The child gets this environment without any ``AIRGAPKIT_*`` or ``INVOKE_AIRGAPKIT_*`` variable of
whoever runs the tests (a password, a debug switch or a setting there would change what the task
does), plus the ``env`` a test gives. Its stdin is empty: a task that would prompt fails at once.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
_OURS = ("AIRGAPKIT_", "INVOKE_AIRGAPKIT_")


def clean_env(env: dict | None = None) -> dict:
    """This process's environment without airgapkit's variables, then ``env`` on top."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    return {**base, **(env or {})}


def inv(
    *args: str,
    cwd: Path,
    env: dict | None = None,
    timeout: int = 600,
    check: bool = False,
    program: tuple[str, ...] = (sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT)),
) -> subprocess.CompletedProcess:
    """``inv ARGS`` from ``cwd`` against the repository's task file; text output captured.

    ``check`` fails the test with the task's output when it exits non-zero.
    """
    proc = subprocess.run(
        [*program, *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"inv {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *patterns: str) -> str:
    """A non-zero exit with one line on stderr, no traceback, matching every pattern."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, output
    for pattern in patterns:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def assert_refusal(proc: subprocess.CompletedProcess, *words: str) -> str:
    """A non-zero exit, no traceback, and a last stderr line holding every word.

    For the flows, which print progress on stderr before they refuse.
    """
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, line
    return line


def wait_until(condition, seconds: float = 20) -> bool:
    """Whether ``condition()`` came true within ``seconds`` (asked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inv_on_tmpfs(size: int, *args: str, cwd: Path, env: dict | None = None):
    """``inv ARGS`` with ``cwd/full`` a tmpfs of ``size`` bytes that only this run sees.

    The tmpfs is mounted in a mount namespace of the run's own (``unshare``; root, as under CI),
    so nothing stays mounted. Returns the run and the names it left in ``full``.
    """
    (cwd / "full").mkdir(exist_ok=True)
    script = (
        'mount -t tmpfs -o size="$1" tmpfs full || exit 99; shift; "$@"; rc=$?; '
        'echo "LEFT:$(ls -A full | tr "\\n" " ")"; exit $rc'
    )
    unshare = ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh")
    invoke = (sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT))
    proc = inv(*args, cwd=cwd, env=env, program=(*unshare, str(size), *invoke))
    assert proc.returncode != 99, f"could not mount a tmpfs: {proc.stderr}"
    left = proc.stdout.rsplit("LEFT:", 1)[-1].split()
    return proc, left
