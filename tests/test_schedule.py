"""The Node.js release schedule: the packaged one, a user's newer one, phases and whole months."""

from __future__ import annotations

import json
from datetime import date

import pytest

from airgapkit.errors import AirgapError
from airgapkit.gate import rules
from airgapkit.gate.schedule import load_schedule, months_between


def test_packaged_schedule_holds_majors_14_to_26_with_upstream_dates():
    schedule = load_schedule()
    assert sorted(schedule) == list(range(14, 27))
    assert schedule[20].codename == "Iron"
    assert (schedule[20].lts, schedule[20].maintenance, schedule[20].end) == (
        date(2023, 10, 24),
        date(2024, 10, 22),
        date(2026, 4, 30),
    )
    assert schedule[21].lts is None and schedule[21].end == date(2024, 6, 1)
    assert schedule[22].end == date(2027, 4, 30) and schedule[24].codename == "Krypton"


def test_a_user_schedule_in_upstream_format_replaces_the_packaged_one(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text(
        json.dumps(
            {
                "v0.12": {"start": "2015-02-06", "end": "2016-12-31"},
                "v28": {
                    "start": "2027-04-20",
                    "lts": "2027-10-26",
                    "maintenance": "2028-10-17",
                    "end": "2030-04-30",
                    "codename": "",
                },
            }
        )
    )
    schedule = load_schedule(path)
    assert list(schedule) == [28] and schedule[28].end == date(2030, 4, 30)
    result = rules.rule_node_lts("28.0.0", "NODE_VERSION", schedule, 6, date(2028, 1, 1))
    assert result.passed


def test_a_user_schedule_in_airgapkit_format(tmp_path):
    path = tmp_path / "releases.json"
    row = {
        "major": 30,
        "start": "2029-04-20",
        "lts": None,
        "maintenance": None,
        "end": "2032-04-30",
    }
    path.write_text(json.dumps({"releases": [row]}))
    assert load_schedule(path)[30].codename == ""


def test_a_missing_schedule_file_names_it_and_keeps_the_cause(tmp_path):
    with pytest.raises(AirgapError, match="nope.json does not exist; fix policy.schedule") as err:
        load_schedule(tmp_path / "nope.json")
    assert isinstance(err.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize("text", ["{not json", "{}", '{"releases": [{"major": 20}]}'])
def test_an_unreadable_schedule_is_one_line(tmp_path, text):
    path = tmp_path / "schedule.json"
    path.write_text(text)
    with pytest.raises(AirgapError, match="is not readable") as err:
        load_schedule(path)
    assert "\n" not in str(err.value) and err.value.__cause__ is not None


def test_months_between():
    assert months_between(date(2025, 1, 15), date(2026, 4, 30)) == 15
    assert months_between(date(2026, 12, 1), date(2027, 4, 30)) == 4
    assert months_between(date(2027, 1, 31), date(2027, 4, 30)) == 2
    assert months_between(date(2026, 5, 1), date(2026, 4, 30)) == -1


@pytest.mark.parametrize(
    ("today", "phase"),
    [
        (date(2026, 5, 1), "Current, LTS from 2026-10-28"),
        (date(2026, 10, 28), "Active LTS"),
        (date(2027, 10, 20), "Maintenance LTS"),
    ],
)
def test_the_phase_of_a_release(today, phase):
    assert load_schedule()[26].phase(today) == phase


@pytest.mark.parametrize("text", ["[1]", '{"v20": 1}', '{"releases": [1]}', '{"releases": 1}'])
def test_a_schedule_of_the_wrong_shape_is_one_line(tmp_path, text):
    path = tmp_path / "schedule.json"
    path.write_text(text)
    with pytest.raises(AirgapError, match="is not readable"):
        load_schedule(path)
