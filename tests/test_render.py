"""The gate's tables as a user reads them: one image's rules, a recorded gate, the candidates."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from gate_support import FAKE_ID, IN_SUPPORT, TRIVY, TRIVY_COUNTS
from rich.console import Console

from airgapkit.gate import render, rules, scanreports
from airgapkit.gate.candidates import Candidate
from airgapkit.gate.facts import ImageFacts
from airgapkit.gate.limits import resolve
from airgapkit.gate.schedule import load_schedule

NODE20 = ImageFacts(
    ref="node:20-alpine",
    image_id=FAKE_ID,
    size=140_000_000,
    layers=("sha256:" + "1e" * 32,),
    env={"NODE_VERSION": "20.20.2"},
)


def shown(renderable) -> str:
    console = Console(file=io.StringIO(), width=220)
    console.print(renderable)
    return console.file.getvalue()


def judged(facts=NODE20, allowed=None) -> rules.GateResult:
    return rules.judge(
        facts,
        kind="base",
        limits=resolve({"allowed": allowed if allowed is not None else {"critical": 9, "high": 9}}),
        schedule=load_schedule(),
        today=IN_SUPPORT,
        node=("20.20.2", "NODE_VERSION"),
        report=scanreports.load(TRIVY),
    )


def row(text: str, first: str) -> str:
    return next(line for line in text.splitlines() if f" {first} " in line)


def test_the_gate_table_has_a_row_per_rule_with_every_value():
    text = shown(render.gate_table(judged(allowed={})))
    assert text.splitlines()[0].strip() == "node:20-alpine (base image 0f0f0f0f0f0f)"
    assert "Rule" in text and "Measured" in text and "Why" in text
    size = row(text, "size")
    assert "PASS" in size and "140.0 MB" in size and "200 MB" in size
    lts = row(text, "node-lts")
    assert "Node 20.20.2 (Iron)" in lts and "Maintenance LTS; supported until 2026-04-30" in lts
    assert TRIVY_COUNTS in row(text, "vulnerabilities")


def test_a_failing_rule_reads_fail():
    text = shown(render.gate_table(judged(allowed={"critical": 0})))
    failing = row(text, "vulnerabilities")
    assert "FAIL" in failing and "1 critical in the trivy report" in failing


def test_a_recorded_gate_shows_the_same_rows_and_the_day_it_was_checked():
    result = judged(replace(NODE20, size=300_000_000))
    record = json.loads(json.dumps(result.record()))  # as a manifest gives it back
    live, recorded = shown(render.gate_table(result)), shown(render.record_table(record))
    assert recorded.splitlines()[0].strip() == (
        "node:20-alpine (base image 0f0f0f0f0f0f, checked 2025-01-15)"
    )
    assert live.splitlines()[1:] == recorded.splitlines()[1:]


def test_a_record_from_an_older_manifest_without_why_or_day_still_shows():
    record = {
        "image": "x:1",
        "kind": "app",
        "rules": [{"rule": "size", "passed": True, "measured": "1.0 MB", "limit": "200 MB"}],
    }
    text = shown(render.record_table(record))
    assert text.splitlines()[0].strip() == "x:1 (app image)" and "1.0 MB" in text


def test_the_accepted_risk_line():
    result = judged(replace(NODE20, size=300_000_000))
    assert render.accepted_risk_line(result.record()) == ""
    result.accepted_risk = "only base offline; replace in Q3"
    line = render.accepted_risk_line(result.record())
    assert line == "[yellow]risk accepted[/yellow] for size: only base offline; replace in Q3"
    assert shown(line) == "risk accepted for size: only base offline; replace in Q3\n"


def test_the_candidates_table():
    passing = Candidate.judged(NODE20, judged())
    big = replace(NODE20, ref="big:1", size=300_000_000)
    failing = Candidate.judged(big, judged(big))
    unscanned = replace(failing, image="unscanned:1", counts=None, lts_until="unknown")
    text = shown(render.candidates_table([passing, failing, unscanned]))
    assert text.splitlines()[0].strip() == "Base image candidates, best first"
    header = row(text, "Image")
    assert all(w in header for w in ("Size", "Critical", "High", "Medium", "Low", "Unspecified"))
    assert all(w in header for w in ("LTS until", "Verdict"))
    top = row(text, "node:20-alpine")
    assert "140.0 MB" in top and "2026-04-30" in top and "PASS" in top
    assert " 1 " in top and " 2 " in top and " 3 " in top
    assert "FAIL size" in row(text, "big:1")
    missing = row(text, "unscanned:1")
    assert missing.count(" - ") == 5 and "unknown" in missing
