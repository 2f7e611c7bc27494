"""Push a loaded image into the environment's registry and pin it by the digest the registry holds.

Every swarm node pulls the app from the registry inside the gap, by digest: the pinned reference
``registry/name:tag@sha256:...`` names the exact bytes, whatever happens to the tag later. The digest
the push reports is checked against the one the registry answers for the tag, asked through the
engine (with the engine's own trust settings and the same credentials), so a registry that rewrites
manifests, or a tag that someone else moved in between, is refused.

Credentials come from ``environments.Registry.auth_config`` (a variable or a file), travel to the
engine in a request header, and are never printed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import docker
import requests

from ..environments import Registry
from ..errors import AirgapError, IntegrityError
from ..oci.reference import validate_ref
from .client import console, explain, lost, stream_error
from .images import require_image

CERTS_DIR = Path("/etc/docker/certs.d")  # where an engine looks for a registry's CA
_DOWN = re.compile(
    r"connection refused|no such host|i/o timeout|no route to host|network is unreachable|"
    r"timeout|server misbehaving|connection reset|EOF",
    re.IGNORECASE,
)
# 401 and 403 as an HTTP status, not as digits inside an address (a registry at 127.0.0.1:54013)
_REFUSED = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|denied|(?<![\d.:])40[13](?!\d)",
    re.IGNORECASE,
)
_REFUSED_STATUS = (401, 403)  # the engine's own status for a registry that refused the credentials
_UNTRUSTED = re.compile(r"x509|certificate|tls:|http response to https client", re.IGNORECASE)
# The containerd image store reports the pushed manifest in a status line, not an aux event.
_PUSHED = re.compile(r"^(?P<tag>\S+): digest: (?P<digest>sha256:[0-9a-f]{64}) size: \d+$")


@dataclass(frozen=True)
class Pushed:
    """An image in the registry: where it is and the digest that names its bytes."""

    repository: str  # registry/name
    tag: str
    digest: str  # sha256:...

    @property
    def tagged(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def pinned(self) -> str:
        """``registry/name:tag@sha256:...``: the tag for people, the digest for the engine."""
        return f"{self.repository}:{self.tag}@{self.digest}"

    def __str__(self) -> str:
        return self.pinned


def destination(image: str, registry: Registry) -> tuple[str, str]:
    """The registry's repository and tag for a local ``name:tag`` (its registry part replaced)."""
    ref = validate_ref(image, allow_digest=False)
    repository, tag = docker.utils.parse_repository_tag(ref)
    _, path = docker.auth.split_repo_name(repository)
    return f"{registry.address}/{path}", tag or "latest"


def push(client: docker.DockerClient, image: str, registry: Registry) -> Pushed:
    """Push local ``image`` (name:tag) to ``registry``; return it pinned by the registry's digest."""
    local = require_image(client, image)
    repository, tag = destination(image, registry)
    check_trust(registry)
    auth = registry.auth_config()
    if auth is not None:
        login(client, registry, auth)
    local.tag(repository, tag)
    console.print(f"pushing {image} to {repository}:{tag}")
    digest = _push_stream(client, repository, tag, auth, registry)
    pushed = Pushed(repository, tag, digest)
    verify(client, pushed, registry)
    console.print(f"pushed {pushed.pinned}")
    return pushed


def login(client: docker.DockerClient, registry: Registry, auth: dict) -> None:
    """Check the credentials with the registry (through the engine) and keep them in the client,
    so the service create and update calls send them on for the nodes' pulls."""
    try:
        client.login(auth["username"], auth["password"], registry=registry.address, reauth=True)
    except docker.errors.APIError as exc:
        raise _push_error(explain(exc), registry, f"log in to {registry.address}", exc) from exc
    except requests.exceptions.RequestException as exc:
        raise lost(f"log in to {registry.address}") from exc


