"""A one-off command from an image before a deploy switches anything (``predeploy``): a database
migration, say. It runs once, in a container of its own with the environment's env values and
networks, after everything is verified and loaded and before anything running is touched.

Its failure stops the deploy: the exit code and the last log lines (the whole log kept in
``log_dir``) are the deploy's error, and nothing was replaced.
"""

from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import AirgapError
from ..oci.reference import default_container_name
from . import containers
from .client import console, engine_errors


@dataclass(frozen=True)
class Outcome:
    """What the history keeps of a predeploy: the command, its exit code, how long it ran."""

    command: str
    exit_code: int
    seconds: float

    def record(self) -> dict:
        return {"command": self.command, "exit_code": self.exit_code, "seconds": self.seconds}


class PredeployFailed(AirgapError):
    """The one-off command failed; nothing running was touched. ``outcome`` goes to the history."""

    def __init__(self, outcome: Outcome, log: Path | None):
        self.outcome = outcome
        kept = f"; its log is kept in {log}" if log else ""
        super().__init__(
            f"the predeploy command {outcome.command} exited with code {outcome.exit_code}"
            f"{kept}; nothing was replaced"
        )


def argv(command) -> list[str]:
    """The configured command as argv: a string is split as a shell would, a list is taken as is."""
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def run_once(
    client,
    image: str,
    command,
    *,
    env: dict,
    networks: tuple[str, ...] = (),
    log_dir: Path = Path("logs"),
) -> Outcome:
    """Run ``command`` once from ``image``; PredeployFailed when it exits non-zero."""
    words = argv(command)
    name = f"{default_container_name(image)}-predeploy-{uuid.uuid4().hex[:6]}"
    console.print(f"predeploy: {shlex.join(words)} in {name}")
    started = time.monotonic()
    with engine_errors(f"run the predeploy command in {name}"):
        container = client.containers.create(
            image,
            command=words,
            name=name,
            environment=dict(env),
            detach=True,
            init=True,
            network=networks[0] if networks else None,
        )
    try:
        with engine_errors(f"run the predeploy command in {name}"):
            for network in networks[1:]:
                client.networks.get(network).connect(container)
            container.start()
            code = int(container.wait().get("StatusCode", 1))
        outcome = Outcome(shlex.join(words), code, round(time.monotonic() - started, 1))
        if code != 0:
            raise PredeployFailed(outcome, containers.keep_log(container, log_dir))
    finally:
        containers.discard(container)
    console.print(f"predeploy passed in {outcome.seconds} s")
    return outcome
