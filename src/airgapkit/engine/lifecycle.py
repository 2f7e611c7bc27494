"""A running container replaced by a new one, and put back when the new one is not healthy.

The decisions are plain functions of what the engine holds and what the health check found
(``set_aside_steps``, ``after_health``, ``restore_steps``), so each case is testable without an
engine; ``replace`` and ``trial_run`` carry them out.

A replacement under the name NAME goes:

1. set aside the container called NAME: stop it, rename it NAME-previous;
2. start the new one as NAME and wait until its health path answers 200;
3. healthy: remove NAME-previous. Not healthy (or not started): keep the new one's log in a file,
   remove it, and rename NAME-previous back to NAME; if it was running, start it and wait for its
   health again.

A NAME-previous that is still there when a replacement starts means an earlier one was killed
between 1 and 3: ``interrupted.recover`` finishes or undoes it first.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NoReturn

import docker
from docker.models.containers import Container

from ..errors import AirgapError, RolledBack
from ..oci.reference import default_container_name
from ..ports import PortMapping, Ports
from . import containers
from .client import console, engine_errors

RUNNING = ("running", "restarting", "paused")  # states in which a container holds its ports


@dataclass(frozen=True)
class Watch:
    """How a container is judged healthy, and where the log of a failed one is kept."""

    ports: Ports
    health_path: str = "/health"
    timeout: int = 60
    log_dir: Path = Path("logs")


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

    ``current`` is its status (None: there is none); ``stale``: a NAME-previous exists, which
    ``recover`` resolves first, so here it is only removed when a current container replaces it.
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


def find(client: docker.DockerClient, name: str) -> Container | None:
    with engine_errors(f"look up container {name}"):
        try:
            return client.containers.get(name)
        except docker.errors.NotFound:
            return None


Note = Callable[..., None]  # records what a killed run leaves for the next one (locks.Lock.note)


def set_aside(client: docker.DockerClient, name: str, note: Note | None = None) -> SetAside | None:
    """Stop the container called name (if any) and rename it, keeping it for a rollback.

    ``note`` hears, before anything changes, which container is set aside and whether it ran: a
    deploy killed after the stop still knows that it should run again.
    """
    current = find(client, name)
    stale = find(client, stale_name(name))
    steps = set_aside_steps(current.status if current else None, stale is not None)
    if current is not None and note is not None:
        note(previous_id=current.id, previous_was_running=current.status in RUNNING)
    with engine_errors(f"set container {name} aside"):
        for step in steps:
            if step is Step.REMOVE_STALE:
                stale.remove(force=True)
            elif step is Step.STOP:
                current.stop(timeout=10)
            elif step is Step.RENAME_ASIDE:
                current.rename(stale_name(name))
    return SetAside(current, current.status in RUNNING) if current else None


def restore(previous: SetAside, name: str, watch: Watch) -> None:
    """Give the previous container its name back, and its state: running and healthy, or not."""
    with engine_errors(f"put container {name} back"):
        for step in restore_steps(previous.was_running):
            if step is Step.RENAME_BACK:
                previous.container.rename(name)
            elif step is Step.START:
                previous.container.start()
    if Step.WAIT in restore_steps(previous.was_running):
        url = own_health_url(previous.container, watch)
        wait_healthy(previous.container, url, watch.timeout)


def replace(
    client: docker.DockerClient,
    ref: str,
    name: str,
    *,
    env: dict,
    watch: Watch,
    note: Note | None = None,
) -> Container:
    """Start ref as name; the container it replaces waits aside and comes back if ref is unhealthy."""
    previous = set_aside(client, name, note)
    container, failure = _start_and_check(client, ref, name, env, watch)
    outcome = after_health(failure is None, previous is not None)
    if container is not None and outcome in (Outcome.ROLL_BACK, Outcome.FAIL):
        failure = drop_failed(container, failure, watch.log_dir)
    if outcome is Outcome.FAIL:
        raise failure
    if outcome is Outcome.ROLL_BACK:
        _roll_back(failure, previous, name, watch)
    if outcome is Outcome.KEEP_DROP_PREVIOUS:
        containers.discard(previous.container)
    url = health_url(container, watch.ports, watch.health_path)
    console.print(f"{name} runs {ref}, healthy at {url}")
    return container


def _start_and_check(
    client, ref: str, name: str, env: dict, watch: Watch
) -> tuple[Container | None, AirgapError | None]:
    """The new container and why it is not healthy (None when it is); a failed start included."""
    try:
        container = containers.run(
            client, ref, name=name, ports=watch.ports, env=env, detach=True, remove=False
        )
    except AirgapError as exc:  # e.g. a port another program holds: the previous one comes back
        return None, exc
    return container, health_failure(container, watch)


def health_failure(container: Container, watch: Watch) -> AirgapError | None:
    """Why the container is not healthy within the watch's timeout; None when it answers."""
    try:
        wait_healthy(
            container, health_url(container, watch.ports, watch.health_path), watch.timeout
        )
    except AirgapError as exc:
        return exc
    return None