def registry_digest(client: docker.DockerClient, ref: str, registry: Registry) -> str:
    """The digest the registry answers for ``ref`` (asked through the engine, with its trust)."""
    try:
        data = client.images.get_registry_data(ref, auth_config=registry.auth_config())
    except docker.errors.APIError as exc:
        raise _push_error(explain(exc), registry, f"read {ref} back", exc) from exc
    return data.id


def verify(client: docker.DockerClient, pushed: Pushed, registry: Registry) -> None:
    """Refuse a registry whose tag names other bytes than the ones just pushed."""
    answered = registry_digest(client, pushed.tagged, registry)
    if answered != pushed.digest:
        raise IntegrityError(
            f"registry {registry.address} holds {answered} under {pushed.tagged}, not the "
            f"{pushed.digest} just pushed; someone moved the tag or the registry rewrote the "
            "image: find out which before any node pulls it"
        )


def check_trust(registry: Registry, certs_dir: Path = CERTS_DIR) -> None:
    """With a CA file configured and a local engine, that engine must trust the same CA.

    The engine, not airgapkit, talks to the registry: it reads ``certs.d/<address>/ca.crt``.
    """
    if registry.ca_file is None or not _engine_is_local():
        return
    installed = Path(certs_dir) / registry.address / "ca.crt"
    wanted = Path(registry.ca_file).read_bytes()
    if not installed.is_file() or installed.read_bytes() != wanted:
        raise AirgapError(
            f"the Docker Engine here does not trust {registry.ca_file} for {registry.address}; "
            f"install it on every node: install -D -m 644 {registry.ca_file} {installed}"
        )


def _engine_is_local() -> bool:
    return os.environ.get("DOCKER_HOST", "unix://").startswith("unix://")


def pushed_digest(event: dict, tag: str) -> str:
    """The digest one event of a push names for ``tag``, "" if none: the classic store says it in
    an ``aux`` event, the containerd image store in a status line ``TAG: digest: sha256:... size: N``.
    """
    aux = (event.get("aux") or {}).get("Digest")
    if aux:
        return str(aux)
    said = _PUSHED.match(str(event.get("status") or ""))
    return said.group("digest") if said and said.group("tag") == tag else ""


def _push_stream(client, repository: str, tag: str, auth: dict | None, registry: Registry) -> str:
    """Follow the push's JSON events; the registry's digest comes near their end."""
    digest = ""
    try:
        events = client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth)
        for event in events:
            error = stream_error(event)
            if error:
                raise _push_error(error, registry, f"push {repository}")
            digest = pushed_digest(event, tag) or digest
    except docker.errors.APIError as exc:
        raise _push_error(explain(exc), registry, f"push {repository}", exc) from exc
    except requests.exceptions.RequestException as exc:
        raise lost(f"push {repository}:{tag}") from exc
    if not digest:
        raise AirgapError(
            f"the push of {repository}:{tag} reported no digest; push again and check the "
            f"registry's log at {registry.address}"
        )
    return digest


def _push_error(
    said: str, registry: Registry, doing: str, exc: docker.errors.APIError | None = None
) -> AirgapError:
    """One line for each way a registry fails: refused credentials, untrusted, down, other.

    The engine's HTTP status says "refused" when it gives one; a push reports its failure only as
    text in its event stream, so that text is matched here, and nowhere else in this module.
    """
    status = exc.status_code if exc is not None else None
    if status in _REFUSED_STATUS or _REFUSED.search(said):
        who = f"user {registry.username}" if registry.username else "no credentials"
        return AirgapError(
            f"registry {registry.address} refuses {who} (could not {doing}: {said}); check the "
            "username and the password's variable or file in this environment's registry settings"
        )
    if _UNTRUSTED.search(said):
        return AirgapError(
            f"the engine does not trust registry {registry.address} (could not {doing}: {said}); "
            f"install the network's CA as /etc/docker/certs.d/{registry.address}/ca.crt"
        )
    if _DOWN.search(said):
        return AirgapError(
            f"registry {registry.address} does not answer (could not {doing}: {said}); "
            "start it or check the address in this environment's registry settings"
        )
    return AirgapError(f"could not {doing} at registry {registry.address}: {said}")
