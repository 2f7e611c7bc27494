"""The app as a Docker Swarm service: create or update it, wait for the rollout, find where it runs.

Swarm is the orchestrator: it places the tasks, pulls the pinned digest from the registry on every
node, runs the health check, replaces tasks a batch at a time and rolls the update back by itself
when a new task fails (``failure_action: rollback``). airgapkit writes the whole service spec from
the environment's configuration, starts the update, and watches it: it returns once every replica
of the new version runs healthy and Swarm has finished the update, and raises ``RolledBack`` with
each failed task's error and last log lines when Swarm rolled it back.

Env values go in as plain environment or as Swarm secrets (``swarmsecrets``); neither is printed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import docker
import requests
from docker.types import (
    EndpointSpec,
    Healthcheck,
    RestartPolicy,
    RollbackConfig,
    ServiceMode,
    UpdateConfig,
)

from ..environments import Environment
from ..errors import AirgapError, RolledBack
from ..ports import Ports
from . import swarmsecrets
from .client import console, engine_errors, shell_flags

APP_LABEL = "org.airgapkit.app"
HISTORY_LABEL = "org.airgapkit.history"
HISTORY_KEPT = 10
LOG_LINES = 5
POLL = 0.5
NS = 1_000_000_000  # the Engine API counts durations in nanoseconds
_ROLLED_BACK = ("rollback_started", "rollback_paused", "rollback_completed", "paused")


@dataclass(frozen=True)
class Release:
    """The image a service runs: its pinned reference and what its own config says about starting."""

    pinned: str  # registry/name:tag@sha256:...
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""

    @classmethod
    def of(cls, client: docker.DockerClient, local_image: str, pinned: str) -> Release:
        """Read entrypoint, command and user from the local image (before it may leave the cache)."""
        config = client.images.get(local_image).attrs.get("Config") or {}
        return cls(
            pinned,
            tuple(config.get("Entrypoint") or ()),
            tuple(config.get("Cmd") or ()),
            config.get("User") or "",
        )

    @property
    def tagged(self) -> str:
        return self.pinned.partition("@")[0]

    @property
    def digest(self) -> str:
        return self.pinned.partition("@")[2]


@dataclass(frozen=True)
class App:
    """What the service is: its name, port, health path and the env file's values."""

    service: str
    ports: Ports
    health_path: str
    values: Mapping[str, str] = field(default_factory=dict, repr=False)  # never shown
    secret_keys: frozenset[str] = frozenset()


# --- the service spec ------------------------------------------------------------------------------


def health_probe(port: int, path: str) -> list[str]:
    """A check that needs only the image's node: 200 from the app's own health path."""
    url = json.dumps(f"http://127.0.0.1:{port}{path}")
    script = (
        f"require('http').get({url},{{timeout:4000}},"
        "r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
    )
    return ["CMD", "node", "-e", script]


def service_kwargs(
    release: Release, app: App, env: Environment, secrets: list, history: list[dict]
) -> dict:
    """Every setting of the service, for ``services.create`` and for a full ``update``."""
    plain = [f"{k}={v}" for k, v in app.values.items() if k not in app.secret_keys]
    update = env.update
    mapping = app.ports.app
    kwargs = dict(
        name=app.service,
        labels={APP_LABEL: app.service, HISTORY_LABEL: json.dumps(history[-HISTORY_KEPT:])},
        container_labels={APP_LABEL: app.service},
        env=plain,
        mode=ServiceMode("replicated", env.replicas),
        healthcheck=Healthcheck(
            test=health_probe(mapping.container, app.health_path),
            interval=int(env.health.interval * NS),
            timeout=int(env.health.timeout * NS),
            retries=env.health.retries,
            start_period=int(env.health.start_period * NS),
        ),
        update_config=UpdateConfig(
            parallelism=update.parallelism,
            delay=int(update.delay * NS),
            failure_action="rollback",
            monitor=int(update.monitor * NS),
            max_failure_ratio=0,
            order=update.order,
        ),
        rollback_config=RollbackConfig(
            parallelism=update.parallelism,
            delay=int(update.delay * NS),
            failure_action="pause",
            monitor=int(update.monitor * NS),
            order=update.order,
        ),
        restart_policy=RestartPolicy(condition="any", delay=2 * NS),
        init=True,  # as containers.run: an app that ignores SIGTERM still stops when replaced
        endpoint_spec=endpoint(env, app.ports),
        networks=list(env.networks),
        constraints=list(env.placement),
        secrets=swarmsecrets.owned_by(secrets, release.user),
        stop_grace_period=10 * NS,
    )
    if secrets:
        command, args = swarmsecrets.wrapper(
            app.secret_keys, list(release.entrypoint), list(release.cmd)
        )
        kwargs.update(command=command, args=args)
    return kwargs


def endpoint(env: Environment, ports: Ports) -> EndpointSpec:
    if env.publish_mode == "none":
        return EndpointSpec(mode=env.endpoint_mode)
    published = {}
    for m in ports.mappings:
        published[m.host or m.container] = (m.container, m.protocol, env.publish_mode)
    return EndpointSpec(mode=env.endpoint_mode, ports=published)


