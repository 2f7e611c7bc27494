"""An environment as the configuration describes it: its env file, and where and how the app runs.

``airgapkit.environments`` maps a name to either an env file (the plain form: the app runs in one
container on this engine) or a mapping::

    prod:
      env_file: .env.prod
      target: swarm                    # engine (one container, the default) or swarm
      registry:
        address: registry.internal:5000
        ca_file: /etc/airgapkit/registry-ca.crt
        username: deploy
        password_file: /etc/airgapkit/registry.password   # or password_env: REGISTRY_PASSWORD
      replicas: 3
      publish_mode: ingress            # ingress, host, or none (reached through networks only)
      update: {parallelism: 1, delay: 10, order: start-first, monitor: 30}
      placement: ["node.role == worker"]
      secrets: [DB_PASSWORD]

A stack (the app folder's ``compose.yaml``, docs/stacks.md) goes to ``target: compose`` (one engine,
Docker Compose v2) or ``target: stack`` (Docker Swarm); both take ``project`` (the Compose project
or Swarm stack name, default ``<app>-<environment>``), a stack also ``registry``, ``update``,
``secrets`` and ``rollout_timeout``; each service's own settings stay in ``compose.yaml``.

Every bad value is named on a line of its own (``airgapkit.environments.prod.replicas: ...``), all
of them at once, so one edit of ``invoke.yaml`` fixes them all. A registry password comes from a
variable or a file, never from the configuration or a flag, and is read only when it is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .config import DEFAULT_ENVIRONMENTS
from .configreader import (
    Reader,
    choice,
    each,
    file,
    known,
    mapping,
    name,
    number,
    of_type,
    setting,
    text,
    texts,
)
from .errors import AirgapError
from .ports import is_loopback_host

TARGETS = ("engine", "swarm", "compose", "stack")
STACK_TARGETS = ("compose", "stack")  # a Compose file of several services (docs/stacks.md)
PUBLISH_MODES = ("ingress", "host", "none")
ENDPOINT_MODES = ("vip", "dnsrr")
ORDERS = ("start-first", "stop-first")
DEFAULT_PASSWORD_VAR = "AIRGAPKIT_REGISTRY_PASSWORD"  # noqa: S105 - a variable's name
_PREFIX = "airgapkit.environments"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")  # a service or network name
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # what Compose takes as a project name
_HOST = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::(?P<port>\d{1,5}))?$"
)


class EnvironmentConfigError(AirgapError):
    """An environment's configuration has bad values; the message has one line for each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _variable(reader, key, value, default):
    if value and (not isinstance(value, str) or not _KEY.match(value)):
        reader.bad(key, "write the name of a variable, e.g. REGISTRY_PASSWORD")
        return ""
    return value


def _address(reader, key, value, default):
    found = _HOST.match(value) if isinstance(value, str) else None
    host = found.group("host") if found else ""
    port = found.group("port") if found else None
    if not found or (port is not None and not 0 < int(port) < 65536):
        reader.bad(key, f"{value!r} is not host:port, e.g. registry.internal:5000")
        return ""
    if "." not in host and ":" not in value and host != "localhost":
        # docker would read registry/app:1 as a repository on the public hub
        reader.bad(
            key,
            f"{value!r} would be read as a Docker Hub namespace; add the port or the "
            "domain, e.g. registry.internal:5000",
        )
        return ""
    return value


def _registry(reader, key, value, default):
    if value is None:
        return None
    if isinstance(value, str):
        value = {"address": value}
    if not isinstance(value, Mapping):
        reader.bad(key, "write host:port, or a mapping with address, ca_file, ...")
        return None
    read = reader.fields(Registry, dict(value), f"{key}.")
    Registry.combinations(reader, read)
    return Registry(**read) if read["address"] else None