def drop_failed(container: Container, failure: AirgapError, log_dir: Path) -> AirgapError:
    """Keep a failed container's log in a file, show its last lines, remove it.

    Returns the failure with the log file named: once the container is gone, `docker logs` cannot
    show it any more (under its name it would show the restored container's).
    """
    log = containers.keep_log(container, log_dir)
    containers.discard(container)
    kept = f"its log is kept in {log}" if log else "its log could not be kept (see above)"
    error = AirgapError(f"{failure}; {kept}")
    error.__cause__ = failure
    return error


def _roll_back(failure: AirgapError, previous: SetAside, name: str, watch: Watch) -> NoReturn:
    """Put the previous container back; the error says why the new one failed and how it is."""
    try:
        restore(previous, name, watch)
    except AirgapError as again:
        either = f"the previous container {name} was put back but is not healthy either"
        raise AirgapError(f"{failure}; {either}: {again}; see `docker logs {name}`") from again
    state = "runs again" if previous.was_running else "is back, stopped as it was"
    raise RolledBack(f"{failure}; the previous container {name} {state}") from failure


# --- health ---------------------------------------------------------------------------------------


def own_health_url(container: Container, watch: Watch) -> str:
    """Where a container made by an earlier run answers: as its own ports were published then."""
    published = containers.bound(container, watch.ports.container_port)
    if published is None:
        _refuse_exited(container, "its port was published")
        raise AirgapError(
            f"container {container.name} publishes no port {watch.ports.container_port}/tcp; "
            "check it with `docker port` and the configured ports"
        )
    return Ports((published,)).health_url(watch.health_path)


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
            f"before {before}"
        )


HEALTH_FIRST_PAUSE, HEALTH_PAUSE = 0.05, 0.5  # seconds between two polls of a health path


def wait_healthy(container: Container, url: str, timeout: int) -> None:
    """Poll url until it answers 200; fail fast when the container exits. The pause between two
    polls grows from 50 ms to half a second: an app up in a moment is not kept waiting."""
    deadline = time.monotonic() + timeout
    last, pause = "no answer", HEALTH_FIRST_PAUSE
    while time.monotonic() < deadline:
        _refuse_exited(container, f"{url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(pause)
        pause = min(2 * pause, HEALTH_PAUSE)
    raise AirgapError(f"{url} did not answer 200 within {timeout} s (last: {last})")


def free_port() -> int:
    """A loopback port nothing listens on now, for a container that is only tried."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SMOKE_LABEL = "org.airgapkit.smoke"  # on a trial's container: the name its trials share


def trial_run(
    client: docker.DockerClient, ref: str, *, watch: Watch, env: dict | None = None
) -> None:
    """Start ref on a free loopback port, wait for its health path, then remove it.

    Only the app's port is published: the image is tried, not deployed, and its other ports may be
    in use on this machine. A failed trial's log is kept in ``watch.log_dir``. The caller holds
    the trials' lock (``trials_of``): a trial container of the same name found now is a killed
    run's, and is removed first.
    """
    port = free_port()
    trial = Ports((PortMapping(watch.ports.container_port, port, "127.0.0.1"),))
    name = f"{trials_of(ref)}-smoke-{port}"
    url = trial.health_url(watch.health_path)
    remove_killed_trials(client, ref)
    console.print(f"smoke test: {ref} at {url}")
    container = containers.run(
        client,
        ref,
        name=name,
        ports=trial,
        env=env,
        detach=True,
        remove=False,
        labels={SMOKE_LABEL: trials_of(ref)},
    )
    try:
        wait_healthy(container, url, watch.timeout)
    except AirgapError as failure:
        raise drop_failed(container, failure, watch.log_dir) from failure
    finally:
        containers.discard(container)
    console.print(f"smoke test passed: {ref}")


def trials_of(ref: str) -> str:
    """The name the trials of ref share: one trial of it at a time (the caller's lock)."""
    return default_container_name(ref)


def remove_killed_trials(client: docker.DockerClient, ref: str) -> None:
    """Remove the trial containers of ref that a killed run left (running, or not), and say so."""
    with engine_errors(f"look up the smoke test containers of {ref}"):
        left = client.containers.list(
            all=True, filters={"label": f"{SMOKE_LABEL}={trials_of(ref)}"}
        )
    for container in left:
        containers.discard(container)
        console.print(
            f"removed {container.name} ({container.status}), left by a smoke test that was killed"
        )
