"""A stack: the app folder's Compose file, read, checked and written again with its images pinned.

The file is the Compose Specification's ``compose.yaml``. The service with ``build:`` (or the one
``stack.app_service`` names) is the app: airgapkit builds it offline on the dev side; every other
service names an ``image:`` that travels in the bundle. What this module refuses, one line each,
before anything crosses or changes (``ComposeError``):

- a file that does not parse, or is no mapping of ``services``;
- a service without ``image:``, a ``build:`` on any service but the app, two ``build:`` services
  without ``stack.app_service``;
- what Swarm ignores, so the file would mean something else on a swarm than on one engine:
  ``container_name``, ``depends_on`` conditions, ``network_mode``, ``links``;
- ``extends`` and ``include`` (other files), and ``$VARIABLE`` interpolation (the deploying shell's
  variables: write ``$$`` for a literal dollar);
- an env file without its template: a service's ``env_file: kv.env`` has its contract in
  ``kv.env.example`` and, on the far side, its values in ``kv.env.<environment>``.

Everything else is Docker's to read: the deploy hands the file to ``docker compose`` or
``docker stack deploy``; nothing here interprets a service beyond the keys above.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from ..errors import AirgapError

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
IMAGE_LABEL = "org.airgapkit.image"  # the name an image pinned by ID or digest goes by
EXAMPLE_SUFFIX = ".example"  # kv.env -> kv.env.example, the contract of kv's env file
_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_TOP_KEYS = {"version", "name", "services", "networks", "volumes", "secrets", "configs"}
# $$ is a literal dollar; $NAME and ${...} are variables of whoever runs docker compose
_VARIABLE = re.compile(r"(?<!\$)(?:\$\$)*\$(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_SWARM_IGNORES = {
    "container_name": "Swarm names each task's container itself and ignores it; remove it and "
    "reach the service by its name",
    "network_mode": "Swarm ignores it and joins the stack's networks; use networks:",
    "links": "Swarm ignores links; services reach each other by service name on a shared network",
    "external_links": "Swarm ignores them; put both services on one network instead",
}
_REFUSED = {
    "extends": "it reads another file that does not travel; write the service out whole",
}


class ComposeError(AirgapError):
    """A Compose file airgapkit cannot carry or deploy; one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Stack:
    """A checked Compose file: its document, where it came from, and which service is the app."""

    doc: dict
    source: str  # the file's path (or a bundle member) for messages
    app_service: str

    @property
    def services(self) -> dict[str, dict]:
        return self.doc["services"]

    def others(self) -> dict[str, str]:
        """Every service but the app, with the image it names."""
        return {
            name: str(service["image"])
            for name, service in self.services.items()
            if name != self.app_service
        }

    def env_files(self, service: str) -> list[str]:
        """The env files a service names (relative paths, as written)."""
        return env_file_paths(self.services[service].get("env_file"))


def find(app_dir: Path, configured: str = "compose.yaml") -> Path | None:
    """The app folder's Compose file: the configured name, else the other names Compose reads."""
    for name in (configured, *COMPOSE_NAMES):
        if (Path(app_dir) / name).is_file():
            return Path(app_dir) / name
    return None


