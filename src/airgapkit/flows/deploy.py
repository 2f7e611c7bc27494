"""Step 5, test/prod: a release verified and loaded, and run in place of the previous one.

One deploy (or rollback) of a container name runs at a time (``locks``); one that was killed
half-way is seen by the next command for that container, and finished or undone by the next
deploy (``interrupted.recover``) or undone by ``rollback``.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

from .. import history, locks
from ..app import envfiles
from ..delta import apply
from ..engine import containers, interrupted, lifecycle, oneoff
from ..engine.client import console, default_container_name, engine_address
from ..errors import AirgapError
from ..settings import Incoming, Target, Trust
from ..trust import seal
from . import fleet
from . import stack as stack_flow
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
    with open_incoming(incoming, "release", seal.trusted_keys(trust)) as opened:
        run.note_bundle(opened.manifest, incoming.archive, opened.sha256)
        run.note_signer(opened.signature and opened.signature.signer)
        stack_flow.check_bundle(opened, target)
        env = seal.checked_env(opened, env_file, target.env_example)
        if target.is_stack:
            return deploy_stack(client, opened, target, env, env_file, run)
        apply.check_prerequisites(client, opened.manifest, opened.path)
        ref = opened.manifest.images[0]["ref"]
        if target.is_swarm:
            apply.load_images(client, opened)
            return fleet.deploy(client, ref, env, target)
        name = target.name or default_container_name(ref)
        with container_lock(name, "deploy") as lock:  # before loading: one deploy of name at once
            refuse_redeploy(client, name, apply.held_already(client, opened.manifest), opened.path)
            apply.load_images(client, opened)
            if target.predeploy:
                predeploy(client, ref, env, target, run)
            return replace(client, ref, name, env, watch_of(target), lock)


def deploy_stack(client, opened, target: Target, env: dict, env_file: Path, run: history.Run):
    """A stack (flows/stack.py), its app's env checked against the contract the release carries."""
    with tempfile.TemporaryDirectory(prefix="airgapkit-contract-") as tmp:
        contract, _ = seal.env_contract(opened, Path(tmp), target.env_example)
        return stack_flow.deploy(
            client, opened, target, app_env=env, app_env_file=env_file, app_contract=contract,
            run=run,
        )  # fmt: skip


def predeploy(client, ref: str, env: dict, target: Target, run: history.Run) -> None:
    """The one-off command from the new image, before the running container is touched; its
    outcome goes in the history either way."""
    stack_flow.noted_predeploy(
        run,
        lambda: oneoff.run_once(client, ref, target.predeploy, env=env, log_dir=target.log_dir),
    )


def replace(client, ref: str, name: str, env: dict, watch: lifecycle.Watch, lock):
    """Finish or undo a deploy of name that was killed half-way, then put ref in its place."""
    found = interrupted.find_interrupted(client, name, lock.stale)
    if found is not None:
        interrupted.recover(client, found, watch)
    return lifecycle.replace(client, ref, name, env=env, watch=watch, note=lock.note)


def refuse_redeploy(client, name: str, held: list[dict], bundle: Path) -> None:
    """A delta whose image runs as ``name`` already was applied here before: nothing to do. (Held
    but not running, after a rolled-back deploy, it is deployed again without loading.)"""
    current = lifecycle.find(client, name)
    running = current.attrs["Image"] if current is not None and current.status == "running" else ""
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
        raise AirgapError(
            f"environment {target.environment} runs on a swarm: roll its service back with "
            f"`docker service rollback {fleet.service_name(target, name)}`"
        )
    with container_lock(name, "rollback") as lock:
        interrupted.rollback(client, name, watch_of(target), lock.stale)


def debug_shell_argv(client, target: Target, image: str) -> list[str]:
    """Exec into the environment's running container, else a fresh one with its env file."""
    if target.is_swarm:
        return fleet.debug_shell_argv(client, target, image)
    name = target.name or default_container_name(image)
    warn_if_interrupted(client, name, target)
    if _is_running(client, name):
        return containers.shell_argv(client, container=name)
    env_file = env_file_of(target)
    argv = containers.shell_argv(client, image=image)
    return [*argv[:-2], "--env-file", str(env_file), *argv[-2:]]


def warn_if_interrupted(client, name: str, target: Target) -> None:
    """Say so when a killed deploy left name half replaced; change nothing."""
    found = interrupted.find_interrupted(client, name)
    if found is not None:
        rollback = f"inv rollback --env {target.environment}"
        rollback += f" --name {name}" if target.name else ""
        console.print(
            f"warning: {found.describe()}; `{rollback}` puts the previous container back, "
            "`inv deploy` finishes or undoes it first"
        )


def _is_running(client, name: str) -> bool:
    container = lifecycle.find(client, name)
    return container is not None and container.status == "running"