# --- the parts of an environment -------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """The registry inside the gap that every swarm node pulls from.

    Holds where the password is, never the password: ``auth_config()`` reads it when it is needed.
    """

    address: str = setting(None, _address)  # host:port, as image references start
    ca_file: Path | None = setting(None, file)
    insecure: bool = setting(False, of_type(bool, "true or false"))  # plain HTTP: loopback only
    username: str = setting("", of_type(str, "a user name"))
    password_env: str = setting("", _variable)
    password_file: Path | None = setting(None, file)

    @property
    def host(self) -> str:
        return _HOST.match(self.address).group("host").strip("[]")

    @staticmethod
    def combinations(reader, read: dict) -> None:
        """Values that are each fine but not together (``read``: the registry's, as read)."""
        address, insecure = read["address"], read["insecure"]
        if insecure and address and not is_loopback_host(_HOST.match(address).group("host")):
            reader.bad(
                "registry.insecure",
                f"plain HTTP is allowed for a loopback registry only, not {address}; "
                "give the registry a certificate from the network's CA and set ca_file",
            )
        if read["ca_file"] and insecure:
            reader.bad("registry.ca_file", "a CA file and insecure exclude each other; keep one")
        if read["password_env"] and read["password_file"]:
            reader.bad("registry.password_file", "password_env and password_file: keep one")
        if (read["password_env"] or read["password_file"]) and not read["username"]:
            reader.bad("registry.username", "a password source is set but no username; add it")

    def auth_config(self) -> dict | None:
        """The docker SDK's ``auth_config`` for this registry, or None when no user is configured
        (the engine then uses what ``docker login`` stored, if anything)."""
        if not self.username:
            return None
        return {
            "username": self.username,
            "password": self._password(),
            "serveraddress": self.address,
        }

    def _password(self) -> str:
        if self.password_file:
            try:
                text = Path(self.password_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise AirgapError(
                    f"registry password file {self.password_file} cannot be read "
                    f"({exc.strerror or exc}); check its path and owner"
                ) from exc
            password = text.rstrip("\r\n")
            where = f"file {self.password_file}"
        else:
            var = self.password_env or DEFAULT_PASSWORD_VAR
            password = os.environ.get(var, "")
            where = f"variable {var}"
        if not password:
            raise AirgapError(
                f"no password for registry user {self.username} at {self.address}: {where} is "
                f"empty or unset; set it (the password never goes in invoke.yaml or a flag)"
            )
        return password


@dataclass(frozen=True)
class Update:
    """How Swarm replaces tasks: how many at once, the pause between batches, which goes first,
    and how long it watches each new task before it counts the batch as good (seconds)."""

    parallelism: int = setting(1, number(int, 0))
    delay: float = setting(10.0, number(float, 0))
    order: str = setting("start-first", choice(ORDERS))
    monitor: float = setting(30.0, number(float, 0))


@dataclass(frozen=True)
class Health:
    """The health check Swarm runs in every task (seconds), on the app's health path."""

    interval: float = setting(10.0, number(float, 0.001))
    timeout: float = setting(5.0, number(float, 0.001))
    retries: int = setting(3, number(int, 1))
    start_period: float = setting(30.0, number(float, 0))


@dataclass(frozen=True)
class Environment:
    """One environment: its env file and where the app runs there. Every field but ``name`` is a
    key of its mapping in the configuration, read as its ``setting`` says."""

    name: str
    env_file: str = setting("", text)  # read with the default .env.<name>
    target: str = setting("engine", choice(TARGETS))
    registry: Registry | None = setting(None, _registry)
    # the Swarm service's name; empty: the app's container name
    service: str = setting(
        "", name(_NAME, "a service name (letters, digits, '_', '.', '-')", longest=63)
    )
    replicas: int = setting(1, number(int, 1))
    publish_mode: str = setting("ingress", choice(PUBLISH_MODES))
    endpoint_mode: str = setting("vip", choice(ENDPOINT_MODES))
    networks: tuple[str, ...] = setting(
        (), each(_NAME, "a network name (letters, digits, '_', '.', '-')")
    )
    update: Update = setting(Update(), mapping(Update))
    placement: tuple[str, ...] = setting((), texts)
    # env keys that go in as Swarm secrets besides the marked ones
    secrets: tuple[str, ...] = setting((), each(_KEY, "an env file key (letters, digits, '_')"))
    health: Health = setting(Health(), mapping(Health))
    rollout_timeout: float = setting(600.0, number(float, 1))  # seconds for every new task
    # a stack's Compose project or Swarm stack name; empty: <app>-<environment>
    project: str = setting(
        "", name(_PROJECT, "a project name (lower-case letters, digits, '_', '-')")
    )

    @property
    def is_swarm(self) -> bool:
        return self.target == "swarm"

    @property
    def is_stack(self) -> bool:
        return self.target in STACK_TARGETS


_KEYS = set(known(Environment))  # an environment's keys: its fields but its name
_SWARM_ONLY = _KEYS - {"env_file", "target", "registry", "project"}
_TARGET_KEYS = {  # the keys each target takes besides env_file and target
    "engine": {"registry"},  # inv push
    "swarm": _SWARM_ONLY | {"registry"},
    "compose": {"project", "registry"},
    "stack": {"project", "registry", "update", "secrets", "rollout_timeout"},
}


# --- reading the configuration ---------------------------------------------------------------------


def configured(environments: Mapping) -> dict:
    """The configured environments over the default ones (``config.DEFAULT_ENVIRONMENTS``)."""
    return {**DEFAULT_ENVIRONMENTS, **_plain(environments or {})}


def env_files(environments: Mapping) -> dict[str, str]:
    """Name -> env file for every environment, whichever form each is written in.

    The plain form and the mapping form side by side: what ``envfiles.resolve`` takes.
    """
    environments = configured(environments)
    return {name: str(parse(name, value).env_file) for name, value in environments.items()}


def get(name: str, environments: Mapping, base_dir: Path = Path()) -> Environment:
    """The environment called ``name``, validated; relative file paths taken from ``base_dir``."""
    environments = configured(environments)
    if name not in environments:
        names = ", ".join(environments) or "none"
        raise AirgapError(
            f"unknown environment {name!r} (configured: {names}); use one of those or add "
            f"it to invoke.yaml under {_PREFIX}, e.g. {name}: .env.{name}"
        )
    return parse(name, environments[name], base_dir)


def parse(name: str, value, base_dir: Path = Path()) -> Environment:
    """An environment from its configuration value: an env file name, or a mapping."""
    value = _plain(value)
    if isinstance(value, (str, os.PathLike)):
        if not str(value).strip():
            raise EnvironmentConfigError([f"{_PREFIX}.{name}: empty; name its env file"])
        return Environment(name=name, env_file=str(value))
    if not isinstance(value, Mapping):
        raise EnvironmentConfigError(
            [f"{_PREFIX}.{name}: write an env file name or a mapping with env_file, target, ..."]
        )
    reader = _Reader(f"{_PREFIX}.{name}", Path(base_dir))
    environment = reader.environment(name, dict(value))
    if reader.problems:
        raise EnvironmentConfigError(reader.problems)
    return environment


class _Reader(Reader):
    """Reads one environment's mapping: its target first, then every key by its record."""

    def unknown_key(self, key: str, declared: set) -> None:
        if key != "registry.password":
            super().unknown_key(key, declared)
            return
        self.bad(
            key,
            "a password does not belong in the configuration; "
            "use password_env (a variable's name) or password_file",
        )

    def environment(self, name: str, raw: dict) -> Environment:
        """The target first: it says which keys belong (each other one is named), then the rest."""
        self.unknown(raw, _KEYS, "")
        target = self.field(_TARGET, raw, "", "engine")
        for key in sorted((_KEYS - {"env_file", "target"} - _TARGET_KEYS[target]) & set(raw)):
            self.bad(key, _not_for(key, target))
        read = self.fields(Environment, raw, defaults=_env_file(name), read={"target": target})
        env = Environment(name=name, **read)
        self.combinations(env, raw)
        return env

    def combinations(self, env: Environment, raw: dict) -> None:
        """Values that are each fine but not together."""
        if env.target in ("swarm", "stack") and env.registry is None and "registry" not in raw:
            self.bad(
                "registry",
                "a swarm pulls from a registry; set registry: host:port (the one inside the gap)",
            )
        if env.publish_mode == "ingress" and env.endpoint_mode == "dnsrr":
            self.bad(
                "endpoint_mode",
                "dnsrr cannot publish through the ingress mesh; use publish_mode host or none",
            )
        if env.publish_mode == "host" and env.update.order == "start-first":
            self.bad(
                "update.order",
                "start-first cannot start a task beside the old one when both bind the node's "
                "port (publish_mode host); use stop-first",
            )


def _env_file(name: str) -> dict:
    return {"env_file": f".env.{name}"}


_TARGET = next(f for f in fields(Environment) if f.name == "target")


def _not_for(key: str, target: str) -> str:
    """Why ``key`` does not belong to an environment of ``target``, and what to do instead."""
    if target in STACK_TARGETS and key in _SWARM_ONLY:
        return "applies to target swarm only; a stack sets it per service in compose.yaml (deploy:)"
    if key == "project":
        return "applies to targets compose and stack only; remove it"
    return "applies to target swarm only; set target: swarm or remove it"


def _plain(value):
    """Plain dicts and lists from Invoke's configuration proxies (which are no ``Mapping``)."""
    if isinstance(value, (str, bytes, os.PathLike)):
        return value
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return {key: _plain(value[key]) for key in value.keys()}  # noqa: SIM118 - proxies
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
