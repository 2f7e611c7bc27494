"""A stack on Docker Swarm (``target: stack``): ``docker stack deploy``, every service watched, and
every service put back on its previous spec when one fails.

Docker's own Compose reader does the work: ``docker stack deploy`` reads the pinned file airgapkit
wrote and creates or updates each service (``com.docker.stack.namespace`` labels them). Each
service's ``update_config`` says ``failure_action: rollback``, so Swarm rolls a failing service back
by itself; airgapkit watches every service whose spec changed until its update completes, and when
one fails it rolls back the others that were updated (``docker service rollback``) and removes the
ones this deploy created, so the whole stack is back where it was. A swarm is never initialised
here: ``swarm.require_manager`` says how.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..environments import Registry
from ..errors import AirgapError, RolledBack
from . import swarm
from .client import console, engine_errors

NAMESPACE_LABEL = "com.docker.stack.namespace"
POLL = 0.5
FAILED_TASKS = 3  # a new service whose tasks failed this often is not coming up
_FAILED = ("failed", "rejected", "shutdown", "orphaned")
_ROLLED_BACK = ("rollback_started", "rollback_paused", "rollback_completed", "paused")


def services(client, stack: str) -> dict[str, dict]:
    """Every service of the stack: name -> its attributes (spec, version, update status)."""
    with engine_errors(f"list the services of stack {stack}"):
        found = client.api.services(filters={"label": f"{NAMESPACE_LABEL}={stack}"})
    return {s["Spec"]["Name"]: s for s in found}


def docker_cli() -> str:
    found = shutil.which("docker")
    if found is None:
        raise AirgapError(
            "the docker command-line client is not installed; docker stack deploy needs it "
            "(Debian: apt-get install docker.io)"
        )
    return found


@contextmanager
def cli_config(registry: Registry | None) -> Iterator[dict]:
    """The environment for the docker CLI: with a registry user, a config folder of its own that
    ``docker login`` fills (the password on stdin), so ``--with-registry-auth`` hands the nodes
    credentials; removed at the end."""
    auth = registry.auth_config() if registry is not None else None
    if auth is None:
        yield dict(os.environ)
        return
    with tempfile.TemporaryDirectory(prefix="airgapkit-docker-") as folder:
        env = {**os.environ, "DOCKER_CONFIG": folder}
        login = subprocess.run(
            [
                docker_cli(),
                "login",
                "--username",
                auth["username"],
                "--password-stdin",
                registry.address,
            ],
            input=auth["password"],
            text=True,
            capture_output=True,
            env=env,
            check=False,
        )
        if login.returncode != 0:
            raise AirgapError(
                f"registry {registry.address} refuses user {registry.username} "
                f"({' '.join(login.stderr.split())}); check this environment's registry settings"
            )
        yield env


def deploy(client, stack: str, file: Path, *, timeout: float, registry: Registry | None) -> None:
    """``docker stack deploy`` the file, then watch; see the module's description."""
    before = services(client, stack)
    with cli_config(registry) as env:
        argv = [
            docker_cli(),
            "stack",
            "deploy",
            "--compose-file",
            str(file),
            "--with-registry-auth",
            "--resolve-image",
            "never",
            stack,
        ]
        console.print(f"docker stack deploy {stack}")
        deployed = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if deployed.returncode != 0:
        said = " ".join(deployed.stderr.split()) or f"exit {deployed.returncode}"
        raise AirgapError(f"docker stack deploy of {stack} failed: {said}")
    after = services(client, stack)
    changed = {
        name: s for name, s in after.items() if name not in before or _differs(before[name], s)
    }
    console.print(f"stack {stack}: {len(changed)} of {len(after)} services change; watching them")
    failed = watch(client, changed, before, timeout)
    if failed:
        undo(client, changed, before, failed, timeout)
        lines = [
            f"stack {stack}: service {', '.join(failed)} failed its update; every service of the "
            "stack is back on its previous spec"
        ]
        for name in failed:
            lines += _task_lines(client, name, changed[name])
        raise RolledBack("\n".join(lines))


def _differs(before: dict, after: dict) -> bool:
    return json.dumps(before["Spec"], sort_keys=True) != json.dumps(after["Spec"], sort_keys=True)


# --- watching --------------------------------------------------------------------------------------


def watch(client, changed: dict[str, dict], before: dict[str, dict], timeout: float) -> list[str]:
    """Poll every changed service until each is done or failed; the failed ones' names."""
    deadline = time.monotonic() + timeout
    pending = dict(changed)
    failed: list[str] = []
    while pending:
        for name, deployed in list(pending.items()):
            state = progress(client, deployed, before.get(name))
            if state != "pending":
                pending.pop(name)
                if state == "failed":
                    failed.append(name)
                    console.print(f"service {name} failed")
                else:
                    console.print(f"service {name} runs its new spec")
        if pending and time.monotonic() > deadline:
            console.print(f"still not done after {timeout:.0f} s: {', '.join(pending)}")
            return failed + list(pending)
        if pending:
            time.sleep(POLL)
    return failed


