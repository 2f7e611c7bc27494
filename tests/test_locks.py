"""locks.py: one run per key, the second refused with one line, a killed holder's notes kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from airgapkit import locks
from airgapkit.errors import AirgapError

HOLDER = """
import sys, time
from airgapkit import locks
with locks.held("container", "engine agk-lock-test", "deploy of agk-lock-test") as lock:
    lock.note(previous_id="abc", previous_was_running=True)
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture(autouse=True)
def own_lock_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(locks.LOCK_DIR_VAR, str(tmp_path / "locks"))
    return tmp_path / "locks"


@pytest.fixture
def holder(own_lock_dir):
    """Another process holding the lock of "agk-lock-test", with a note of what it does."""
    env = {**os.environ, locks.LOCK_DIR_VAR: str(own_lock_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_run_is_refused_naming_the_first(holder):
    with pytest.raises(locks.Busy) as info:
        with locks.held("container", "engine agk-lock-test", "rollback of agk-lock-test"):
            pass
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"deploy of agk-lock-test is running (pid {holder.pid} on ")
    assert message.endswith("wait for it to finish before the rollback of agk-lock-test")


def test_other_keys_and_kinds_are_free(holder):
    with locks.held("container", "engine agk-other", "deploy of agk-other") as lock:
        assert lock.stale is None
    with locks.held("output", "engine agk-lock-test", "export into dist") as lock:
        assert lock.stale is None


def test_a_killed_holder_leaves_its_notes_for_the_next(holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with locks.held("container", "engine agk-lock-test", "deploy of agk-lock-test") as lock:
        assert lock.stale["pid"] == holder.pid
        assert lock.stale["previous_id"] == "abc" and lock.stale["previous_was_running"] is True
        assert "ended without finishing; its lock is taken over" in locks.describe_stale(lock.stale)
    with locks.held("container", "engine agk-lock-test", "deploy of agk-lock-test") as lock:
        assert lock.stale is None  # the run before ended cleanly


def test_lock_files_are_private(own_lock_dir):
    with locks.held("output", "/srv/dist", "export into dist"):
        (path,) = own_lock_dir.iterdir()
        assert path.stat().st_mode & 0o777 == 0o600
    assert own_lock_dir.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")
def test_a_lock_folder_of_another_user_is_refused(own_lock_dir):
    own_lock_dir.mkdir()
    os.chown(own_lock_dir, 65534, 65534)
    with pytest.raises(AirgapError, match="belongs to another user; remove it, or set"):
        locks.lock_dir()


def test_a_lock_folder_this_user_cannot_write_in_is_one_line(monkeypatch, immutable):
    for folder in (immutable, immutable / "sub"):
        monkeypatch.setenv(locks.LOCK_DIR_VAR, str(folder))
        with pytest.raises(AirgapError, match=rf"^cannot keep locks in {folder} \(Operation not"):
            with locks.held("container", "engine agk-lock-test", "deploy of agk-lock-test"):
                pass
