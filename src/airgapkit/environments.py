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
from dataclasses import dataclass, field
from pathlib import Path

from .config import DEFAULT_ENVIRONMENTS
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
_KEYS = {
    "env_file", "target", "registry", "service", "replicas", "publish_mode", "endpoint_mode",
    "networks", "update", "placement", "secrets", "health", "rollout_timeout", "project",
}  # fmt: skip
_SWARM_ONLY = _KEYS - {"env_file", "target", "registry", "project"}
_TARGET_KEYS = {  # the keys each target takes besides env_file and target
    "engine": {"registry"},  # inv push
    "swarm": _SWARM_ONLY | {"registry"},
    "compose": {"project", "registry"},
    "stack": {"project", "registry", "update", "secrets", "rollout_timeout"},
}
_REGISTRY_KEYS = {"address", "ca_file", "insecure", "username", "password_env", "password_file"}
_UPDATE_KEYS = {"parallelism", "delay", "order", "monitor"}
_HEALTH_KEYS = {"interval", "timeout", "retries", "start_period"}


class EnvironmentConfigError(AirgapError):
    """An environment's configuration has bad values; the message has one line for each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- the parts of an environment -------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """The registry inside the gap that every swarm node pulls from.

    Holds where the password is, never the password: ``auth_config()`` reads it when it is needed.
    """

    address: str  # host:port, as image references start
    ca_file: Path | None = None
    insecure: bool = False  # plain HTTP: loopback only
    username: str = ""
    password_env: str = ""
    password_file: Path | None = None

    @property
    def host(self) -> str:
        return _HOST.match(self.address).group("host").strip("[]")

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

    parallelism: int = 1
    delay: float = 10.0
    order: str = "start-first"
    monitor: float = 30.0


@dataclass(frozen=True)
class Health:
    """The health check Swarm runs in every task (seconds), on the app's health path."""

    interval: float = 10.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 30.0


@dataclass(frozen=True)
class Environment:
    """One environment: its env file and where the app runs there."""

    name: str
    env_file: str
    target: str = "engine"
    registry: Registry | None = None
    service: str = ""  # the Swarm service's name; empty: the app's container name
    replicas: int = 1
    publish_mode: str = "ingress"
    endpoint_mode: str = "vip"
    networks: tuple[str, ...] = ()
    update: Update = field(default_factory=Update)
    placement: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()  # env keys that go in as Swarm secrets besides the marked ones
    health: Health = field(default_factory=Health)
    rollout_timeout: float = 600.0  # seconds a deploy waits for every new task to run healthy
    project: str = ""  # a stack's Compose project or Swarm stack name; empty: <app>-<environment>

    @property
    def is_swarm(self) -> bool:
        return self.target == "swarm"

    @property
    def is_stack(self) -> bool:
        return self.target in STACK_TARGETS


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
    reader = _Reader(f"{_PREFIX}.{name}", dict(value), Path(base_dir))
    environment = reader.environment(name)
    if reader.problems:
        raise EnvironmentConfigError(reader.problems)
    return environment