# --- deploy ----------------------------------------------------------------------------------------


def deploy(client: docker.DockerClient, release: Release, app: App, env: Environment) -> None:
    """Create or update the service, then wait for the rollout; see the module's description.
    What runs then: ``flows.status.of_swarm``."""
    with engine_errors(f"deploy service {app.service}", hide=app.values):
        require_manager(client)
        _require_networks(client, env)
        current = find(client, app.service)
        history = deploy_history(current) + [_entry(release)]
        made = swarmsecrets.create(client, app.service, app.values, app.secret_keys)
        kwargs = service_kwargs(release, app, env, made, history)
        try:
            if current is None:
                console.print(f"creating service {app.service}: {env.replicas} x {release.pinned}")
                service, marker, before = client.services.create(release.pinned, **kwargs), 0, None
            else:
                console.print(f"updating service {app.service} to {release.pinned}")
                before = (current.attrs.get("UpdateStatus") or {}).get("StartedAt")
                marker = int(current.attrs["Spec"]["TaskTemplate"].get("ForceUpdate", 0)) + 1
                current.update(
                    image=release.pinned, force_update=True, fetch_current_spec=False, **kwargs
                )
                service = current
        except docker.errors.APIError:
            swarmsecrets.remove_unused(client, app.service, keep=_secret_names(client, app))
            raise
        try:
            wait_rollout(client, service.id, marker, before, env)
        finally:
            swarmsecrets.remove_unused(client, app.service, keep=_secret_names(client, app))
    console.print(f"service {app.service} runs {env.replicas} x {release.pinned}, healthy")


def wait_rollout(client, service_id: str, marker: int, before: str | None, env: Environment):
    """Until every replica of the spec marked ``marker`` runs and Swarm's update is complete."""
    deadline = time.monotonic() + env.rollout_timeout
    while True:
        service = client.services.get(service_id)
        update = service.attrs.get("UpdateStatus") or {}
        state = update.get("State")
        fresh = update.get("StartedAt") != before
        tasks = service.tasks()
        if fresh and state in _ROLLED_BACK:
            if not _settled(state, tasks, env.replicas) and time.monotonic() < deadline:
                time.sleep(POLL)  # let Swarm finish putting the previous version back
                continue
            raise _rolled_back(client, service, marker, update)
        new = [t for t in tasks if _marker(t) == marker]
        running = [t for t in new if _is(t, "running") and t.get("DesiredState") == "running"]
        old = [t for t in tasks if _marker(t) != marker and _is(t, "running")]
        finished = (
            state is None if before is None and marker == 0 else fresh and state == "completed"
        )
        if finished and len(running) == env.replicas and not old:
            return
        if time.monotonic() > deadline:
            raise AirgapError(
                f"service {service.name}: {len(running)} of {env.replicas} new tasks run after "
                f"{env.rollout_timeout:.0f} s (update: {state or 'none'}); {_task_errors(new)}"
                f"; see `docker service ps {service.name} --no-trunc`"
            )
        time.sleep(POLL)


def _settled(state: str, tasks: list[dict], replicas: int) -> bool:
    """A rollback is over when paused, or complete with every replica running again."""
    if state != "rollback_completed":
        return state != "rollback_started"
    running = [t for t in tasks if t.get("DesiredState") == "running" and _is(t, "running")]
    return len(running) >= replicas


def _rolled_back(client, service, marker: int, update: dict) -> RolledBack:
    """One error: what Swarm said, then each failed new task's error and its last log lines."""
    failed = [t for t in service.tasks() if _marker(t) == marker and not _is(t, "running")]
    lines = [
        f"service {service.name}: Swarm rolled the update back ({update.get('State')}: "
        f"{update.get('Message', '')}); it runs {image_of(service.attrs['Spec'])} again"
    ]
    return RolledBack("\n".join(lines + failed_task_lines(client, service, failed)))


def failed_task_lines(client, service, failed: list[dict]) -> list[str]:
    """Each failed task of ``service``: where it ran, how it ended, and its last log lines."""
    logs = _task_logs(service)
    nodes = node_names(client)
    lines = []
    for task in failed:
        lines.append(
            f"  task {task.get('Slot', '-')}.{task['ID'][:12]} on "
            f"{nodes.get(task.get('NodeID'), task.get('NodeID', '?'))}: {_task_end(client, task)}"
        )
        lines += [f"    | {line}" for line in logs.get(task["ID"], [])[-LOG_LINES:]]
    return lines


def _task_end(client, task: dict) -> str:
    """How a task ended: Swarm's error, else its state and exit code, and its last health check.

    An app that exits cleanly on SIGTERM leaves no error: Swarm stopped it for failing its health
    check, which the container (when it is on this node) still records.
    """
    status = task["Status"]
    container = status.get("ContainerStatus") or {}
    said = status.get("Err") or f"{status['State']} (exit code {container.get('ExitCode', '?')})"
    health = {}
    if container.get("ContainerID"):
        try:
            found = client.containers.get(container["ContainerID"])
            health = found.attrs["State"].get("Health") or {}
        except docker.errors.NotFound:
            pass
    if health.get("Status") == "unhealthy":
        checks = health.get("Log") or [{}]
        # exit 1 is the check's own verdict; a check killed as the task stopped says nothing
        last = next((c for c in reversed(checks) if c.get("ExitCode") == 1), checks[-1])
        output = " ".join(str(last.get("Output", "")).split())[:200]
        said += f"; health check unhealthy (exit {last.get('ExitCode', '?')})"
        said += f": {output}" if output else ""
    return said


