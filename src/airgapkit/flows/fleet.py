"""Test/prod on a swarm: the loaded release pushed to the environment's registry and run as a service.

``deploy`` (flows/deploy.py) calls ``deploy`` here when the environment's target is ``swarm``, after
the bundle was verified and loaded and the env file checked against ``.env.example``. ``push``,
``status`` and ``debug_shell_argv`` serve the tasks of the same names for a configured environment.
See docs/fleet.md.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .. import platform
from ..engine import interrupted, swarm, swarmsecrets
from ..engine import push as registry_push
from ..engine.client import console, default_container_name
from ..errors import AirgapError
from ..settings import Target

out = Console(soft_wrap=True, highlight=False, markup=False)  # stdout: what a user may pipe


def service_name(target: Target, image: str) -> str:
    """The service (or container) name: configured, else the flag, else the image's name."""
    configured = target.configured.service if target.configured else ""
    return configured or target.name or default_container_name(image)


def names_itself(target: Target) -> bool:
    """Whether the service or container name is known without the app's image name."""
    return bool(target.name or (target.configured and target.configured.service))


def push(client, image: str, target: Target) -> registry_push.Pushed:
    """Push a local image into the environment's registry; the pinned reference comes back."""
    registry = target.configured.registry if target.configured else None
    if registry is None:
        raise AirgapError(
            f"environment {target.environment} names no registry; set "
            f"airgapkit.environments.{target.environment}.registry to host:port in invoke.yaml"
        )
    return registry_push.push(client, image, registry)


def deploy(client, image: str, values: dict[str, str], target: Target) -> swarm.Status:
    """Push the loaded ``image``, then create or update its service and wait for the rollout."""
    env = target.configured
    pushed = push(client, image, target)
    release = swarm.Release.of(client, image, pushed.pinned)
    secret_keys = swarmsecrets.secret_keys(values, target.env_example, env.secrets)
    app = swarm.App(
        service_name(target, image),
        target.ports,
        target.health_path,
        values,
        frozenset(secret_keys),
    )
    status = swarm.deploy(client, release, app, env)
    print_status(status)
    return status


def status(client, target: Target, image: str) -> swarm.Status:
    """What runs for the environment, whichever its target; nothing deployed is an error. On an
    engine, a deploy killed half-way (a NAME-previous left) is said too."""
    name = service_name(target, image)
    kind = "swarm" if target.is_swarm else "engine"
    if not target.is_swarm:
        warn_if_interrupted(client, name, target)
    found = swarm.status(client, name, target=kind)
    if found is None:
        what = "service" if kind == "swarm" else "container"
        raise AirgapError(
            f"no {what} {name} runs for environment {target.environment}; deploy it first, "
            "or name it with --name"
        )
    return found


def rollback_command(target: Target, name: str) -> str:
    """The command that puts back the container a deploy of name set aside."""
    argv = ["inv", "rollback", "--env", target.environment]
    return platform.join(argv + (["--name", name] if target.name else []))


def warn_if_interrupted(client, name: str, target: Target) -> None:
    """Say so when a killed deploy left name half replaced; change nothing."""
    found = interrupted.find_interrupted(client, name)
    if found is not None:
        console.print(
            f"warning: {found.describe()}; `{rollback_command(target, name)}` puts the previous "
            "container back, `inv deploy` finishes or undoes it first"
        )


def update_goes_on(target: Target, image: str):
    """What a Ctrl-C leaves of a service update: Swarm goes on with it (and rolls it back)."""
    name = service_name(target, image)
    return lambda: (
        f"the update of service {name} goes on in the swarm, which rolls it back by itself if "
        f"it is not healthy; see `inv status --env {target.environment}`"
    )


def debug_shell_argv(client, target: Target, image: str) -> list[str]:
    """A shell in a running task's container on this node (else the nodes are named)."""
    name = service_name(target, image)
    return swarm.shell_place(client, name).argv(name)


def print_status(status: swarm.Status) -> None:
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