class _Reader:
    """Reads one mapping, collecting one line per bad value instead of stopping at the first."""

    def __init__(self, where: str, raw: dict, base_dir: Path):
        self.where, self.raw, self.base_dir = where, raw, base_dir
        self.problems: list[str] = []

    def bad(self, key: str, text: str) -> None:
        self.problems.append(f"{self.where}.{key}: {text}")

    def environment(self, name: str) -> Environment:
        self.unknown(self.raw, _KEYS, "")
        target = self.choice(self.raw, "target", TARGETS, "engine")
        for key in sorted((_KEYS - {"env_file", "target"} - _TARGET_KEYS[target]) & set(self.raw)):
            self.bad(key, _not_for(key, target))
        env = Environment(
            name=name,
            env_file=self.text(self.raw, "env_file", f".env.{name}"),
            target=target,
            registry=self.registry(self.raw.get("registry")),
            service=self.service_name(),
            replicas=self.number(self.raw, "replicas", 1, int, minimum=1),
            publish_mode=self.choice(self.raw, "publish_mode", PUBLISH_MODES, "ingress"),
            endpoint_mode=self.choice(self.raw, "endpoint_mode", ENDPOINT_MODES, "vip"),
            networks=self.names("networks"),
            update=self.update(),
            placement=self.strings("placement"),
            secrets=self.secret_keys(),
            health=self.health(),
            rollout_timeout=self.number(self.raw, "rollout_timeout", 600.0, float, minimum=1),
            project=self.project_name(),
        )
        self.combinations(env)
        return env

    # one value each

    def unknown(self, raw: dict, known: set, prefix: str) -> None:
        for key in sorted(set(raw) - known, key=str):
            if key == "password" and prefix == "registry.":
                self.bad(
                    "registry.password",
                    "a password does not belong in the configuration; "
                    "use password_env (a variable's name) or password_file",
                )
            else:
                self.bad(f"{prefix}{key}", f"unknown key; known: {', '.join(sorted(known))}")

    def text(self, raw: dict, key: str, default: str, prefix: str = "") -> str:
        value = raw.get(key, default)
        if value is None or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            self.bad(f"{prefix}{key}", f"{value!r} is not a name; write one, e.g. {default!r}")
            return default
        return str(value).strip()

    def choice(self, raw: dict, key: str, choices: tuple, default: str, prefix: str = "") -> str:
        value = raw.get(key, default)
        if value not in choices:
            self.bad(f"{prefix}{key}", f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def number(self, raw, key, default, kind, *, minimum, prefix: str = ""):
        value = raw.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and kind is int:
            ok = float(value).is_integer()
        if not ok or value < minimum:
            whole = "a whole number" if kind is int else "a number"
            self.bad(f"{prefix}{key}", f"{value!r} is not {whole} of {minimum} or more")
            return default
        return kind(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            self.bad(key, f'{value!r} is not a list of texts; write e.g. ["node.role == worker"]')
            return ()
        return tuple(v.strip() for v in value)

    def names(self, key: str) -> tuple[str, ...]:
        names = self.strings(key)
        for name in names:
            if not _NAME.match(name):
                self.bad(key, f"{name!r} is not a network name (letters, digits, '_', '.', '-')")
        return names

    def service_name(self) -> str:
        name = self.raw.get("service", "")
        if name and (not isinstance(name, str) or not _NAME.match(name) or len(name) > 63):
            self.bad("service", f"{name!r} is not a service name (letters, digits, '_', '.', '-')")
            return ""
        return name

    def project_name(self) -> str:
        name = self.raw.get("project", "")
        if name and (not isinstance(name, str) or not _PROJECT.match(name)):
            self.bad(
                "project", f"{name!r} is not a project name (lower-case letters, digits, '_', '-')"
            )
            return ""
        return name

    def secret_keys(self) -> tuple[str, ...]:
        keys = self.strings("secrets")
        for key in keys:
            if not _KEY.match(key):
                self.bad("secrets", f"{key!r} is not an env file key (letters, digits, '_')")
        return keys

    def sub(self, key: str, known: set) -> dict:
        value = self.raw.get(key, {})
        if not isinstance(value, Mapping):
            self.bad(key, f"write a mapping with {', '.join(sorted(known))}")
            return {}
        self.unknown(dict(value), known, f"{key}.")
        return dict(value)

    def update(self) -> Update:
        raw, p = self.sub("update", _UPDATE_KEYS), "update."
        return Update(
            parallelism=self.number(raw, "parallelism", 1, int, minimum=0, prefix=p),
            delay=self.number(raw, "delay", 10.0, float, minimum=0, prefix=p),
            order=self.choice(raw, "order", ORDERS, "start-first", prefix=p),
            monitor=self.number(raw, "monitor", 30.0, float, minimum=0, prefix=p),
        )

    def health(self) -> Health:
        raw, p = self.sub("health", _HEALTH_KEYS), "health."
        return Health(
            interval=self.number(raw, "interval", 10.0, float, minimum=0.001, prefix=p),
            timeout=self.number(raw, "timeout", 5.0, float, minimum=0.001, prefix=p),
            retries=self.number(raw, "retries", 3, int, minimum=1, prefix=p),
            start_period=self.number(raw, "start_period", 30.0, float, minimum=0, prefix=p),
        )

    def registry(self, value) -> Registry | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = {"address": value}
        if not isinstance(value, Mapping):
            self.bad("registry", "write host:port, or a mapping with address, ca_file, ...")
            return None
        raw = dict(value)
        self.unknown(raw, _REGISTRY_KEYS, "registry.")
        address = self.registry_address(raw.get("address"))
        insecure = raw.get("insecure", False)
        if not isinstance(insecure, bool):
            self.bad("registry.insecure", f"{insecure!r} is not true or false")
            insecure = False
        if insecure and address and not is_loopback_host(_HOST.match(address).group("host")):
            self.bad(
                "registry.insecure",
                f"plain HTTP is allowed for a loopback registry only, not {address}; "
                "give the registry a certificate from the network's CA and set ca_file",
            )
        ca_file = self.path(raw, "ca_file")
        if ca_file and insecure:
            self.bad("registry.ca_file", "a CA file and insecure exclude each other; keep one")
        username = raw.get("username", "")
        if not isinstance(username, str):
            self.bad("registry.username", f"{username!r} is not a user name")
            username = ""
        password_env = raw.get("password_env", "")
        if password_env and (not isinstance(password_env, str) or not _KEY.match(password_env)):
            self.bad(
                "registry.password_env", "write the name of a variable, e.g. REGISTRY_PASSWORD"
            )
            password_env = ""
        password_file = self.path(raw, "password_file")
        if password_env and password_file:
            self.bad("registry.password_file", "password_env and password_file: keep one")
        if (password_env or password_file) and not username:
            self.bad("registry.username", "a password source is set but no username; add it")
        if not address:
            return None
        return Registry(address, ca_file, insecure, username, password_env, password_file)

    def registry_address(self, address) -> str:
        found = _HOST.match(address) if isinstance(address, str) else None
        host = found.group("host") if found else ""
        port = found.group("port") if found else None
        if not found or (port is not None and not 0 < int(port) < 65536):
            self.bad(
                "registry.address", f"{address!r} is not host:port, e.g. registry.internal:5000"
            )
            return ""
        if "." not in host and ":" not in address and host != "localhost":
            # docker would read registry/app:1 as a repository on the public hub
            self.bad(
                "registry.address",
                f"{address!r} would be read as a Docker Hub namespace; add the port or the "
                "domain, e.g. registry.internal:5000",
            )
            return ""
        return address

    def path(self, raw: dict, key: str) -> Path | None:
        value = raw.get(key)
        if value in (None, ""):
            return None
        path = self.base_dir / Path(str(value)).expanduser()
        if not path.is_file():
            self.bad(f"registry.{key}", f"{path} is not a file; check the path")
            return None
        return path

    # values that are each fine but not together

    def combinations(self, env: Environment) -> None:
        if env.target in ("swarm", "stack") and env.registry is None and "registry" not in self.raw:
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
