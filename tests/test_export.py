"""flows/export.py: what the connected side leaves for the crossing (the session's round trip)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from invoking import assert_one_line_error, assert_refusal, inv
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


def test_an_earlier_delivery_is_written_over_only_with_force(round_trip, app_copy, tmp_path):
    """Its password may be the only way into a copy already carried off: without --force the
    export stops before any work; with it, the three parts are replaced together."""
    for place in ("dist", "dist-hashes", "dist-password"):
        shutil.copytree(round_trip["exported"][0].parent.parent / place, tmp_path / place)
    archive, sums, password = (tmp_path / p.parent.name / p.name for p in round_trip["exported"])
    earlier = password.read_text()
    flags = export_flags(app_copy, round_trip["base"])
    proc = inv(*flags, cwd=tmp_path)
    assert_refusal(proc, f"dist/{archive.name} is part of an earlier delivery of", "--force")
    assert "npm" not in proc.stdout and not (tmp_path / "build").exists()  # before any work
    inv(*flags, "--force", cwd=tmp_path, check=True)
    assert password.read_text() != earlier
    ok = subprocess.run(["sha256sum", "-c", str(sums)], cwd=archive.parent, capture_output=True)
    assert ok.returncode == 0
