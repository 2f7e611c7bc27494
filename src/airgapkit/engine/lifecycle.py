"""A running container replaced by a new one, and put back when the new one is not healthy.

The decisions are plain functions of what the engine holds and what the health check found
(``set_aside_steps``, ``after_health``, ``restore_steps``), so each case is testable without an
engine; ``replace`` and ``trial_run`` carry them out on the engine.

A replacement under the name NAME goes:

1. set aside the container called NAME: stop it, rename it NAME-previous (a NAME-previous left by
   an interrupted earlier deploy is removed first);
2. start the new one as NAME and wait until its health path answers 200;
3. healthy: remove NAME-previous. Not healthy (or not started): remove the new one and rename
   NAME-previous back to NAME; if it was running, start it and wait for its health again.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

import docker
from docker.models.containers import Container

from ..errors import AirgapError
from ..ports import PortMapping, Ports
from . import containers
from .client import console, default_container_name, engine_errors

RUNNING = ("running", "restarting", "paused")  # states in which a container holds its ports


# --- the decisions --------------------------------------------------------------------------------


class Step(Enum):
    REMOVE_STALE = "remove the NAME-previous an interrupted deploy left"
    STOP = "stop the current container"
    RENAME_ASIDE = "rename the current container NAME-previous"
    RENAME_BACK = "rename NAME-previous back to NAME"
    START = "start the previous container again"
    WAIT = "wait for the previous container's health"


class Outcome(Enum):
    KEEP = "the new container stays; there was none before"
    KEEP_DROP_PREVIOUS = "the new container stays; the previous one is removed"
    ROLL_BACK = "the new container is removed; the previous one comes back"
    FAIL = "the new container is removed; there is nothing to go back to"


def set_aside_steps(current: str | None, stale: bool) -> list[Step]:
    """What to do with the container called NAME before its replacement starts.

    ``current`` is its status (None: there is none); ``stale``: a NAME-previous exists. With no
    current container a stale one is left alone: it is the only copy of whatever ran before.
    """
    if current is None:
        return []
    steps = [Step.REMOVE_STALE] if stale else []
    if current in RUNNING:
        steps.append(Step.STOP)
    return [*steps, Step.RENAME_ASIDE]


def after_health(healthy: bool, previous: bool) -> Outcome:
    """What happens once the new container answered (``healthy``) or did not."""
    if healthy:
        return Outcome.KEEP_DROP_PREVIOUS if previous else Outcome.KEEP
    return Outcome.ROLL_BACK if previous else Outcome.FAIL


def restore_steps(was_running: bool) -> list[Step]:
    """How the previous container comes back: in the state it was in before the deploy."""
    return [Step.RENAME_BACK, Step.START, Step.WAIT] if was_running else [Step.RENAME_BACK]


# --- carried out on the engine --------------------------------------------------------------------


@dataclass
class SetAside:
    """The container that ran under NAME, now stopped and called NAME-previous."""

    container: Container
    was_running: bool


def stale_name(name: str) -> str:
    return f"{name}-previous"


def _find(client: docker.DockerClient, name: str) -> Container | None:
    with engine_errors(f"look up container {name}"):
        try:
            return client.containers.get(name)
        except docker.errors.NotFound:
            return None


def set_aside(client: docker.DockerClient, name: str) -> SetAside | None:
    """Stop the container called name (if any) and rename it, keeping it for a rollback."""
    current = _find(client, name)
    stale = _find(client, stale_name(name))
    steps = set_aside_steps(current.status if current else None, stale is not None)
    with engine_errors(f"set container {name} aside"):
        for step in steps:
            if step is Step.REMOVE_STALE:
                stale.remove(force=True)
            elif step is Step.STOP:
                current.stop(timeout=10)
            elif step is Step.RENAME_ASIDE:
                current.rename(stale_name(name))
    return SetAside(current, current.status in RUNNING) if current else None


def restore(previous: SetAside, name: str, ports: Ports, health_path: str, timeout: int) -> None:
    """Give the previous container its name back, and its state: running and healthy, or not."""
    with engine_errors(f"put container {name} back"):
        for step in restore_steps(previous.was_running):
            if step is Step.RENAME_BACK:
                previous.container.rename(name)
            elif step is Step.START:
                previous.container.start()
    if Step.WAIT in restore_steps(previous.was_running):
        wait_healthy(
            previous.container, health_url(previous.container, ports, health_path), timeout
        )


def replace(
    client: docker.DockerClient,
    ref: str,
    name: str,
    *,
    env: dict,
    ports: Ports,
    health_path: str,
    timeout: int,
) -> Container:
    """Start ref as name; the container it replaces waits aside and comes back if ref is unhealthy."""
    previous = set_aside(client, name)
    container, failure = _start_and_check(client, ref, name, env, ports, health_path, timeout)
    outcome = after_health(failure is None, previous is not None)
    if container is not None and outcome in (Outcome.ROLL_BACK, Outcome.FAIL):
        containers.discard(container)
    if outcome is Outcome.FAIL:
        raise failure
    if outcome is Outcome.ROLL_BACK:
        _roll_back(failure, previous, name, ports, health_path, timeout)
    if outcome is Outcome.KEEP_DROP_PREVIOUS:
        containers.discard(previous.container)
    console.print(f"{name} runs {ref}, healthy at {health_url(container, ports, health_path)}")
    return container


def _start_and_check(
    client, ref: str, name: str, env: dict, ports: Ports, health_path: str, timeout: int
) -> tuple[Container | None, AirgapError | None]:
    """The new container and why it is not healthy (None when it is); a failed start included."""
    try:
        container = containers.run(
            client, ref, name=name, ports=ports, env=env, detach=True, remove=False
        )
    except AirgapError as exc:  # e.g. a port another program holds: the previous one comes back
        return None, exc
    try:
        wait_healthy(container, health_url(container, ports, health_path), timeout)
    except AirgapError as exc:
        return container, exc
    return container, None


def _roll_back(
    failure: AirgapError, previous: SetAside, name: str, ports: Ports, path: str, timeout: int
) -> NoReturn:
    """Put the previous container back; the error says why the new one failed and how it is."""
    try:
        restore(previous, name, ports, path, timeout)
    except AirgapError as again:
        either = f"the previous container {name} was put back but is not healthy either"
        raise AirgapError(f"{failure}; {either}: {again}") from again
    state = "runs again" if previous.was_running else "is back, stopped as it was"
    raise AirgapError(f"{failure}; the previous container {name} {state}") from failure


# --- health ---------------------------------------------------------------------------------------


def health_url(container: Container, ports: Ports, path: str) -> str:
    """Where the container's health path answers on this machine."""
    port = containers.host_port(container, ports)
    if port is None:  # the engine publishes a chosen port only while the container runs
        _refuse_exited(container, "its port was published")
    return ports.health_url(path, host_port=port)


