"""environments: both forms of an environment, one line per bad value, credentials never held."""

from __future__ import annotations

import pytest

from airgapkit import environments
from airgapkit.environments import EnvironmentConfigError
from airgapkit.errors import AirgapError


def test_the_plain_form_is_an_env_file_on_this_engine():
    env = environments.get("prod", {"prod": ".env.prod"})
    assert (env.env_file, env.target, env.registry) == (".env.prod", "engine", None)


def test_the_mapping_form_reads_every_setting(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = environments.parse(
        "prod",
        {
            "target": "swarm",
            "registry": {"address": "registry.internal:5000", "ca_file": "ca.crt"},
            "replicas": 3,
            "publish_mode": "host",
            "update": {"parallelism": 2, "delay": 5, "order": "stop-first", "monitor": 15},
            "placement": ["node.role == worker"],
            "secrets": ["SESSION_SEED"],
            "health": {"interval": 1, "retries": 2},
        },
        tmp_path,
    )
    assert env.env_file == ".env.prod"  # the default for a mapping without env_file
    assert env.is_swarm and env.replicas == 3 and env.publish_mode == "host"
    assert env.registry.address == "registry.internal:5000" and env.registry.ca_file == ca
    assert (env.update.parallelism, env.update.delay, env.update.order) == (2, 5.0, "stop-first")
    assert env.placement == ("node.role == worker",) and env.secrets == ("SESSION_SEED",)
    assert (env.health.interval, env.health.retries, env.health.timeout) == (1.0, 2, 5.0)


def test_env_files_maps_both_forms_to_their_file():
    mixed = {"qa": ".env.qa", "prod": {"env_file": "prod/.env", "target": "engine"}}
    assert environments.env_files(mixed) == {
        "dev": ".env.dev", "test": ".env.test", "pre-prod": ".env.pre-prod",  # the defaults
        "prod": "prod/.env", "qa": ".env.qa",
    }  # fmt: skip


def test_every_bad_value_gets_a_line_of_its_own():
    with pytest.raises(EnvironmentConfigError) as caught:
        environments.parse(
            "prod",
            {
                "target": "swarm",
                "registry": "registry.internal:5000",
                "replicas": 0,
                "publish_mode": "mesh",
                "update": {"order": "sideways", "paralelism": 2},
            },
        )
    lines = str(caught.value).splitlines()
    assert lines == caught.value.problems
    assert len(lines) == 4, lines
    assert any(line.startswith("airgapkit.environments.prod.replicas: 0 ") for line in lines)
    assert any("publish_mode: 'mesh' is not one of ingress, host, none" in line for line in lines)
    assert any("update.order: 'sideways'" in line for line in lines)
    assert any("update.paralelism: unknown key" in line for line in lines)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"target": "kubernetes"}, "target: 'kubernetes' is not one of engine, swarm"),
        ({"replicas": 3}, "replicas: applies to target swarm only"),
        ({"target": "swarm"}, "registry: a swarm pulls from a registry"),
        ({"target": "swarm", "registry": "registry"}, "would be read as a Docker Hub namespace"),
        ({"target": "swarm", "registry": "reg.internal:99999"}, "is not host:port"),
        (
            {"target": "swarm", "registry": "r.internal:5000", "replicas": True},
            "replicas: True is not a whole number",
        ),
        (
            {"target": "swarm", "registry": "r.internal:5000", "publish_mode": "host"},
            "update.order: start-first cannot start a task beside the old one",
        ),
        (
            {"target": "swarm", "registry": "r.internal:5000", "endpoint_mode": "dnsrr"},
            "dnsrr cannot publish through the ingress mesh",
        ),
        ({"registry": {"address": "10.1.2.3:5000", "insecure": True}}, "loopback registry only"),
        ({"registry": {"address": "r.internal:5000", "ca_file": "nope.crt"}}, "is not a file"),
        ({"registry": {"address": "r.internal:5000", "password": "x"}}, "does not belong"),
        ({"registry": {"address": "r.internal:5000", "password_env": "P"}}, "no username"),
        ({"target": "swarm", "registry": "r.internal:5000", "secrets": ["A-B"]}, "not an env"),
    ],
)
def test_a_bad_value_is_named_with_what_to_do(raw, says, tmp_path):
    with pytest.raises(EnvironmentConfigError, match=None) as caught:
        environments.parse("prod", raw, tmp_path)
    assert says in str(caught.value)