def progress(client, deployed: dict, before: dict | None) -> str:
    """``done``, ``failed`` or ``pending`` for one service as deployed (``before``: its attributes
    before the deploy, None for a new service)."""
    with engine_errors(f"watch service {deployed['Spec']['Name']}"):
        now = client.api.inspect_service(deployed["ID"])
        tasks = client.api.tasks(filters={"service": deployed["ID"]})
    update = now.get("UpdateStatus") or {}
    earlier = ((before or {}).get("UpdateStatus") or {}).get("StartedAt")
    fresh = update.get("StartedAt") not in (None, earlier)
    if fresh and update.get("State") in _ROLLED_BACK:
        return "failed" if _settled(update.get("State"), tasks, now) else "pending"
    image = _image(now["Spec"])
    current = [t for t in tasks if _image(t["Spec"]) == image]
    running = [t for t in current if t["Status"]["State"] == "running" and _wanted(t)]
    stale = [t for t in tasks if _image(t["Spec"]) != image and t["Status"]["State"] == "running"]
    enough = len(running) >= _replicas(now) and not stale
    if before is not None and before["Spec"].get("TaskTemplate") != now["Spec"].get("TaskTemplate"):
        return "done" if fresh and update.get("State") == "completed" and enough else "pending"
    if before is None and sum(t["Status"]["State"] in _FAILED for t in current) >= FAILED_TASKS:
        return "failed"
    return "done" if enough else "pending"


def _settled(state: str, tasks: list[dict], service: dict) -> bool:
    """Swarm's own rollback is over: paused, or complete with every replica running again."""
    if state != "rollback_completed":
        return state != "rollback_started"
    running = [t for t in tasks if _wanted(t) and t["Status"]["State"] == "running"]
    return len(running) >= _replicas(service)


def _wanted(task: dict) -> bool:
    return task.get("DesiredState") == "running"


def _replicas(service: dict) -> int:
    mode = service["Spec"].get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas", 1)) if "Replicated" in mode else 1


def _image(spec: dict) -> str:
    return (spec.get("TaskTemplate", spec).get("ContainerSpec") or {}).get("Image", "")


def _task_lines(client, name: str, deployed: dict) -> list[str]:
    """The failed tasks of the spec this deploy gave the service, with their last log lines."""
    with engine_errors(f"read the tasks of {name}"):
        service = client.services.get(deployed["ID"])
        tasks = [t for t in service.tasks() if _image(t["Spec"]) == _image(deployed["Spec"])]
    failed = [t for t in tasks if t["Status"]["State"] != "running"]
    return swarm.failed_task_lines(client, service, failed)


# --- undoing ---------------------------------------------------------------------------------------


def undo(
    client, changed: dict[str, dict], before: dict[str, dict], failed: list[str], timeout: float
) -> None:
    """Every changed service back as it was: new ones removed, updated ones rolled back (Swarm
    has rolled back a failed one itself), and each watched until its rollback is over."""
    rolling = []
    for name, deployed in changed.items():
        if name not in before:
            console.print(f"removing service {name}: it did not run before this deploy")
            with engine_errors(f"remove service {name}"):
                client.api.remove_service(deployed["ID"])
        elif not _rolled_back_by_swarm(client, deployed, before[name]):
            console.print(f"rolling service {name} back to its previous spec")
            subprocess.run(
                [docker_cli(), "service", "rollback", "--detach", "--quiet", name],
                check=False,
                capture_output=True,
            )
            rolling.append(name)
    deadline = time.monotonic() + timeout
    for name in rolling:
        while time.monotonic() < deadline and not _back(client, changed[name], before[name]):
            time.sleep(POLL)


def _rolled_back_by_swarm(client, deployed: dict, before: dict) -> bool:
    now = client.api.inspect_service(deployed["ID"])
    update = now.get("UpdateStatus") or {}
    earlier = (before.get("UpdateStatus") or {}).get("StartedAt")
    return update.get("StartedAt") != earlier and update.get("State") in _ROLLED_BACK


def _back(client, deployed: dict, before: dict) -> bool:
    now = client.api.inspect_service(deployed["ID"])
    if now["Spec"].get("TaskTemplate") != before["Spec"].get("TaskTemplate"):
        return False
    state = (now.get("UpdateStatus") or {}).get("State")
    tasks = client.api.tasks(filters={"service": deployed["ID"]})
    return state in (None, "rollback_completed", "completed") and _settled(
        "rollback_completed", tasks, now
    )


# --- what runs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceView:
    name: str
    image: str
    wanted: int
    running: int
    update: str


def status(client, stack: str) -> list[ServiceView]:
    views = []
    for name, service in sorted(services(client, stack).items()):
        with engine_errors(f"read the tasks of {name}"):
            tasks = client.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
        update = service.get("UpdateStatus") or {}
        views.append(
            ServiceView(
                name=name,
                image=_image(service["Spec"]),
                wanted=_replicas(service),
                running=sum(t["Status"]["State"] == "running" for t in tasks),
                update=" ".join(filter(None, [update.get("State"), update.get("Message")])),
            )
        )
    return views