def _refuse_exited(container: Container, before: str) -> None:
    """An AirgapError when the container has exited (or died), naming what it did not live to see."""
    with engine_errors(f"look up container {container.name}"):
        container.reload()
    if container.status in ("exited", "dead"):
        raise AirgapError(
            f"container {container.name} exited (code {container.attrs['State']['ExitCode']}) "
            f"before {before}; see `docker logs {container.name}`"
        )


def wait_healthy(container: Container, url: str, timeout: int) -> None:
    """Poll url until it answers 200; fail fast when the container exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        _refuse_exited(container, f"{url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.5)
    raise AirgapError(
        f"{url} did not answer 200 within {timeout} s (last: {last}); "
        f"see `docker logs {container.name}`"
    )


def free_port() -> int:
    """A loopback port nothing listens on now, for a container that is only tried."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trial_run(
    client: docker.DockerClient,
    ref: str,
    *,
    ports: Ports,
    health_path: str,
    timeout: int,
    env: dict | None = None,
) -> None:
    """Start ref on a free loopback port, wait for its health path, then remove it.

    Only the app's port is published: the image is tried, not deployed, and its other ports may be
    in use on this machine.
    """
    port = free_port()
    trial = Ports((PortMapping(ports.container_port, port, "127.0.0.1"),))
    name = f"{default_container_name(ref)}-smoke-{port}"
    url = trial.health_url(health_path)
    console.print(f"smoke test: {ref} at {url}")
    container = containers.run(
        client, ref, name=name, ports=trial, env=env, detach=True, remove=False
    )
    try:
        wait_healthy(container, url, timeout)
    finally:
        containers.discard(container)
    console.print(f"smoke test passed: {ref}")