def test_a_configured_password_value_is_never_repeated():
    with pytest.raises(EnvironmentConfigError) as caught:
        environments.parse(
            "prod", {"registry": {"address": "r.internal:5000", "password": "s3cr3t"}}
        )
    assert "s3cr3t" not in str(caught.value)


def test_insecure_is_allowed_for_loopback():
    for address in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        env = environments.parse("t", {"registry": {"address": address, "insecure": True}})
        assert env.registry.insecure


def test_unknown_environment_names_the_configured_ones():
    with pytest.raises(
        AirgapError,
        match=r"unknown environment 'qa' \(configured: dev, test, pre-prod, prod, uat\)",
    ):
        environments.get("qa", {"uat": ".env.uat"})


def test_credentials_come_from_a_variable_when_used(monkeypatch):
    env = environments.parse(
        "prod", {"registry": {"address": "r.internal:5000", "username": "deploy"}}
    )
    monkeypatch.delenv("AIRGAPKIT_REGISTRY_PASSWORD", raising=False)
    with pytest.raises(AirgapError, match="variable AIRGAPKIT_REGISTRY_PASSWORD is empty or unset"):
        env.registry.auth_config()
    monkeypatch.setenv("AIRGAPKIT_REGISTRY_PASSWORD", "from-the-variable")
    auth = env.registry.auth_config()
    assert auth == {
        "username": "deploy",
        "password": "from-the-variable",
        "serveraddress": "r.internal:5000",
    }
    assert "from-the-variable" not in repr(env)


def test_credentials_come_from_a_file(tmp_path):
    (tmp_path / "registry.password").write_text("from-the-file\n")
    registry = {
        "address": "r.internal:5000",
        "username": "deploy",
        "password_file": "registry.password",
    }
    env = environments.parse("prod", {"registry": registry}, tmp_path)
    assert env.registry.auth_config()["password"] == "from-the-file"  # noqa: S105


def test_no_username_means_the_engine_uses_what_docker_login_stored():
    env = environments.parse("prod", {"registry": "r.internal:5000"})
    assert env.registry.auth_config() is None


def test_a_mapping_replaces_a_default_environment_of_the_same_name():
    """Invoke cannot merge a mapping over a default string; the defaults are added in code."""
    from invoke import Config

    from airgapkit.config import DEFAULTS

    cfg = Config(
        defaults=DEFAULTS,
        overrides={
            "airgapkit": {"environments": {"prod": {"target": "engine", "env_file": "p.env"}}}
        },
    )
    assert environments.get("prod", cfg.airgapkit.environments).env_file == "p.env"
    assert environments.get("dev", cfg.airgapkit.environments).env_file == ".env.dev"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"target": "stack"}, "registry: a swarm pulls from a registry"),
        ({"target": "compose", "replicas": 2}, "replicas: applies to target swarm only; a stack"),
        ({"target": "compose", "update": {}}, "update: applies to target swarm only; a stack"),
        ({"target": "stack", "registry": "r.internal:5000", "networks": ["x"]}, "compose.yaml"),
        ({"project": "shop"}, "project: applies to targets compose and stack only"),
        ({"target": "compose", "project": "Shop Front"}, "is not a project name"),
    ],
)
def test_a_stack_environment_takes_its_own_keys_only(raw, says, tmp_path):
    with pytest.raises(EnvironmentConfigError) as caught:
        environments.parse("prod", raw, tmp_path)
    assert says in str(caught.value)


def test_a_stack_environment_reads_its_project_and_swarm_settings():
    env = environments.parse(
        "prod",
        {
            "target": "stack",
            "registry": "r.internal:5000",
            "project": "shop",
            "update": {"monitor": 5},
        },
    )
    assert env.is_stack and not env.is_swarm and env.project == "shop"
    assert env.update.monitor == 5 and env.registry.address == "r.internal:5000"
    assert environments.parse("test", {"target": "compose"}).is_stack
