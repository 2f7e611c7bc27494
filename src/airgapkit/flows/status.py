"""What runs in an environment, per target: one container on this engine (``engine``), a Swarm
service (``swarm``), or a stack's services (``compose``, ``stack``); the deploys recorded with it,
and a deploy killed half-way on this engine. ``inv status`` prints it; ``deploy`` prints it after a
swarm or stack deploy."""

from __future__ import annotations

from dataclasses import dataclass

import docker
from rich.table import Table

from .. import display, platform
from ..engine import compose as engine_compose
from ..engine import interrupted, swarm
from ..engine import stack as engine_stack
from ..engine.client import engine_errors
from ..errors import AirgapError
from ..settings import Target

out = display.plain()  # stdout: what a user may pipe


@dataclass(frozen=True)
class TaskView:
    id: str
    slot: str
    node: str
    state: str
    desired: str
    error: str
    image: str
    healthy: bool | None  # None: the health of a task on another node is not visible here


@dataclass(frozen=True)
class Status:
    """What runs for an environment of target ``engine`` or ``swarm``."""

    target: str
    name: str
    image: str  # the reference it was started from
    digest: str
    wanted: int
    running: int
    healthy: int
    tasks: tuple[TaskView, ...] = ()
    update: str = ""  # Swarm's last update state and message
    history: tuple[dict, ...] = ()  # earlier deploys, oldest first


def of_target(client, target: Target, name: str) -> Status:
    """What runs as ``name`` for the environment, whichever its target; nothing deployed is an
    error. On an engine, a deploy killed half-way (a NAME-previous left) is said too."""
    kind = "swarm" if target.is_swarm else "engine"
    if not target.is_swarm:
        warn_if_interrupted(client, name, target)
    found = of_swarm(client, name) if target.is_swarm else of_engine(client, name)
    if found is None:
        what = "service" if kind == "swarm" else "container"
        raise AirgapError(
            f"no {what} {name} runs for environment {target.environment}; deploy it first, "
            "or name it with --name"
        )
    return found


# --- target: swarm ---------------------------------------------------------------------------------


def of_swarm(client: docker.DockerClient, name: str) -> Status | None:
    """The Swarm service called ``name``; None when there is none."""
    with engine_errors(f"read the status of {name}"):
        service = swarm.find(client, name)
        if service is None:
            return None
        spec = service.attrs["Spec"]
        nodes, here = swarm.node_names(client), client.info()["Swarm"].get("NodeID")
        views = tuple(_task_view(client, t, nodes, here) for t in service.tasks())
        current = [v for v in views if v.desired == "running"]
        update = service.attrs.get("UpdateStatus") or {}
        image = swarm.image_of(spec)
        return Status(
            target="swarm",
            name=name,
            image=image.partition("@")[0],
            digest=image.partition("@")[2],
            wanted=int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0)),
            running=sum(v.state == "running" for v in current),
            healthy=sum(v.state == "running" and v.healthy is not False for v in current),
            tasks=tuple(sorted(views, key=lambda v: (v.slot, v.desired != "running"))),
            update=" ".join(filter(None, [update.get("State"), update.get("Message")])),
            history=tuple(swarm.deploy_history(service)),
        )


def _task_view(client, task: dict, nodes: dict, here: str) -> TaskView:
    state = task["Status"]["State"]
    healthy = None
    container = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
    if state == "running" and task.get("NodeID") == here and container:
        healthy = _container_health(client, container)
    return TaskView(
        id=task["ID"],
        slot=str(task.get("Slot", "")),
        node=nodes.get(task.get("NodeID"), task.get("NodeID", "")),
        state=state,
        desired=task.get("DesiredState", ""),
        error=task["Status"].get("Err", ""),
        image=swarm.image_of(task),
        healthy=healthy,
    )


def _container_health(client, container_id: str) -> bool | None:
    try:
        health = client.containers.get(container_id).attrs["State"].get("Health") or {}
    except docker.errors.NotFound:
        return None
    return {"healthy": True, "unhealthy": False}.get(health.get("Status"))


# --- target: engine --------------------------------------------------------------------------------


