"""The delivery history: one line per run whatever its outcome, append-only, a damaged line reported
and skipped, and ``inv history`` as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invoking import assert_one_line_error, inv
from rich.console import Console

from airgapkit import history, phases
from airgapkit.crossing.manifest import Manifest
from airgapkit.delta import plan
from airgapkit.errors import AirgapError, RolledBack
from airgapkit.trust import signing

IMAGE = {"ref": "tms-api:1.0.0", "id": "sha256:" + "ab" * 32, "layers": ["sha256:" + "01" * 32]}


def entry(action="release", app="tms-api", version="1.0.0", outcome=history.OK, **kw):
    return history.Entry(action, app=app, version=version, outcome=outcome, **kw).started()


def test_an_entry_is_one_line_read_back_whole(tmp_path):
    log = history.History(tmp_path / ".airgapkit" / "history.jsonl")
    written = entry(archive="tms-api-1.0.0-release.zip", images=[IMAGE], signer="")
    log.append(written)
    log.append(entry(version="1.0.1"))
    assert log.path.read_text().count("\n") == 2
    entries, notes = log.read()
    assert entries[0] == written and entries[1].version == "1.0.1" and notes == []
    assert written.user and written.host and written.when.endswith("+00:00")


def test_a_damaged_last_line_is_reported_skipped_and_never_rewritten(tmp_path):
    log = history.History(tmp_path / "history.jsonl")
    log.append(entry(version="1.0.0"))
    with log.path.open("ab") as f:  # a run killed halfway through its line
        f.write(b'{"action": "release", "app": "tms-a')
    before = log.path.read_bytes()
    entries, notes = log.read()
    assert [e.version for e in entries] == ["1.0.0"]
    assert notes == [f"{log.path} line 2 is damaged (a run killed while writing it?); skipped"]
    log.append(entry(version="1.0.1"))
    assert log.path.read_bytes().startswith(before + b"\n")  # ended, not rewritten
    entries, notes = log.read()
    assert [e.version for e in entries] == ["1.0.0", "1.0.1"] and len(notes) == 1


@pytest.mark.parametrize(
    "line", [b"not json", b"[1, 2]", b'{"action": "dance"}', b'{"action": "deploy", "when": {}}x']
)
def test_lines_that_are_no_entry_are_skipped(tmp_path, line):
    log = history.History(tmp_path / "history.jsonl")
    log.path.write_bytes(line + b"\n")
    log.append(entry())
    entries, notes = log.read()
    assert len(entries) == 1 and len(notes) == 1


def test_an_unwritable_history_is_one_line(tmp_path):
    (tmp_path / "history.jsonl").mkdir()
    with pytest.raises(AirgapError, match="cannot add to the history .*; make it writable"):
        history.History(tmp_path / "history.jsonl").append(entry())


def test_the_last_delivery_is_the_latest_that_went_through(tmp_path):
    log = history.History(tmp_path / "history.jsonl")
    log.append(entry(version="1.0.0", archive="a-1.0.0-release.zip"))
    log.append(entry(version="1.0.1", outcome=history.FAILED))
    log.append(entry(app="other", version="9.0.0"))
    log.append(entry(action="deploy", version="1.0.2"))
    assert log.last(app="tms-api", action="release").version == "1.0.0"
    assert log.last(app="tms-api", action="export") is None
    assert history.History(tmp_path / "absent.jsonl").last(app="x", action="export") is None


# --- recording a run -----------------------------------------------------------------------------


def flow(*, run, fail=None, app="tms-api"):
    run.note_app({"name": app, "version": "1.0.1"})
    if fail:
        raise fail
    manifest = Manifest(kind="release", app={"name": app, "version": "1.0.1"}, images=[IMAGE])
    archive = "dist/tms-api-1.0.1-release.zip"
    run.note_bundle(manifest, archive, "ff" * 32)
    return archive


@pytest.mark.parametrize(
    ("fail", "outcome"),
    [
        (None, "ok"),
        (AirgapError("the build failed; see above"), "failed"),
        (RolledBack("not healthy; the previous container tms runs again"), "rolled back"),
        (KeyboardInterrupt(), "interrupted"),
        (ValueError("a bug"), "failed"),
    ],
)
def test_every_run_is_recorded_whatever_its_outcome(tmp_path, fail, outcome):
    log = history.History(tmp_path / "history.jsonl")
    if fail is None:
        assert history.record(log, "release", flow) == "dist/tms-api-1.0.1-release.zip"
    else:
        with pytest.raises(type(fail)):
            history.record(log, "release", flow, fail=fail)
    (recorded,), _ = log.read()
    assert recorded.outcome == outcome and recorded.app == "tms-api"
    expected = (str(fail) or type(fail).__name__) if fail else ""
    assert recorded.message == expected
    if fail is None:
        assert recorded.archive == "tms-api-1.0.1-release.zip"
        assert recorded.archive_sha256 == "ff" * 32 and recorded.images == [IMAGE]


def timed_flow(*, run, fail=None):
    with phases.phase("build"):
        time.sleep(0.12)
    with phases.phase("smoke test"):
        pass
    with phases.phase("build"):  # met again: added up
        time.sleep(0.06)
    return flow(run=run, fail=fail)


def test_a_run_says_its_phase_times_in_one_line_and_records_them(tmp_path, capsys):
    log = history.History(tmp_path / "history.jsonl")
    history.record(log, "release", timed_flow)
    (recorded,), _ = log.read()
    assert list(recorded.times) == ["build", "smoke test"]
    assert 0.1 <= recorded.times["build"] <= 1.0 and recorded.times["smoke test"] == 0.0
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "times:" in line]
    assert said.startswith("times: build 0.") and ", smoke test 0.0 s" in said
    assert said.endswith(" s)") and "(total " in said


def test_a_failed_run_records_its_phase_times_and_says_none(tmp_path, capsys):
    log = history.History(tmp_path / "history.jsonl")
    with pytest.raises(AirgapError):
        history.record(log, "release", timed_flow, fail=AirgapError("the build failed"))
    (recorded,), _ = log.read()
    assert list(recorded.times) == ["build", "smoke test"] and recorded.outcome == "failed"
    assert "times:" not in capsys.readouterr().err  # the error stays the run's last line


def test_a_line_without_phase_times_still_reads(tmp_path):
    """Lines written before phase times were kept have no ``times``."""
    log = history.History(tmp_path / "history.jsonl")
    log.path.write_text(json.dumps({**GOOD, "outcome": "ok"}) + "\n")
    (read,), notes = log.read()
    assert notes == [] and read.times is None


def test_phases_outside_a_run_keep_nothing():
    with phases.phase("build"):
        pass
    with phases.stopwatch() as times:
        pass
    assert times == {}
    assert phases.line({"save & archive": 8.24, "hash": 0.91}, 9.65) == (
        "times: save & archive 8.2 s, hash 0.9 s, other 0.5 s (total 9.7 s)"
    )


def test_without_a_history_nothing_is_written(tmp_path):
    assert history.record(None, "release", flow) == "dist/tms-api-1.0.1-release.zip"
    assert list(tmp_path.iterdir()) == []


def test_what_the_far_side_holds_after_a_bundle():
    requirement = {"ref": "node:20-alpine", "id": "sha256:" + "0f" * 32, "carried_by": "b.zip"}
    held = entry(archive="a.zip", images=[IMAGE], requires=[requirement]).held()
    assert held == [{**IMAGE, "carried_by": "a.zip"}, requirement]


# --- showing it ----------------------------------------------------------------------------------


def test_the_table_shows_each_run_and_markup_in_messages_stays_text():
    rows = [
        entry(archive="a.zip", since={"archive": "p.zip"}),
        entry(outcome=history.FAILED, message="bad [bold]input[/bold]"),
    ]
    console = Console(file=io.StringIO(), width=250)
    console.print(history.table(rows))
    out = console.file.getvalue()
    assert "a.zip" in out and "p.zip" in out and "ok" in out
    assert "failed: bad [bold]input[/bold]" in out


def test_inv_history_prints_the_runs_of_one_app(tmp_path):
    log = history.History(tmp_path / ".airgapkit" / "history.jsonl")
    log.append(entry(version="1.0.0", archive="tms-api-1.0.0-release.zip"))
    log.append(entry(app="other", archive="other-2.0.0-release.zip"))
    with log.path.open("ab") as f:
        f.write(b'{"action": "rel')
    proc = inv("history", "--app", "tms-api", cwd=tmp_path, env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "tms-api-1.0.0-release.zip" in proc.stdout and "other-2.0.0" not in proc.stdout
    assert "line 3 is damaged" in proc.stderr
    proc = inv("history", "--json", cwd=tmp_path)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["app"] for e in lines] == ["tms-api", "other"]


def test_inv_history_with_no_history_kept_says_so(tmp_path):
    proc = inv("history", cwd=tmp_path, env={"INVOKE_AIRGAPKIT_HISTORY": ""})
    assert proc.returncode != 0 and "no history is kept here" in proc.stderr


# --- lines of the wrong shape, and a history that is no file -------------------------------------

GOOD = {"action": "export", "app": "A", "version": "1.0.0", "archive": "A-1.0.0-base.zip"}
WRONG_SHAPES = [
    {**GOOD, "images": "x"},
    {**GOOD, "images": [1]},
    {**GOOD, "images": None},
    {**GOOD, "images": [{"ref": "node:20", "layers": []}]},  # an image without its id
    {**GOOD, "images": [{"ref": "node:20", "id": "sha256:1", "layers": "x"}]},
    {**GOOD, "requires": [1]},
    {**GOOD, "requires": [{"ref": "node:20", "id": 7, "carried_by": "x.zip"}]},
    {**GOOD, "since": "x"},
    {**GOOD, "since": {"archive": 1}},
    {**GOOD, "app": ["A"]},
    {**GOOD, "seconds": "long"},
    {**GOOD, "sbom_packages": "12"},
    {**GOOD, "times": [1.0]},
    {**GOOD, "times": {"save & archive": "8 s"}},
]


def wrong_history(tmp_path, shape: dict):
    """A good export of A 0.9.0, then the line of the wrong shape (outcome ok, the latest)."""
    log = history.History(tmp_path / ".airgapkit" / "history.jsonl")
    log.append(
        entry("export", app="A", version="0.9.0", archive="A-0.9.0-base.zip", images=[IMAGE])
    )
    with log.path.open("ab") as f:
        f.write(json.dumps({**shape, "outcome": "ok"}).encode() + b"\n")
    return log


@pytest.mark.parametrize("shape", WRONG_SHAPES, ids=range(len(WRONG_SHAPES)))
def test_a_line_of_the_wrong_shape_is_damaged_and_skipped(tmp_path, shape, capsys):
    log = wrong_history(tmp_path, shape)
    entries, notes = log.read()
    assert [e.version for e in entries] == ["0.9.0"]
    assert notes == [f"{log.path} line 2 is damaged (a run killed while writing it?); skipped"]
    found = plan.previous("last", history=log, app="A", kind="base")  # --since last
    assert found.archive == "A-0.9.0-base.zip"
    assert f"warning: {log.path} line 2 is damaged" in capsys.readouterr().err
    proc = inv("history", cwd=tmp_path, env={"COLUMNS": "250"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "line 2 is damaged" in proc.stderr and "A-0.9.0-base.zip" in proc.stdout


def test_a_truncated_last_line_is_reported_by_since_last_too(tmp_path, capsys):
    log = history.History(tmp_path / "history.jsonl")
    log.append(
        entry("export", app="A", version="0.9.0", archive="A-0.9.0-base.zip", images=[IMAGE])
    )
    with log.path.open("ab") as f:
        f.write(b'{"action": "export", "app": "A", "vers')
    assert plan.previous("last", history=log, app="A", kind="base").version == "0.9.0"
    assert "line 2 is damaged" in capsys.readouterr().err


def test_a_history_that_is_a_fifo_is_refused_at_once(tmp_path):
    """A reader of a FIFO waits for a writer forever: each run is a child with a time limit."""
    fifo = tmp_path / "history.jsonl"
    os.mkfifo(fifo)
    env = {"INVOKE_AIRGAPKIT_HISTORY": str(fifo)}
    for args in (["history"], ["export", "--app", str(tmp_path / "no-app"), "--since", "last"]):
        proc = inv(*args, cwd=tmp_path, env=env, timeout=60)
        assert_one_line_error(proc, rf"^airgapkit: the history {fifo} is not a regular file")
    child = f"from airgapkit import history; history.History({str(fifo)!r}).read()"
    with pytest.raises(subprocess.CalledProcessError) as info:  # the library's reader too
        subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, timeout=30)
    assert "is not a regular file" in info.value.stderr.decode()


def test_a_signer_is_recorded_as_the_signer_only_once_checked():
    checked = signing.Verdict(signer="SHA256:checked", key_source=Path("team.pub"))
    unchecked = signing.Verdict(signer="SHA256:named", warning="not checked")
    for verdict, signer, unchecked_signer in (
        (checked, "SHA256:checked", ""),
        (unchecked, "", "SHA256:named"),
        (None, "", ""),
    ):
        run = history.unrecorded("deploy")
        run.note_signature(verdict)
        assert (run.entry.signer, run.entry.unchecked_signer) == (signer, unchecked_signer)