def load(path: Path, app_service: str = "") -> Stack:
    """Read and check a Compose file (see the module's description)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AirgapError(f"{path} cannot be read ({exc.strerror or exc}); check it") from exc
    return parse(data, str(path), app_service)


def parse(data: bytes, source: str, app_service: str = "") -> Stack:
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise ComposeError([f"{source} does not parse{where}: {problem}; fix the YAML"]) from exc
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("services"), dict)
        or not doc["services"]
    ):
        raise ComposeError([f"{source}: write a mapping with services: (one entry per service)"])
    checker = _Checker(source)
    app = checker.check(doc, app_service)
    if checker.problems:
        raise ComposeError(checker.problems)
    return Stack(doc, source, app)


class _Checker:
    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def bad(self, where: str, text: str) -> None:
        self.problems.append(f"{self.source}: {where}: {text}")

    def check(self, doc: dict, app_service: str) -> str:
        for key in doc:
            if key == "include":
                self.bad("include", "it reads other files that do not travel; write one file")
            elif key not in _TOP_KEYS and not str(key).startswith("x-"):
                self.bad(str(key), f"not a top-level key of the Compose Specification ({_known()})")
        services = doc["services"]
        for name, service in services.items():
            self.service(str(name), service)
        self.variables(doc, "")
        return self.app(services, app_service)

    def service(self, name: str, service) -> None:
        where = f"services.{name}"
        if not _SERVICE_NAME.match(name):
            self.bad(where, "not a service name (letters, digits, '_', '.', '-')")
        if not isinstance(service, dict):
            self.bad(where, "write a mapping (image:, environment:, ...)")
            return
        for key, why in {**_SWARM_IGNORES, **_REFUSED}.items():
            if key in service:
                self.bad(f"{where}.{key}", why)
        for other, condition in _conditions(service.get("depends_on")):
            self.bad(
                f"{where}.depends_on.{other}.condition",
                f"{condition}: Swarm ignores conditions and starts every service at once; "
                f"make {name} retry until {other} answers, and write depends_on: [{other}]",
            )
        for path in env_file_paths(service.get("env_file")):
            if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
                self.bad(f"{where}.env_file", f"{path}: name a file inside the app folder")

    def variables(self, value, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self.variables(item, f"{where}.{key}".lstrip("."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.variables(item, f"{where}[{index}]")
        elif isinstance(value, str) and (found := _VARIABLE.search(value)):
            self.bad(
                where,
                f"{found.group(0)} is a variable of whoever deploys, so the file would differ "
                "between machines; write the value (or put it in the env file; $$ is a dollar)",
            )

    def app(self, services: dict, app_service: str) -> str:
        built = [name for name, s in services.items() if isinstance(s, dict) and "build" in s]
        if app_service and app_service not in services:
            self.bad("stack.app_service", f"{app_service} is not a service of this file")
            return app_service
        if not app_service and len(built) > 1:
            self.bad(
                "services",
                f"{', '.join(built)} all have build:; name the app with "
                "stack.app_service (only the app is built, offline, on the dev side)",
            )
            return ""
        if not app_service and not built:
            self.bad(
                "services",
                "no service has build:; give the app's service build: . or "
                "name it with stack.app_service",
            )
            return ""
        app = app_service or built[0]
        for name, service in services.items():
            if name == app or not isinstance(service, dict):
                continue
            if "build" in service:
                self.bad(
                    f"services.{name}.build",
                    "only the app is built; a swarm ignores build: "
                    "and pulls image:, so give this service an image: and drop build:",
                )
            elif not isinstance(service.get("image"), str) or not service["image"].strip():
                self.bad(f"services.{name}", "names no image:; every service but the app needs one")
        return app


def _known() -> str:
    return ", ".join(sorted(_TOP_KEYS)) + ", x-*"


def _conditions(depends_on) -> list[tuple[str, str]]:
    """``depends_on`` entries whose condition is more than "started" (which Swarm cannot keep)."""
    if not isinstance(depends_on, dict):
        return []
    found = []
    for other, spec in depends_on.items():
        condition = spec.get("condition", "service_started") if isinstance(spec, dict) else None
        if condition not in (None, "service_started"):
            found.append((str(other), str(condition)))
    return found


def env_file_paths(value) -> list[str]:
    """``env_file`` as its paths: a string, a list of strings, or a list of ``{path: ...}``."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(item["path"] if isinstance(item, dict) else item) for item in items]


def example_of(env_file: str) -> str:
    """The template (the contract) of an env file: ``kv.env`` -> ``kv.env.example``."""
    return env_file + EXAMPLE_SUFFIX


def for_environment(env_file: str, environment: str) -> str:
    """An env file's values for one environment: ``kv.env`` -> ``kv.env.prod``."""
    return f"{env_file}.{environment}"