def of_engine(client: docker.DockerClient, name: str) -> Status | None:
    """The container called ``name`` on this engine; None when there is none."""
    with engine_errors(f"read the status of {name}"):
        try:
            container = client.containers.get(name)
        except docker.errors.NotFound:
            return None
        image = container.image
        health = _container_health(client, container.id)
        running = container.status == "running"
        view = TaskView(
            container.short_id, "1", client.info().get("Name", ""), container.status, "running",
            container.attrs["State"].get("Error", ""), container.attrs["Config"]["Image"], health,
        )  # fmt: skip
        return Status(
            target="engine",
            name=name,
            image=container.attrs["Config"]["Image"],
            digest=(image.attrs.get("RepoDigests") or [image.id])[0].rpartition("@")[2] or image.id,
            wanted=1,
            running=int(running),
            healthy=int(running and health is not False),
            tasks=(view,),
        )


def rollback_command(target: Target, name: str) -> str:
    """The command that puts back the container a deploy of name set aside."""
    argv = ["inv", "rollback", "--env", target.environment]
    return platform.join(argv + (["--name", name] if target.name else []))


def warn_if_interrupted(client, name: str, target: Target) -> None:
    """Say so when a killed deploy left name half replaced; change nothing."""
    found = interrupted.find_interrupted(client, name)
    if found is not None:
        display.warn(
            f"{found.describe()}; `{rollback_command(target, name)}` puts the previous "
            "container back, `inv deploy` finishes or undoes it first"
        )


def print_status(status: Status) -> None:
    """The status as a few lines and two tables: tasks, and the deploys recorded."""
    what = "service" if status.target == "swarm" else "container"
    out.print(f"{what} {status.name} ({status.target}): {status.image}")
    out.print(f"digest: {status.digest or 'unknown'}")
    out.print(
        f"replicas: {status.wanted} wanted, {status.running} running, {status.healthy} healthy"
    )
    if status.update:
        out.print(f"last update: {status.update}")
    tasks = Table("slot", "task", "node", "state", "desired", "healthy", "error", "image")
    for task in status.tasks:
        healthy = {True: "yes", False: "no", None: "-"}[task.healthy]
        tasks.add_row(
            task.slot, task.id[:12], task.node, task.state, task.desired, healthy,
            task.error or "", task.image.rpartition("@")[0] or task.image,
        )  # fmt: skip
    out.print(tasks)
    if status.history:
        history = Table("deployed", "image", "digest")
        for entry in status.history:
            history.add_row(
                entry.get("deployed", ""), entry.get("image", ""), entry.get("digest", "")
            )
        out.print(history)


# --- targets compose and stack ---------------------------------------------------------------------


@dataclass(frozen=True)
class StackStatus:
    target: str
    project: str
    rows: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]


def of_stack(client, target: Target, project: str) -> StackStatus:
    """What runs of the stack: one row per service (stack) or container (compose)."""
    if target.configured.target == "compose":
        found = engine_compose.states(client, project)
        rows = tuple(
            (s.service, s.container, s.named or s.image, s.state, s.health or "-") for s in found
        )
        columns = ("service", "container", "image", "state", "health")
    else:
        views = engine_stack.status(client, project)
        rows = tuple(
            (
                v.name.removeprefix(f"{project}_"),
                v.image.partition("@")[0],
                v.image.partition("@")[2][:19],
                f"{v.running}/{v.wanted}",
                v.update or "-",
            )
            for v in views
        )
        columns = ("service", "image", "digest", "running", "last update")
    if not rows:
        raise AirgapError(
            f"no stack {project} runs for environment {target.environment}; deploy it first, or "
            f"set airgapkit.environments.{target.environment}.project"
        )
    return StackStatus(target.configured.target, project, rows, columns)


def print_stack(found: StackStatus) -> None:
    what = "Compose project" if found.target == "compose" else "Swarm stack"
    table = Table(
        *found.columns, title=f"{what} {display.markup(found.project)}", title_justify="left"
    )
    for row in found.rows:
        table.add_row(*(display.text(cell) for cell in row))
    out.print(table)
