"""A replacement of a container that a killed run left half done: seen, finished or undone.

A deploy killed between setting NAME's container aside and its end leaves NAME-previous (stopped)
and perhaps a new container under NAME that may never answer. The next command for NAME sees it
(``find_interrupted``, ``Interrupted.describe``); the next deploy finishes it when the new
container answers, else undoes it (``recover``, its decision ``recovery``); ``rollback`` undoes it
whatever the new container's health.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import docker
from docker.models.containers import Container

from ..errors import AirgapError
from . import containers
from .client import console
from .lifecycle import (
    RUNNING,
    SetAside,
    Watch,
    find,
    own_health_url,
    restore,
    stale_name,
    wait_healthy,
)


class Recovery(Enum):
    NONE = "nothing was interrupted"
    FINISH = "the interrupted deploy's container answers: it stays, NAME-previous is removed"
    UNDO = "the interrupted deploy's container is removed, NAME-previous comes back"


def recovery(previous: bool, current: str | None, current_healthy: bool) -> Recovery:
    """What a deploy does first about a NAME-previous an interrupted one left (``previous``).

    ``current`` is the status of the container called NAME (None: there is none), and
    ``current_healthy`` whether its health path answers.
    """
    if not previous:
        return Recovery.NONE
    if current in RUNNING and current_healthy:
        return Recovery.FINISH
    return Recovery.UNDO


@dataclass
class Interrupted:
    """What a killed replacement left: maybe a new container under NAME, the old one aside."""

    name: str
    current: Container | None
    previous: Container
    previous_was_running: bool

    def describe(self) -> str:
        now = (
            f"{self.name} holds {_image(self.current)} ({self.current.status})"
            if self.current
            else f"no container is called {self.name}"
        )
        return (
            f"found an interrupted deploy of {self.name}: {now}, and {stale_name(self.name)} "
            f"holds {_image(self.previous)} ({self.previous.status})"
        )


def state(client: docker.DockerClient, name: str, rollback: str) -> str:
    """In one line, what runs as ``name`` now (after a Ctrl-C): a half-done replacement with the
    ``rollback`` command that undoes it, or the container called ``name`` as it is."""
    try:
        found = find_interrupted(client, name)
        current = found.current if found else find(client, name)
    except AirgapError as exc:
        return f"the state of {name} could not be read ({exc}); see `docker ps -a`"
    if found is not None:
        return (
            f"{found.describe()}; `{rollback}` puts the previous container back, `inv deploy` "
            "finishes or undoes it"
        )
    if current is None:
        return f"no container is called {name}"
    return f"{name} holds {_image(current)} ({current.status})"


def _image(container: Container) -> str:
    tags = container.image.tags if container.image else []
    return tags[0] if tags else container.attrs.get("Config", {}).get("Image", "an image")


def find_interrupted(
    client: docker.DockerClient, name: str, earlier: dict | None = None
) -> Interrupted | None:
    """The replacement of name that a killed run left half done, if any.

    ``earlier`` is what that run noted (``set_aside``'s note): whether the container it set aside
    was running. Without it, the set-aside container is taken to have run: it was the one in use.
    """
    previous = find(client, stale_name(name))
    if previous is None:
        return None
    was_running = True
    if earlier and earlier.get("previous_id") == previous.id:
        was_running = bool(earlier.get("previous_was_running"))
    return Interrupted(name, find(client, name), previous, was_running)


def recover(client: docker.DockerClient, found: Interrupted, watch: Watch) -> Recovery:
    """Finish the interrupted replacement when its container answers, else undo it; say which."""
    console.print(found.describe())
    current = found.current
    healthy = current is not None and current.status in RUNNING
    healthy = healthy and _answers(current, watch)
    decision = recovery(True, current.status if current else None, healthy)
    if decision is Recovery.FINISH:
        containers.discard(found.previous)
        console.print(f"finished it: {found.name} answers; {stale_name(found.name)} is removed")
    else:
        undo(found, watch)
    return decision


def undo(found: Interrupted, watch: Watch) -> None:
    """Remove the interrupted replacement's container (its log kept) and put the previous back."""
    if found.current is not None:
        log = containers.keep_log(found.current, watch.log_dir)
        containers.discard(found.current)
        console.print(
            f"removed {found.name} of the interrupted deploy; its log: {log or 'not kept'}"
        )
    restore(SetAside(found.previous, found.previous_was_running), found.name, watch)
    state = "runs again" if found.previous_was_running else "is back, stopped as it was"
    console.print(f"the previous container {found.name} {state}")


def rollback(
    client: docker.DockerClient, name: str, watch: Watch, earlier: dict | None = None
) -> None:
    """Put NAME-previous back under NAME, whatever the new container's health."""
    found = find_interrupted(client, name, earlier)
    if found is None:
        raise AirgapError(
            f"nothing to roll back: there is no container {stale_name(name)} (a deploy that "
            "finished removes it); deploy the earlier release bundle again"
        )
    console.print(found.describe())
    undo(found, watch)


def _answers(container: Container, watch: Watch) -> bool:
    """Whether a container an earlier run started answers its health path (on its own port)."""
    try:
        wait_healthy(container, own_health_url(container, watch), watch.timeout)
    except AirgapError:
        return False
    return True
