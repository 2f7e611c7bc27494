"""Test/prod on a swarm: the loaded release pushed to the environment's registry and run as a service.

``deploy`` (flows/deploy.py) calls ``deploy`` here when the environment's target is ``swarm``, after
the bundle was verified and loaded and the env file checked against ``.env.example``. ``push`` and
``debug_shell_argv`` serve the tasks of the same names for a configured environment (``status``:
flows/status.py).
See docs/fleet.md.
"""

from __future__ import annotations

from ..app import envfiles
from ..engine import push as registry_push
from ..engine import swarm
from ..errors import AirgapError
from ..oci.reference import default_container_name
from ..settings import Target
from . import status as statuses


def service_name(target: Target, image: str) -> str:
    """The service (or container) name: configured, else the flag, else the image's name."""
    configured = target.configured.service if target.configured else ""
    return configured or target.name or default_container_name(image)


def names_itself(target: Target) -> bool:
    """Whether the service or container name is known without the app's image name."""
    return bool(target.name or (target.configured and target.configured.service))


def push(client, image: str, target: Target) -> registry_push.Pushed:
    """Push a local image into the environment's registry; the pinned reference comes back."""
    registry = target.configured.registry if target.configured else None
    if registry is None:
        raise AirgapError(
            f"environment {target.environment} names no registry; set "
            f"airgapkit.environments.{target.environment}.registry to host:port in invoke.yaml"
        )
    return registry_push.push(client, image, registry)


def deploy(client, image: str, values: dict[str, str], target: Target) -> statuses.Status:
    """Push the loaded ``image``, then create or update its service and wait for the rollout."""
    env = target.configured
    pushed = push(client, image, target)
    release = swarm.Release.of(client, image, pushed.pinned)
    secret_keys = envfiles.secret_keys(values, target.env_example, env.secrets)
    app = swarm.App(
        service_name(target, image),
        target.ports,
        target.health_path,
        values,
        frozenset(secret_keys),
    )
    swarm.deploy(client, release, app, env)
    status = statuses.of_swarm(client, app.service)
    statuses.print_status(status)
    return status


def update_goes_on(target: Target, image: str):
    """What a Ctrl-C leaves of a service update: Swarm goes on with it (and rolls it back)."""
    name = service_name(target, image)
    return lambda: (
        f"the update of service {name} goes on in the swarm, which rolls it back by itself if "
        f"it is not healthy; see `inv status --env {target.environment}`"
    )


def debug_shell_argv(client, target: Target, image: str) -> list[str]:
    """A shell in a running task's container on this node (else the nodes are named)."""
    name = service_name(target, image)
    return swarm.shell_place(client, name).argv(name)