def missing_templates(stack: Stack, app_dir: Path) -> list[str]:
    """One line per env file of a service (not the app) whose template is not in the app folder."""
    lines = []
    for name in stack.others():
        for env_file in stack.env_files(name):
            if not (Path(app_dir) / example_of(env_file)).is_file():
                lines.append(
                    f"{stack.source}: services.{name}.env_file: {env_file} has no template "
                    f"{example_of(env_file)} in {app_dir}; add it (it is the service's env contract)"
                )
    return lines


# --- written again ---------------------------------------------------------------------------------


def pinned(stack: Stack, images: Mapping[str, str], names: Mapping[str, str], probe: dict) -> dict:
    """The document with every service's image pinned and named, the app's build dropped.

    ``images``: service -> the pinned reference (an image ID before the push, ``name:tag@sha256:``
    after); ``names``: service -> the name:tag a person knows it by (kept in a label); ``probe``:
    the health check the app gets when the file gives it none (its health path).
    """
    doc = _copy(stack.doc)
    for name, service in doc["services"].items():
        service.pop("build", None)
        service["image"] = images[name]
        service["labels"] = {**_mapping(service.get("labels")), IMAGE_LABEL: names[name]}
        if name == stack.app_service:
            service.pop("env_file", None)  # the environment's env file, given at deploy
            service.setdefault("healthcheck", probe)
    return doc


def health_probe(test: list[str], within: int = 60, interval: float = 1.0) -> dict:
    """A Compose ``healthcheck`` around a check command (``CMD ...``)."""
    retries = max(3, int(within / interval))  # unhealthy once it failed for about ``within`` s
    return {"test": test, "interval": f"{interval:g}s", "timeout": "4s", "retries": retries}


def dump(doc: dict) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False).encode()


def _copy(value):
    if isinstance(value, dict):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _mapping(labels) -> dict:
    """Labels as a mapping, whichever form the file wrote them in (``KEY=VALUE`` list or map)."""
    if isinstance(labels, list):
        return dict(str(item).partition("=")[::2] for item in labels)
    return dict(labels or {})


def command_of(value) -> list[str] | None:
    """A service's ``command`` or ``entrypoint`` as argv (a string is split as Compose splits it)."""
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def escape(value: str) -> str:
    """A value written into a Compose file that Docker must not interpolate: $ as $$."""
    return value.replace("$", "$$")


def bind_sources(doc: dict) -> list[tuple[str, str]]:
    """(where, host path) of every bind mount and file-based secret or config of the file."""
    found = []
    for name, service in doc["services"].items():
        for index, volume in enumerate(service.get("volumes") or []):
            source = _bind_source(volume)
            if source is not None:
                found.append((f"services.{name}.volumes[{index}]", source))
    for section in ("secrets", "configs"):
        for name, item in (doc.get(section) or {}).items():
            if isinstance(item, dict) and item.get("file"):
                found.append((f"{section}.{name}.file", str(item["file"])))
    return found


def _bind_source(volume) -> str | None:
    if isinstance(volume, dict):
        return str(volume["source"]) if volume.get("type") == "bind" else None
    source = str(volume).split(":", 1)[0] if ":" in str(volume) else ""
    return source if source.startswith((".", "/", "~")) else None


def with_host_paths(doc: dict, base_dir: Path) -> tuple[dict, list[str]]:
    """The document with every host path made absolute from ``base_dir``, and one line for each
    that does not exist on this machine."""
    doc = _copy(doc)
    missing = []
    resolved = {}
    for where, source in bind_sources(doc):
        path = (Path(base_dir) / Path(source).expanduser()).resolve()
        resolved[source] = str(path)
        if not path.exists():
            missing.append(f"{where}: {source} does not exist here ({path}); create it first")
    for service in doc["services"].values():
        volumes = service.get("volumes") or []
        for index, volume in enumerate(volumes):
            if isinstance(volume, dict) and volume.get("type") == "bind":
                volume["source"] = resolved[str(volume["source"])]
            elif _bind_source(volume) is not None:
                source, _, rest = str(volume).partition(":")
                volumes[index] = f"{resolved[source]}:{rest}"
    for section in ("secrets", "configs"):
        for item in (doc.get(section) or {}).values():
            if isinstance(item, dict) and item.get("file"):
                item["file"] = resolved[str(item["file"])]
    return doc, missing


