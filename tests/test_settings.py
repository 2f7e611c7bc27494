"""settings.py: each flow's settings built one way, from configuration plus flags."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from invoke import Config

from airgapkit import tasks
from airgapkit.config import DEFAULTS
from airgapkit.errors import AirgapError
from airgapkit.ports import PortMapping, Ports
from airgapkit.settings import (
    Crossing,
    Gate,
    Incoming,
    Outgoing,
    Places,
    Smoke,
    Target,
    config_ports,
    history_of,
)

CFG = DEFAULTS["airgapkit"]


@pytest.fixture
def invoke_cfg():
    """The configuration as the tasks see it: Invoke's merged section, not a plain dict."""
    config = Config()
    config.load_defaults(DEFAULTS, merge=True)
    return config.airgapkit


def test_ports_are_parsed_once_from_the_flag_or_the_configuration():
    assert config_ports(CFG) == Ports.parse("8080:8080")
    assert config_ports(CFG, "127.0.0.1:9000:3000").app == PortMapping(3000, 9000, "127.0.0.1")
    with pytest.raises(AirgapError, match="port mapping 'abc' is malformed"):
        config_ports(CFG, "abc")


def test_a_protocol_or_a_second_mapping_no_longer_bends_the_container_port():
    cfg = {**CFG, "ports": "8080:8080/tcp,9090:9090"}
    assert Smoke.from_config(cfg).ports.container_port == 8080
    target = Target.from_config(cfg, env="prod", base_dir=Path("/srv"))
    assert target.ports.health_url("/health") == "http://127.0.0.1:8080/health"


def test_places_and_crossing_flags_override_configuration(tmp_path):
    assert Places.from_config(CFG) == Places(
        Path("dist"), Path("dist-hashes"), Path("dist-password")
    )
    given = tmp_path / "pw.txt"
    crossing = Crossing.from_config(
        CFG, hashes_dir=str(tmp_path / "h"), new_password_file=given, level=0
    )
    assert crossing.places.hashes_dir == tmp_path / "h" and crossing.places.out_dir == Path("dist")
    assert crossing.level == 0 and crossing.password_file == given
    assert not crossing.allow_weak_password
    assert Crossing.from_config({**CFG, "compression": 3}).level == 3  # level -1: as configured
    assert Crossing.from_config(CFG).password_file is None  # none given: one is generated


def test_gate_copies_the_policy_and_takes_the_report_and_risk(invoke_cfg):
    gate = Gate.from_config(invoke_cfg, report="r.json", accept_risk="known")
    assert gate == Gate(dict(CFG["policy"]), Path("r.json"), "known")
    assert Gate.from_config(invoke_cfg).report is None


def test_incoming_comes_from_flags_alone(tmp_path):
    given = str(tmp_path / "pw.txt")
    assert Incoming.from_flags("b.zip") == Incoming(Path("b.zip"))
    assert Incoming.from_flags("b.zip", sums="b.sha256", password_file=given) == Incoming(
        Path("b.zip"), Path("b.sha256"), Path(given)
    )


def test_smoke_takes_the_configured_health_and_an_env_file(invoke_cfg):
    smoke = Smoke.from_config(invoke_cfg, env_file=".env.example")
    assert smoke == Smoke(
        Ports.parse("8080:8080"), "/health", 60, Path(".env.example"), Path("logs")
    )
    assert Smoke.from_config(invoke_cfg).env_file is None


def test_target_reads_env_files_from_its_folder(invoke_cfg, tmp_path):
    target = Target.from_config(
        invoke_cfg, env="prod", name="api", ports="9000:8080", base_dir=tmp_path
    )
    assert target.environment == "prod" and target.name == "api"
    assert target.environments["prod"] == ".env.prod" and isinstance(target.environments, dict)
    assert target.env_example == tmp_path / ".env.example" and target.base_dir == tmp_path
    assert target.ports == Ports.parse("9000:8080")
    assert (target.health_path, target.health_timeout) == ("/health", 60)
    assert target.log_dir == tmp_path / "logs"  # beside the env files, like them


def test_target_defaults_to_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    target = Target.from_config(CFG, env="dev")
    assert target.base_dir == tmp_path and target.env_example == tmp_path / ".env.example"


def test_export_and_release_take_every_crossing_flag_and_build_them_alike(invoke_cfg):
    for task in (tasks.export, tasks.release):
        parameters = inspect.signature(task.body).parameters
        taken = Outgoing.flags(omit=("app_report",))
        assert set(taken) <= set(parameters), task.name
        defaults = {name: parameters[name].default for name in taken}
        outgoing = Outgoing.from_config(invoke_cfg, **defaults)
        assert outgoing.crossing == Crossing.from_config(invoke_cfg)
        assert outgoing.gate == Gate.from_config(invoke_cfg)


def test_flags_override_only_when_given():
    configured = {**CFG, "policy": {"max_size_mb": 200, "min_support_months": 6}}
    limits = Gate.from_config(configured, max_size_mb=None, min_support_months="").limits
    assert limits == configured["policy"]
    assert Gate.from_config(configured, max_size_mb="150", min_support_months=None).limits == {
        "max_size_mb": "150",
        "min_support_months": 6,
    }
    assert configured["policy"]["max_size_mb"] == 200  # the configuration itself is left alone


def test_the_history_setting_names_the_file_and_empty_keeps_none(tmp_path):
    assert history_of({"history": ""}) is None
    assert history_of({"history": str(tmp_path / "h.jsonl")}).path == tmp_path / "h.jsonl"
