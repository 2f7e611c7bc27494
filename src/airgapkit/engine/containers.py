"""Containers in the Docker Engine: run (never pulling), follow, discard, and the shell's argv."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import docker
from docker.models.containers import Container

from .. import display, platform
from ..errors import AirgapError
from ..fsutil import AtomicFile
from ..oci.reference import validate_ref
from ..ports import PortMapping, Ports
from .client import console, engine_errors, explain, shell_flags, validate_container_name
from .images import require_image

DEFAULT_PORTS = Ports.parse("8080:8080")  # the procedure's docker run -p 8080:8080


def run(
    client: docker.DockerClient,
    ref: str,
    *,
    name: str,
    ports: Ports = DEFAULT_PORTS,
    env: dict | None = None,
    detach: bool = False,
    remove: bool = True,
    labels: dict[str, str] | None = None,
) -> Container:
    """``docker run --init --name NAME --rm -p PORTS --env-file FILE IMAGE``, never pulling.

    ``env`` is the env file's content (``envfiles.load``); its values are passed on, never printed.
    ``labels`` mark the container (``docker run --label``).
    """
    require_image(client, validate_ref(ref))  # containers.run would pull a missing image on its own
    validate_container_name(name)
    env = dict(env or {})
    container = _create(
        client, ref, name, ports, env, auto_remove=remove and detach, labels=labels or {}
    )
    try:
        with engine_errors(f"start container {name}", hide=env):  # the engine may quote KEY=VALUE
            container.start()
    except AirgapError as exc:
        discard(container)  # a created, never-started container would block the name
        conflict = _port_conflict(exc, ports)
        if conflict is None:
            raise  # "could not start container NAME: <the engine's words>" already
        raise conflict from exc
    console.print(
        f"started {name} ({container.short_id}) from {ref}, ports {published(ports)}, "
        f"{len(env or {})} environment variable(s)"
    )
    if detach:
        return container
    follow(client, container, name, remove)
    return container


def _create(
    client: docker.DockerClient,
    ref: str,
    name: str,
    ports: Ports,
    env: dict,
    auto_remove: bool,
    labels: dict[str, str],
) -> Container:
    with engine_errors(f"create container {name}", hide=env):
        if exists(client, name):
            raise AirgapError(
                f"a container named {name} already exists; "
                f"remove it (docker rm -f {name}) or choose another name"
            )
        # Attached runs remove the container themselves, after reading its exit status.
        return client.containers.create(
            ref,
            name=name,
            ports=ports.bindings(),
            environment=env,
            detach=True,
            auto_remove=auto_remove,
            labels=labels,
            # docker run --init: an app with no SIGTERM handler (node as PID 1 ignores it) still
            # stops at once when a deploy replaces it, instead of after the 10 s stop timeout
            init=True,
        )


def exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.containers.get(name)
        return True
    except docker.errors.NotFound:
        return False


def published(ports: Ports) -> str:
    """The mappings as ``docker ps`` shows them: ``127.0.0.1:8080->80/tcp``."""
    return ", ".join(
        f"{m.ip + ':' if m.ip else ''}{m.host or 'any'}->{m.key}" for m in ports.mappings
    )


def _port_conflict(exc: AirgapError, ports: Ports) -> AirgapError | None:
    """A start that failed on a port in use, named as such; None for any other failure."""
    if not re.search(r"address already in use|port is already allocated", str(exc)):
        return None
    taken = re.search(r"(?:listen \w+ |Bind for )\S*?:(\d+)", str(exc))
    port = taken.group(1) if taken else ", ".join(str(m.host) for m in ports.mappings)
    return AirgapError(
        f"port {port} is already in use on this machine; "
        "stop what uses it or choose another host port"
    )


def bound(container: Container, container_port: int) -> PortMapping | None:
    """How the engine published a container's TCP port, read from the container itself."""
    with engine_errors(f"look up the ports of container {container.name}"):
        container.reload()
    settings = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
    found = settings.get(f"{container_port}/tcp") or []
    if not found:
        return None
    ip = found[0].get("HostIp") or ""
    return PortMapping(container_port, int(found[0]["HostPort"]), "" if ip == "0.0.0.0" else ip)  # noqa: S104


def host_port(container: Container, ports: Ports) -> int | None:
    """The host port the engine published the app's mapping on (the one it chose, if it chose)."""
    app = ports.app
    if app.host is not None:
        return app.host
    with engine_errors(f"look up the ports of container {container.name}"):
        container.reload()
    bound = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(app.key) or []
    return int(bound[0]["HostPort"]) if bound else None


