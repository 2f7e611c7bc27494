"""The test/prod side's tasks: a release deployed (or an interrupted one rolled back), a shell in
the environment's container, the image pushed into its registry, and what runs there."""

from __future__ import annotations

from invoke import Exit

from ..engine import containers
from ..errors import AirgapError
from ..flows import deploy as deploy_flow
from ..flows import fleet, stackdeploy
from ..flows import status as statuses
from ..oci import reference
from ..settings import Incoming, Target, history_of
from .common import HELP, INCOMING_HELP, app_image, client, config, recorded, task, trust_of


@task(
    help={
        **INCOMING_HELP,
        "env": "Environment whose env file the container gets (dev, test, pre-prod, prod, or configured).",
        "name": "Container name (default: the image name).",
        "ports": HELP["ports"],
    }
)
def deploy(c, bundle, env="prod", sums="", password_file="", name="", ports=""):
    """Test/prod: verify and load a release, replace the running container, roll back if unhealthy."""
    recorded(
        c,
        "deploy",
        deploy_flow.deploy,
        client(c),
        incoming=Incoming.from_flags(bundle, sums=sums, password_file=password_file),
        target=Target.from_config(config(c), env=env, name=name, ports=ports),
        trust=trust_of(c),
    )


@task(
    help={
        "env": "Environment whose interrupted deploy to undo (default: prod).",
        "name": "Container name (default: the last deploy's here, else the image name).",
    }
)
def rollback(c, env="prod", name=""):
    """Put back the container an interrupted deploy set aside (NAME-previous) and start it."""
    target = Target.from_config(config(c), env=env, name=name)
    deploy_flow.rollback(client(c), target=target, name=container_name(c, name, env))


def container_name(c, name: str, env: str) -> str:
    """--name, else what the last deploy to env here ran as (the history: prod holds no app
    folder), else the app image's name (configuration, then the app's package.json)."""
    if name or (name := deployed(c, env)[0]):
        return name
    try:
        return reference.default_container_name(app_image(c))
    except AirgapError as exc:
        raise AirgapError(f"name the container with --name: {exc}") from exc


def deployed(c, env: str) -> tuple[str, str]:
    """The name and image the last deploy to env on this machine ran (the history); ("", "")
    when none is recorded."""
    log = history_of(config(c))
    last = log.last_deploy(env) if log is not None else None
    if last is None:
        return "", ""
    image = last.images[0]["ref"]
    return last.name or reference.default_container_name(image), image


@task(
    name="debug-shell",
    help={
        "env": "Environment whose env file the shell gets (default: prod).",
        "image": "Image to open when no container runs (default: the last deploy's here, else the app's).",
        "name": "Container to exec into when it runs (default: the last deploy's here, else the image name).",
    },
)
def debug_shell(c, env="prod", image="", name=""):
    """A shell in an environment's container if it runs, else in a fresh --rm one with its env file."""
    last_name, last_image = deployed(c, env)
    target = Target.from_config(config(c), env=env, name=name or last_name)
    status = containers.open_shell(
        deploy_flow.debug_shell_argv(client(c), target, image or last_image or app_image(c))
    )
    if status:  # the shell's own exit status (or the docker CLI's refusal), as a shell would
        raise Exit(code=status)


@task(
    help={
        "env": "Environment whose registry gets the image (default: prod).",
        "image": "Local image to push (default: the last deploy's here, else the app image).",
    }
)
def push(c, env="prod", image=""):
    """Push a loaded image into the environment's registry; print it pinned by its digest."""
    target = Target.from_config(config(c), env=env)
    print(fleet.push(client(c), image or deployed(c, env)[1] or app_image(c), target).pinned)


@task(
    help={
        "env": "Environment to report on (default: prod).",
        "name": "Service, container or stack name (default: configured, else the last deploy's "
        "here, else from the image name).",
    }
)
def status(c, env="prod", name=""):
    """What runs in an environment: image, digest, replicas, tasks and earlier deploys."""
    name = name or deployed(c, env)[0]
    target = Target.from_config(config(c), env=env, name=name)
    if target.is_stack:  # every service of the stack
        project = stackdeploy.project_of(target, name, lambda: app_image(c))
        statuses.print_stack(statuses.of_stack(client(c), target, project))
        return
    image = "" if fleet.names_itself(target) else app_image(c)
    statuses.print_status(statuses.of_target(client(c), target, fleet.service_name(target, image)))