def networks_of(doc: dict, service: str) -> list[str]:
    """The networks a service joins, as the file names them (``default`` when it names none)."""
    networks = doc["services"][service].get("networks")
    return [str(n) for n in networks] if networks else ["default"]


def environment_of(service: dict) -> dict[str, str]:
    """A service's ``environment:`` as a mapping, whichever form the file wrote it in."""
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(str(item).partition("=")[::2] for item in value if "=" in str(item))
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def for_smoke(doc: dict, env_files: Mapping[str, list], network: str) -> dict:
    """The pinned document made into its smoke test: every service on one internal network alone,
    no published port, no host path, the env files given (templates: placeholders will do),
    nothing pulled."""
    doc = _copy(doc)
    doc.pop("name", None)
    for name, service in doc["services"].items():
        service.pop("ports", None)
        service["networks"] = [network]
        service["pull_policy"] = "never"
        volumes = [v for v in service.get("volumes") or [] if _bind_source(v) is None]
        service["volumes"] = volumes
        if env_files.get(name):
            service["env_file"] = [str(path) for path in env_files[name]]
        else:
            service.pop("env_file", None)
    doc["networks"] = {network: {"internal": True}}
    return doc


def with_swarm_updates(doc: dict, update) -> dict:
    """The document with every service's update rolled back on failure (``failure_action:
    rollback``; ``update`` fills what the file leaves out) and its networks attachable."""
    doc = _copy(doc)
    delay, monitor = f"{update.delay:g}s", f"{update.monitor:g}s"
    uses_default = False
    for service in doc["services"].values():
        deploy = service.setdefault("deploy", {})
        deploy["update_config"] = {
            "parallelism": update.parallelism,
            "delay": delay,
            "order": update.order,
            "monitor": monitor,
            "max_failure_ratio": 0,
            **(deploy.get("update_config") or {}),
            "failure_action": "rollback",
        }
        deploy["rollback_config"] = {
            "parallelism": update.parallelism,
            "delay": delay,
            "order": update.order,
            "monitor": monitor,
            **(deploy.get("rollback_config") or {}),
            "failure_action": "pause",
        }
        uses_default = uses_default or not service.get("networks")
    networks = doc.setdefault("networks", {}) or {}
    doc["networks"] = networks
    if uses_default:
        networks.setdefault("default", {})
    for name, spec in list(networks.items()):
        spec = networks[name] = dict(spec or {})
        if not spec.get("external"):
            spec.setdefault("attachable", True)
    return doc


def add_secrets(doc: dict, service: str, references: list, user: str, start) -> None:
    """Give ``service`` the Swarm secrets made for it (``swarmsecrets.create``), readable by the
    image's numeric user alone, and a wrapper that exports each as the variable of its name."""
    from ..engine import swarmsecrets

    spec = doc["services"][service]
    uid, _, gid = (user or "0").partition(":")
    owner = {"uid": uid, "gid": gid or uid, "mode": 0o400} if uid.isdigit() else {}
    entries = [
        {"source": ref["SecretName"], "target": ref["File"]["Name"], **owner} for ref in references
    ]
    spec["secrets"] = [*(spec.get("secrets") or []), *entries]
    secrets = doc.setdefault("secrets", {}) or {}
    doc["secrets"] = secrets
    for ref in references:
        secrets[ref["SecretName"]] = {"external": True}
    keys = [ref["File"]["Name"] for ref in references]
    command, args = swarmsecrets.wrapper(keys, *start)
    spec["entrypoint"] = [escape(part) for part in command]
    spec["command"] = [escape(part) for part in args]
