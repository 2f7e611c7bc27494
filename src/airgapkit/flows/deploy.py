"""Step 5, test/prod: a release verified and loaded, and run in place of the previous one.

One deploy (or rollback) of a container name runs at a time (``locks``); one that was killed
half-way is seen by the next command for that container, and finished or undone by the next
deploy (``interrupted.recover``) or undone by ``rollback``.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

from .. import history, locks, platform
from ..app import envfiles
from ..delta import apply
from ..engine import containers, identity, interrupted, lifecycle, oneoff
from ..engine.client import console, engine_address
from ..errors import AirgapError, Interrupted
from ..oci.reference import default_container_name
from ..phases import phase
from ..settings import Incoming, Target, Trust
from ..trust import seal
from . import fleet, stackdeploy
from . import status as statuses
from .bundles import open_incoming


def env_file_of(target: Target) -> Path:
    """The target environment's env file, checked against the example (values never shown)."""
    env_file = envfiles.resolve(target.environment, target.environments, target.base_dir)
    envfiles.check(env_file, target.env_example)
    return env_file


def watch_of(target: Target) -> lifecycle.Watch:
    return lifecycle.Watch(target.ports, target.health_path, target.health_timeout, target.log_dir)


@contextmanager
def container_lock(name: str, doing: str):
    """The lock of one container name on this engine, held while ``doing`` runs."""
    with locks.held("container", f"{engine_address()} {name}", f"{doing} of {name}") as lock:
        if lock.stale:
            console.print(locks.describe_stale(lock.stale))
        yield lock


def deploy(
    client,
    *,
    incoming: Incoming,
    target: Target,
    trust: Trust | None = None,
    run: history.Run | None = None,
):
    """Verify and load a release bundle, then replace the running container; roll back if unhealthy.

    Before any image is loaded: the bundle's signature per ``trust.keys``, the environment's env
    file against the env contract of the version being deployed, and a delta's prerequisites.
    """
    run = run or history.unrecorded("deploy")
    run.entry.environment = target.environment
    env_file = envfiles.resolve(target.environment, target.environments, target.base_dir)
    with phase("verify"):
        opened = open_incoming(incoming, "release", seal.trusted_keys(trust))
    with opened:
        run.note_bundle(opened.manifest, incoming.archive, opened.sha256)
        run.note_signature(opened.signature)
        stackdeploy.check_bundle(opened, target)
        env = seal.checked_env(opened, env_file, target.env_example)
        if target.is_stack:
            return deploy_stack(client, opened, target, env, env_file, run)
        apply.check_prerequisites(client, opened.manifest, opened.path)
        ref = opened.manifest.images[0]["ref"]
        if target.is_swarm:
            run.entry.name = fleet.service_name(target, ref)
            with phase("load"):
                apply.load_images(client, opened)
            with said_on_interrupt(fleet.update_goes_on(target, ref)), phase("update"):
                return fleet.deploy(client, ref, env, target)
        name = run.entry.name = target.name or default_container_name(ref)
        with container_lock(name, "deploy") as lock, state_on_interrupt(client, name, target):
            finish_interrupted(client, name, watch_of(target), lock)  # first, then judge
            refuse_redeploy(client, name, apply.held_already(client, opened.manifest), opened.path)
            with phase("load"):
                apply.load_images(client, opened)
            if target.predeploy:
                with phase("predeploy"):
                    predeploy(client, ref, env, target, run)
            with phase("start & health"):
                return lifecycle.replace(
                    client, ref, name, env=env, watch=watch_of(target), note=lock.note
                )


def deploy_stack(client, opened, target: Target, env: dict, env_file: Path, run: history.Run):
    """A stack (flows/stack.py), its app's env checked against the contract the release carries."""
    with tempfile.TemporaryDirectory(prefix="airgapkit-contract-") as tmp:
        contract, _ = seal.env_contract(opened, Path(tmp), target.env_example)
        return stackdeploy.deploy(
            client, opened, target, app_env=env, app_env_file=env_file, app_contract=contract,
            run=run,
        )  # fmt: skip


def predeploy(client, ref: str, env: dict, target: Target, run: history.Run) -> None:
    """The one-off command from the new image, before the running container is touched; its
    outcome goes in the history either way."""
    stackdeploy.noted_predeploy(
        run,
        lambda: oneoff.run_once(client, ref, target.predeploy, env=env, log_dir=target.log_dir),
    )


def finish_interrupted(client, name: str, watch: lifecycle.Watch, lock) -> None:
    """Finish or undo a deploy of name that was killed half-way, before anything is judged by what
    runs as name (``refuse_redeploy``) or replaced."""
    found = interrupted.find_interrupted(client, name, lock.stale)
    if found is not None:
        interrupted.recover(client, found, watch)


@contextmanager
def said_on_interrupt(state):
    """Ctrl-C in the block: ``interrupted; <state()>`` instead of the line for a run that left
    nothing half done (``errors.Interrupted``)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        raise Interrupted(state()) from exc


def state_on_interrupt(client, name: str, target: Target):
    """Ctrl-C while name is replaced or put back: say what runs as name, and how to undo it."""
    rollback = statuses.rollback_command(target, name)
    return said_on_interrupt(lambda: interrupted.state(client, name, rollback))


def refuse_redeploy(client, name: str, held: list[dict], bundle: Path) -> None:
    """A delta whose image runs as ``name`` already was applied here before: nothing to do. (Held
    but not running, after a rolled-back deploy, it is deployed again without loading.)"""
    current = lifecycle.find(client, name)
    running = ""
    if current is not None and current.status == "running":
        running = identity.of_container(client, current)  # a config digest, as the manifest's
    for image in held:
        if image["id"] == running:
            raise AirgapError(
                f"{image['ref']} ({image['id'][:19]}) already runs here as {name}: the delta "
                f"{bundle.name} was applied here before; nothing loaded"
            )
        console.print(
            f"{image['ref']} is in this engine already (an earlier deploy): not loaded again"
        )


def rollback(client, *, target: Target, name: str) -> None:
    """Put back the container an interrupted deploy of name set aside."""
    if target.is_swarm:  # a service keeps its previous version itself
        command = platform.join(["docker", "service", "rollback", fleet.service_name(target, name)])
        raise AirgapError(
            f"environment {target.environment} runs on a swarm: roll its service back with "
            f"`{command}`"
        )
    with container_lock(name, "rollback") as lock, state_on_interrupt(client, name, target):
        interrupted.rollback(client, name, watch_of(target), lock.stale)


def debug_shell_argv(client, target: Target, image: str) -> list[str]:
    """Exec into the environment's running container, else a fresh one with its env file."""
    if target.is_swarm:
        return fleet.debug_shell_argv(client, target, image)
    name = target.name or default_container_name(image)
    statuses.warn_if_interrupted(client, name, target)
    if _is_running(client, name):
        return containers.shell_argv(client, container=name)
    env_file = env_file_of(target)
    argv = containers.shell_argv(client, image=image)
    return [*argv[:-2], "--env-file", str(env_file), *argv[-2:]]


def _is_running(client, name: str) -> bool:
    container = lifecycle.find(client, name)
    return container is not None and container.status == "running"