TAIL_LINES = 20  # of a failed container's log, shown before it is removed
_LONGEST_LINE = 64 * 1024  # a line without an end is cut here: memory stays flat


def keep_log(container: Container, folder: Path) -> Path | None:
    """The container's whole log in a file of its own, and its last lines shown on stderr.

    The file is private (mode 0600 in a folder of mode 0700; on Windows, owner-only ACLs): an app
    may log what its env file holds.
    Returns the file; None when it could not be written (a warning says why; the container's
    removal goes on).
    """
    folder = Path(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = folder / f"{container.name}-{stamp}-{container.short_id}.log"
    tail: deque[bytes] = deque(maxlen=TAIL_LINES)
    try:
        platform.private_folder(folder)
        with (
            engine_errors(f"read the log of {container.name}"),
            AtomicFile(dest, mode=0o600) as out,
        ):
            _copy_log(container, out.file, tail)
    except (OSError, AirgapError) as exc:
        display.warn(f"the log of {container.name} could not be kept: {exc}")
        return None
    if not tail:
        console.print(f"the log of {container.name} is empty")
    else:
        console.print(f"the last {len(tail)} lines of {container.name}'s log:")
    for line in tail:
        console.print(f"  {printable(line)}")
    return dest


def _copy_log(container: Container, out, tail: deque) -> None:
    pending = b""
    for chunk in container.logs(stream=True, follow=False, stdout=True, stderr=True):
        out.write(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        tail.extend(lines)
        pending = pending[-_LONGEST_LINE:]
    if pending:
        tail.append(pending)


def printable(line: bytes) -> str:
    """A log line as text that cannot drive the terminal (``display.safe``)."""
    return display.safe(line.decode("utf-8", errors="replace").rstrip("\r"))


CONFLICT = 409  # the engine's status for "removal of container x is already in progress"


def discard(container: Container) -> None:
    """Remove a container; the engine may have removed it already (--rm)."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != CONFLICT:  # 409: a removal in progress, the engine's own --rm first
            raise AirgapError(
                f"could not remove container {container.name}: {explain(exc)}"
            ) from exc


def follow(client: docker.DockerClient, container: Container, name: str, remove: bool) -> None:
    """Stream the container's log until it exits, or stop it on Ctrl-C; then remove it if asked."""
    try:
        with engine_errors(f"follow container {name}"):
            for chunk in container.logs(stream=True, follow=True):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            status = client.api.wait(container.id, timeout=None).get("StatusCode", 0)
    except KeyboardInterrupt:
        console.print(f"stopping {name}")
        container.stop(timeout=10)
        status = 0
    finally:
        if remove:
            discard(container)
    if status:
        raise AirgapError(f"container {name} exited with status {status}; its log is above")


def shell_argv(client: docker.DockerClient, image: str = "", container: str = "") -> list[str]:
    """The docker CLI line for an interactive shell: the SDK cannot hand over a real TTY."""
    if not shutil.which("docker"):
        raise AirgapError(
            "the docker command-line client is not installed; "
            "install it (Debian: apt-get install docker.io)"
        )
    if container:
        _require_running(client, container)
        return ["docker", "exec", shell_flags(), container, "sh"]
    require_image(client, validate_ref(image))  # docker run would pull a missing image
    return ["docker", "run", shell_flags(), "--rm", image, "sh"]


def open_shell(argv: list[str]) -> int:
    """Run the docker CLI's interactive shell ``argv`` on this terminal; the shell's exit status.

    The docker CLI gets the terminal airgapkit runs in as it is: no pseudo-terminal of airgapkit's
    own (Windows has none) and no shell in between (nothing to quote), the same on every system.
    """
    try:
        return subprocess.call([shutil.which(argv[0]) or argv[0], *argv[1:]])
    except OSError as exc:
        raise AirgapError(f"could not start {argv[0]}: {exc}; check that it is installed") from exc


def _require_running(client: docker.DockerClient, name: str) -> None:
    with engine_errors(f"look up container {name}"):
        try:
            found = client.containers.get(name)
        except docker.errors.NotFound as exc:
            raise AirgapError(
                f"no container named {name}; list running ones with docker ps"
            ) from exc
    if found.status != "running":
        raise AirgapError(f"container {name} is {found.status}, not running; start it first")