def _task_logs(service) -> dict[str, list[str]]:
    """The service's last log lines grouped by task (the engine tags each with its task id)."""
    grouped: dict[str, list[str]] = {}
    try:
        stream = service.logs(details=True, stdout=True, stderr=True, tail=50)
        for raw in stream:
            text = raw.decode(errors="replace").rstrip("\n")
            attrs, _, message = text.partition(" ")
            found = re.search(r"com\.docker\.swarm\.task\.id=([a-z0-9]+)", attrs)
            if found:
                grouped.setdefault(found.group(1), []).append(message)
    except (docker.errors.APIError, requests.exceptions.RequestException):
        pass  # a node that cannot be reached has no logs to give; the task errors still tell
    return grouped


def _task_errors(tasks: list[dict]) -> str:
    errors = sorted({t["Status"].get("Err") for t in tasks if t["Status"].get("Err")})
    return "task errors: " + "; ".join(errors) if errors else "no task reported an error"


# --- a shell in a task -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShellPlace:
    """Where a shell can be opened: a running task's container here, or the nodes its tasks run on."""

    container: str = ""
    nodes: tuple[str, ...] = ()

    def argv(self, service: str) -> list[str]:
        if self.container:
            return ["docker", "exec", shell_flags(), self.container, "sh"]
        if not self.nodes:
            raise AirgapError(f"no task of service {service} runs; deploy it first")
        raise AirgapError(
            f"no task of service {service} runs on this node; its tasks run on "
            f"{', '.join(self.nodes)}: open the shell there: `docker ps -q -f "
            f"label={APP_LABEL}={service}` names its containers, `docker exec -it CONTAINER sh` "
            "opens one"
        )


def shell_place(client: docker.DockerClient, service_name: str) -> ShellPlace:
    with engine_errors(f"find a task of service {service_name}"):
        service = find(client, service_name)
        if service is None:
            raise AirgapError(f"no service {service_name} in this swarm; deploy it first")
        here = client.info()["Swarm"].get("NodeID")
        running = [t for t in service.tasks({"desired-state": "running"}) if _is(t, "running")]
        for task in running:
            container = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
            if task.get("NodeID") == here and container:
                return ShellPlace(container=container)
        nodes = node_names(client)
        return ShellPlace(
            nodes=tuple(sorted({nodes.get(t["NodeID"], t["NodeID"]) for t in running}))
        )


# --- small helpers ---------------------------------------------------------------------------------


def find(client: docker.DockerClient, name: str):
    """The service called exactly ``name`` (the API's name filter matches prefixes), or None."""
    for service in client.services.list(filters={"name": name}):
        if service.name == name:
            return service
    return None


def require_manager(client) -> None:
    swarm = client.info().get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        raise AirgapError(
            "this Docker Engine is not part of a swarm; run on a manager of the prod swarm "
            "(docker swarm init on the first one, see docs/fleet.md)"
        )
    if not swarm.get("ControlAvailable"):
        raise AirgapError(
            "this Docker Engine is a swarm worker; deploy from a manager (docker node ls there)"
        )


def _require_networks(client, env: Environment) -> None:
    for name in env.networks:
        found = [n for n in client.networks.list(names=[name]) if n.name == name]
        if not found or found[0].attrs.get("Scope") != "swarm":
            raise AirgapError(
                f"network {name} of environment {env.name} is not an overlay network of this "
                f"swarm; create it: docker network create -d overlay --attachable {name}"
            )


def deploy_history(service) -> list[dict]:
    if service is None:
        return []
    raw = (service.attrs["Spec"].get("Labels") or {}).get(HISTORY_LABEL, "[]")
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _entry(release: Release) -> dict:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    return {"image": release.tagged, "digest": release.digest, "deployed": now}


def _secret_names(client, app: App) -> set[str]:
    service = find(client, app.service)
    if service is None:
        return set()
    names = swarmsecrets.names_in(service.attrs.get("Spec"))
    return names | swarmsecrets.names_in(service.attrs.get("PreviousSpec"))


def _marker(task: dict) -> int:
    return int((task.get("Spec") or {}).get("ForceUpdate", 0))


def _is(task: dict, *states: str) -> bool:
    return task["Status"]["State"] in states


def image_of(spec_or_task: dict) -> str:
    spec = spec_or_task.get("Spec", spec_or_task)
    return (spec.get("TaskTemplate", spec).get("ContainerSpec") or {}).get("Image", "")


def node_names(client) -> dict[str, str]:
    try:
        return {n["ID"]: n["Description"]["Hostname"] for n in client.api.nodes()}
    except (docker.errors.APIError, KeyError):
        return {}
