"""Step 5, test/prod: a release verified and loaded, and run in place of the previous one."""

from __future__ import annotations

from pathlib import Path

import docker.errors

from ..app import envfiles
from ..engine import containers, lifecycle
from ..engine.client import default_container_name, engine_errors
from ..settings import Incoming, Target, Trust
from ..trust import seal
from . import fleet
from .bundles import open_incoming


def env_file_of(target: Target) -> Path:
    """The target environment's env file, checked against the example (values never shown)."""
    env_file = envfiles.resolve(target.environment, target.environments, target.base_dir)
    envfiles.check(env_file, target.env_example)
    return env_file


def deploy(client, *, incoming: Incoming, target: Target, trust: Trust | None = None):
    """Verify and load a release bundle, then replace the running container; roll back if unhealthy.

    Before any image is loaded: the bundle's signature per ``trust.keys``, and the environment's env
    file against the env contract of the version being deployed.
    """
    env_file = envfiles.resolve(target.environment, target.environments, target.base_dir)
    with open_incoming(incoming, "release", seal.trusted_keys(trust)) as opened:
        env = seal.checked_env(opened, env_file, target.env_example)
        opened.load_images(client)
        ref = opened.manifest.images[0]["ref"]
    if target.is_swarm:
        return fleet.deploy(client, ref, env, target)
    return lifecycle.replace(
        client,
        ref,
        target.name or default_container_name(ref),
        env=env,
        ports=target.ports,
        health_path=target.health_path,
        timeout=target.health_timeout,
    )


def debug_shell_argv(client, target: Target, image: str) -> list[str]:
    """Exec into the environment's running container, else a fresh one with its env file."""
    if target.is_swarm:
        return fleet.debug_shell_argv(client, target, image)
    name = target.name or default_container_name(image)
    if _is_running(client, name):
        return containers.shell_argv(client, container=name)
    env_file = env_file_of(target)
    argv = containers.shell_argv(client, image=image)
    return [*argv[:-2], "--env-file", str(env_file), *argv[-2:]]


def _is_running(client, name: str) -> bool:
    with engine_errors(f"look up container {name}"):
        try:
            return client.containers.get(name).status == "running"
        except docker.errors.NotFound:
            return False
