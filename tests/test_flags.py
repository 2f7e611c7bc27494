"""Task flags parsed into values: dates and IMAGE=FILE pairs, with one-line refusals."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from airgapkit.errors import AirgapError
from airgapkit.flags import parse_day, parse_report_pairs


def test_a_day_flag():
    assert parse_day("2025-01-15") == date(2025, 1, 15)
    assert parse_day("") is None  # today, decided by whoever judges


@pytest.mark.parametrize("text", ["15/01/2025", "2025-13-01", "tomorrow"])
def test_a_bad_day_is_one_line_and_keeps_its_cause(text):
    with pytest.raises(AirgapError) as err:
        parse_day(text)
    assert str(err.value) == f"date {text!r} is not YYYY-MM-DD; write it like 2025-01-15"
    assert isinstance(err.value.__cause__, ValueError)


def test_report_pairs():
    assert parse_report_pairs(["node:20-alpine=trivy.json", "a@sha256:00=r/x=y.json"]) == {
        "node:20-alpine": Path("trivy.json"),
        "a@sha256:00": Path("r/x=y.json"),  # only the first "=" splits
    }
    assert parse_report_pairs([]) == {}


@pytest.mark.parametrize("item", ["trivy.json", "=trivy.json", "node:20-alpine="])
def test_a_bad_report_pair_is_one_line(item):
    with pytest.raises(AirgapError) as err:
        parse_report_pairs([item])
    assert str(err.value) == (
        f"--report {item!r} is not IMAGE=FILE; write e.g. --report node:20-alpine=trivy.json"
    )
