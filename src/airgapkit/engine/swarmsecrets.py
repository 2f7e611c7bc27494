"""Env values that go into a Swarm service as secrets, never as plain environment.

A service's plain environment sits in its spec: ``docker service inspect`` shows it to anyone with
access to a manager. Secrets are kept encrypted by the managers, sent only to the nodes that run a
task, and mounted in memory under ``/run/secrets``. Which keys are secrets is
``app.envfiles.secret_keys``'s to say: keys whose name says so (``DB_PASSWORD``, ``API_TOKEN``,
``JWT_SECRET``, ``SIGNING_KEY``, ...) or whose value is a token (``secretshapes``), keys marked in
``.env.example`` by a comment line starting ``# secret`` (or ``# [secret]``) right above them, and
keys the environment lists under ``secrets``.

The app keeps reading its settings from its environment: the service starts through a short ``sh``
wrapper that exports each secret file as the variable of the same name, then ``exec``s the image's
own entrypoint and command. (As with ``$(cat ...)``, trailing newlines of a value are dropped.)

Swarm secrets cannot change: each deploy makes new ones, named ``<service>-<key>-<random>`` and
labelled with the service, and removes the service's older ones that neither the running spec nor
the one a rollback would return to still names.
"""

from __future__ import annotations

import re
import secrets as tokens
from collections.abc import Iterable, Mapping

import docker
from docker.types import SecretReference

from ..errors import AirgapError
from .client import explain, scrub

SERVICE_LABEL = "org.airgapkit.service"
KEY_LABEL = "org.airgapkit.key"
SECRETS_DIR = "/run/secrets"


def create(
    client: docker.DockerClient, service: str, values: Mapping[str, str], keys: Iterable[str]
) -> list[SecretReference]:
    """One new Swarm secret per key, readable by the image's user only (see ``file_owner``)."""
    made: list[SecretReference] = []
    try:
        for key in sorted(keys):
            name = f"{service[:40]}-{key.lower().replace('_', '-')[:14]}-{tokens.token_hex(4)}"
            secret = client.secrets.create(
                name=name,
                data=values[key].encode(),
                labels={SERVICE_LABEL: service, KEY_LABEL: key},
            )
            made.append(SecretReference(secret.id, name, filename=key))
    except docker.errors.APIError as exc:
        remove_unused(client, service, keep=())
        said = scrub(explain(exc), values)  # never a value, should the engine quote one
        cause = exc if said == explain(exc) else None
        raise AirgapError(
            f"could not create the Swarm secrets of service {service}: {said}"
        ) from cause
    return made


def owned_by(references: list[SecretReference], user: str) -> list[SecretReference]:
    """The references with the file owned by the image's numeric user, mode 0400.

    A user given by name cannot be mapped to a uid here; its files stay mode 0444, as Swarm's
    default, inside the task's own memory-backed mount.
    """
    uid, _, gid = (user or "0").partition(":")
    numeric = uid.isdigit() and (not gid or gid.isdigit())
    for ref in references:
        if numeric:
            ref["File"].update(UID=uid, GID=gid or uid, Mode=0o400)
    return references


def wrapper(keys: Iterable[str], entrypoint: list[str], cmd: list[str]) -> tuple[list, list]:
    """``command`` and ``args`` for a container that exports each secret file, then runs the
    image's own entrypoint and command. Keys are env names (checked), never values."""
    lines = []
    for key in sorted(keys):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise AirgapError(f"env key {key!r} cannot be a variable name; rename it")
        lines.append(f'{key}="$(cat {SECRETS_DIR}/{key})" && export {key}')
    script = " && ".join([*lines, 'exec "$@"'])
    return ["/bin/sh", "-c", script, "airgapkit-secrets"], [*entrypoint, *cmd]


def remove_unused(client: docker.DockerClient, service: str, keep: Iterable[str]) -> None:
    """Remove the service's secrets not named in ``keep``; one still used by a task stays."""
    keep = set(keep)
    for secret in client.secrets.list(filters={"label": f"{SERVICE_LABEL}={service}"}):
        if secret.name in keep or secret.id in keep:
            continue
        try:
            secret.remove()
        except docker.errors.APIError:
            pass  # still in use by a task that is shutting down: the next deploy removes it


def names_in(spec: Mapping | None) -> set[str]:
    """The secret names a service spec refers to."""
    container = ((spec or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return {ref.get("SecretName", "") for ref in container.get("Secrets") or []}
