"""flows/export.py: what the connected side leaves for the crossing (the session's round trip)."""

from __future__ import annotations

import os
import subprocess

import pytest
from invoking import assert_one_line_error, inv
from machines import export_flags

from airgapkit import locks

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def test_each_part_of_a_bundle_lies_in_its_own_place(round_trip):
    archive, sums, password = round_trip["exported"]
    assert archive.is_file() and sums.is_file() and password.is_file()
    assert len({archive.parent, sums.parent, password.parent}) == 3
    assert password.stat().st_mode & 0o777 == 0o600
    secret = password.read_text().strip()
    assert len(secret) >= 22  # 128 bits or more in url-safe base64
    for folder in (archive.parent, sums.parent):
        for file in folder.rglob("*"):
            assert secret.encode() not in file.read_bytes(), file
    listed = subprocess.run(["sha256sum", "-c", sums.name], cwd=sums.parent, capture_output=True)
    assert listed.returncode != 0  # the hash file lies apart from the archive: check it there
    ok = subprocess.run(
        ["sha256sum", "-c", str(sums)], cwd=archive.parent, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.docker
def test_a_second_export_into_the_same_folder_is_refused_before_any_work(
    round_trip, app_copy, tmp_path, monkeypatch
):
    lock_dir = str(tmp_path / "locks")
    monkeypatch.setenv(locks.LOCK_DIR_VAR, lock_dir)
    media = tmp_path / "dist"
    with locks.held("output", str(media.resolve()), f"export into {media}"):
        flags = [*export_flags(app_copy, round_trip["base"]), "--out-dir", str(media)]
        proc = inv(*flags, cwd=tmp_path, env={locks.LOCK_DIR_VAR: lock_dir})
    assert_one_line_error(proc, rf"^airgapkit: export into {media} is running \(pid {os.getpid()}")
    # nothing pulled, packed or made; the history notes the refused run
    assert sorted(p.name for p in tmp_path.iterdir()) == [".airgapkit", "locks"]
    assert '"outcome":"failed"' in (tmp_path / ".airgapkit" / "history.jsonl").read_text()
