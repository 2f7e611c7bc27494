"""A stack on one engine through Docker Compose v2: the smoke test on the dev side, and ``target:
compose`` on test/prod.

Compose reads the file (``docker compose``, the CLI plugin); airgapkit writes the file, starts
Compose, and reads what it left through the engine's labels (``com.docker.compose.project``,
``com.docker.compose.service``) to say which service failed, with its last log lines.

The smoke test isolates the stack: every service joins one network of its own made ``internal``
(no route out of it, none in from the host), no port is published, host paths are dropped, and
nothing is pulled or built. Before the stack is judged, every container is checked to be on that
network alone with no published port; then every service must be running (and healthy, where it
has a health check) and the app must answer its health path from inside its own container.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import docker

from .. import display
from ..errors import AirgapError, RolledBack
from ..fsutil import write_atomic
from . import containers
from .client import console, engine_errors
from .oneoff import Outcome, PredeployFailed, argv

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
SMOKE_NETWORK = "airgapkit-smoke"
_INSTALL = (
    "install Docker Compose v2 as a docker CLI plugin (Debian 13: apt-get install docker-compose; "
    "elsewhere the docker-compose-plugin package, see docs/stacks.md)"
)


def cli() -> list[str]:
    """``docker compose`` as argv, once it answered; else one line saying how to install it."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise AirgapError("the docker command-line client is not installed; " + _INSTALL)
    probe = subprocess.run(
        [docker_cli, "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    version = probe.stdout.strip()
    if probe.returncode != 0 or not version or version.startswith("1."):
        raise AirgapError(f"docker compose does not answer as Compose v2 here; {_INSTALL}")
    return [docker_cli, "compose", "--ansi", "never", "--progress", "plain"]


def compose(project: str, file: Path, args: list[str], cwd: Path | None = None) -> int:
    """Run one ``docker compose`` command (``args``) on the project; its progress goes to stderr."""
    argv = [*cli(), "--project-name", project, "--file", str(file), *args]
    return subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, check=False).returncode


def up(project: str, file: Path, timeout: int) -> bool:
    """``up --wait``: every service running, and healthy where it has a check; never pulls or builds."""
    code = compose(
        project,
        file,
        [
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            str(timeout),
            "--pull",
            "never",
            "--no-build",
            "--remove-orphans",
        ],
    )
    return code == 0


def down(project: str, file: Path) -> None:
    compose(project, file, ["down", "--volumes", "--remove-orphans", "--timeout", "5"])


# --- what runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceState:
    service: str
    container: str
    image: str
    state: str  # running, exited, ...
    health: str  # healthy, unhealthy, starting, "" (no check)
    exit_code: int
    named: str = ""  # the image's name (the label pinned files carry), "" when unknown

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")


def states(client, project: str) -> list[ServiceState]:
    """Every container of the project (one-off runs left out), by service."""
    with engine_errors(f"list the containers of {project}"):
        found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    out = []
    for container in found:
        labels = container.labels
        if labels.get(ONEOFF_LABEL) == "True":
            continue
        state = container.attrs["State"]
        out.append(
            ServiceState(
                service=labels.get(SERVICE_LABEL, "?"),
                container=container.name,
                image=container.attrs["Config"]["Image"],
                state=state.get("Status", ""),
                health=(state.get("Health") or {}).get("Status", ""),
                exit_code=int(state.get("ExitCode") or 0),
                named=labels.get("org.airgapkit.image", ""),
            )
        )
    return sorted(out, key=lambda s: (s.service, s.container))


def failures(client, project: str, log_dir: Path) -> list[str]:
    """One line per container that is not running healthy, its whole log kept in ``log_dir`` (the
    last lines shown); the services that are fine are not named."""
    lines = []
    for state in states(client, project):
        if state.ok:
            continue
        how = f"{state.state} (exit {state.exit_code})"
        if state.state == "running":  # starting: its health check had not passed in the time given
            how = "not healthy in time (starting)" if state.health == "starting" else state.health
        kept = _keep_log(client, state.container, log_dir)
        lines.append(f"service {state.service} ({state.container}) is {how}{kept}")
    return lines


def _keep_log(client, name: str, log_dir: Path) -> str:
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return ""
    path = containers.keep_log(container, log_dir)
    return f"; its log is kept in {path}" if path else ""


# --- the smoke test --------------------------------------------------------------------------------


def smoke_test(
    client, doc_file: Path, *, app_service: str, probe: list[str], timeout: int, log_dir: Path
) -> None:
    """Start the stack of ``doc_file`` (made by ``app.compose.for_smoke``) under a project of its
    own, judge it (see the module's description), and remove it, volumes included."""
    project = f"airgapkit-smoke-{uuid.uuid4().hex[:8]}"
    console.print(f"smoke test of the stack: project {project}, network {SMOKE_NETWORK} internal")
    try:
        healthy = up(project, doc_file, timeout)
        check_isolated(client, project)
        if not healthy:
            raise AirgapError(
                "smoke test of the stack failed: "
                + ("; ".join(failures(client, project, log_dir)) or "docker compose up failed")
            )
        answered = _exec(client, project, app_service, probe)
        if answered is not None:
            raise AirgapError(f"smoke test of the stack failed: the app service {answered}")
    finally:
        down(project, doc_file)
    console.print(f"smoke test of the stack passed: {project}")


def check_isolated(client, project: str) -> None:
    """Every container of the smoke project is on its internal network alone, with no port."""
    with engine_errors(f"inspect the containers of {project}"):
        found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        for container in found:
            settings = container.attrs["NetworkSettings"]
            published = [p for p in (settings.get("Ports") or {}).values() if p]
            networks = list((settings.get("Networks") or {}).keys())
            internal = all(
                client.networks.get(n).attrs.get("Internal") for n in networks if n != "none"
            )
            if published or not internal:
                raise AirgapError(
                    f"smoke test: container {container.name} is not isolated (networks "
                    f"{', '.join(networks)}, published {published}); refusing to go on"
                )


def _exec(client, project: str, service: str, probe: list[str]) -> str | None:
    """Run the app's health probe inside its container; None when it passed, else why not."""
    running = [s for s in states(client, project) if s.service == service and s.state == "running"]
    if not running:
        return f"{service} does not run"
    with engine_errors(f"probe the health of {service}"):
        result = client.containers.get(running[0].container).exec_run(probe)
    if result.exit_code != 0:
        return f"{service} did not answer its health path (probe exit {result.exit_code})"
    return None


# --- target: compose -------------------------------------------------------------------------------


def deploy(
    client, *, project: str, file: Path, previous: Path | None, timeout: int, log_dir: Path
) -> None:
    """``up --wait`` with the new file; when a service fails, its log is kept and the previous file
    is brought up the same way (nothing before: the project is removed), and the deploy fails
    naming the service."""
    console.print(f"docker compose up --wait: project {project}")
    if up(project, file, timeout):
        return
    failed = failures(client, project, log_dir) or ["docker compose up failed (see above)"]
    said = "; ".join(failed)
    if previous is None:
        down(project, file)
        raise AirgapError(f"project {project}: {said}; nothing ran before: the project is removed")
    console.print(f"bringing back the previous stack of project {project}")
    if not up(project, previous, timeout):
        again = "; ".join(failures(client, project, log_dir))
        raise AirgapError(
            f"project {project}: {said}; the previous stack was brought back but is not healthy "
            f"either: {again}; see `docker compose -p {project} ps`"
        )
    raise RolledBack(f"project {project}: {said}; the previous stack runs again")


def run_once(project: str, file: Path, service: str, command, log_dir: Path) -> Outcome:
    """The predeploy command once, in a one-off container of ``service`` (``docker compose run``:
    the service's env file and networks, no other service started); PredeployFailed on failure."""
    words = argv(command)
    console.print(f"predeploy: {' '.join(words)} in a one-off {service} of project {project}")
    started = time.monotonic()
    ran = subprocess.run(
        [
            *cli(),
            "--project-name",
            project,
            "--file",
            str(file),
            "run",
            "--rm",
            "--no-deps",
            "-T",
            service,
            *words,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    outcome = Outcome(" ".join(words), ran.returncode, round(time.monotonic() - started, 1))
    if ran.returncode != 0:
        raise PredeployFailed(outcome, _keep_output(ran.stdout, f"{project}-predeploy", log_dir))
    console.print(f"predeploy passed in {outcome.seconds} s")
    return outcome


def _keep_output(output: bytes, stem: str, log_dir: Path) -> Path | None:
    """A one-off's whole output in a file of its own (0600), its last lines shown."""
    tail = deque(output.splitlines(), maxlen=containers.TAIL_LINES)
    console.print(f"the last {len(tail)} lines of its output:")
    for line in tail:
        console.print(f"  {containers.printable(line)}")
    try:
        Path(log_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return write_atomic(Path(log_dir) / f"{stem}-{stamp}.log", output, mode=0o600)
    except OSError as exc:
        display.warn(f"the output could not be kept: {exc}")
        return None
