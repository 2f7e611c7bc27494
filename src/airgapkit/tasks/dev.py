"""The air-gapped dev side's tasks: an image tar verified and loaded, the app image built offline,
run and opened in a shell, and the release that checks the export and carries the app image on."""

from __future__ import annotations

from pathlib import Path

from invoke import Exit

from ..app import buildcontext, envfiles, npm
from ..engine import containers, images
from ..flows import bundles
from ..flows import load as load_flow
from ..flows import release as release_flow
from ..oci import reference
from ..settings import Incoming, Outgoing, Smoke, config_ports
from .common import HELP, INCOMING_HELP, app_image, client, config, project, recorded, task


@task(
    help={
        "input": "Tar file made by docker save.",
        "sums": "SHA256SUMS to verify the tar against first (default: one beside the tar).",
        "no_verify": "Load without verifying the hash (prints a warning).",
    }
)
def load(c, input, sums="", no_verify=False):
    """Verify a tar's SHA-256, then load it (docker load --input)."""
    load_flow.load_verified(
        client(c), Path(input), sums=Path(sums) if sums else None, verify=not no_verify
    )


@task(
    iterable=["build_arg"],
    help={
        "app": "Node.js app folder to pack first (default: the configured app).",
        "tgz": "Build from this .tgz made by pack instead of packing (the air-gapped side has only it).",
        "variant": HELP["variant"],
        "dockerfile": HELP["dockerfile"],
        "image": "Image name (default: from package.json).",
        "tag": "Image tag (default: the version in package.json).",
        "build_arg": "KEY=VALUE build argument; repeat for several.",
        "no_cache": HELP["no_cache"],
        "offline": "Build with the network off, proving nothing is fetched.",
    },
)
def build(
    c,
    app="",
    tgz="",
    variant="inside",
    dockerfile="",
    image="",
    tag="",
    build_arg=None,
    no_cache=False,
    offline=False,
):
    """Build the app image from the packed .tgz (docker build -t NAME:TAG)."""
    settings = project(c, app=app)
    package = Path(tgz) if tgz else npm.pack(settings.app, settings.build_dir)
    release_flow.build_app(
        client(c),
        package,
        buildcontext.dockerfile_for(variant, dockerfile or settings.dockerfile),
        settings.image_ref(buildcontext.read_tgz_package(package), image=image, tag=tag),
        work_dir=settings.build_dir,
        variant=variant,
        base_image=settings.base_image,
        port=config_ports(config(c)).container_port,
        build_args=images.parse_build_args(build_arg or []),
        no_cache=no_cache,
        offline=offline,
    )


@task
def prune(c):
    """Remove the build cache and report the space reclaimed (docker builder prune)."""
    images.prune_build_cache(client(c), stage_label=buildcontext.STAGE_LABEL)


@task(
    help={
        "image": "Image to run (default: the app image from package.json).",
        "name": "Container name (default: the image name).",
        "ports": HELP["ports"],
        "env_file": "Env file passed to the container (default: none).",
        "detach": "Run in the background and return at once.",
    }
)
def run(c, image="", name="", ports="", env_file="", detach=False):
    """Run a container, never pulling (docker run --name --rm -p --env-file)."""
    ref = image or app_image(c)
    containers.run(
        client(c),
        ref,
        name=name or reference.default_container_name(ref),
        ports=config_ports(config(c), ports),
        env=envfiles.load(Path(env_file)) if env_file else None,
        detach=detach,
    )


@task(
    name="shell-debug",
    help={
        "image": "Image to open a shell in (default: the app image).",
        "container": "A running container to exec into instead of starting a new one.",
    },
)
def shell_debug(c, image="", container=""):
    """Open an interactive shell in an image or container (docker run -it IMAGE sh)."""
    ref = "" if container else image or app_image(c)
    argv = containers.shell_argv(client(c), image=ref, container=container)
    # The shell's own exit status is the task's; no invoke report on top of what the user saw.
    status = containers.open_shell(argv)
    if status:
        raise Exit(code=status)


@task(
    outgoing=Outgoing.flags(omit=("app_report",)),
    help={
        **INCOMING_HELP,
        "variant": HELP["variant"],
        "dockerfile": HELP["dockerfile"],
        "no_cache": HELP["no_cache"],
        "smoke_env": "Env file the smoke test starts the image with (placeholders will do).",
        "since": HELP["since"],
    },
)
def release(
    c,
    bundle,
    since="",
    sums="",
    password_file="",
    variant="inside",
    dockerfile="",
    no_cache=False,
    smoke_env="",
    *,
    outgoing: Outgoing,
):
    """Air-gapped dev: verify the export, build offline, smoke-test, bundle the image for test/prod."""
    delivery = recorded(
        c,
        "release",
        release_flow.release,
        client(c),
        incoming=Incoming.from_flags(bundle, sums=sums, password_file=password_file),
        dockerfile=release_flow.find_dockerfile(
            buildcontext.dockerfile_for(variant, dockerfile or project(c).dockerfile)
        ),
        variant=variant,
        no_cache=no_cache,
        smoke=Smoke.from_config(config(c), env_file=smoke_env),
        gate=outgoing.gate,
        crossing=outgoing.crossing,
        since=since,
        trust=outgoing.trust,
    )
    bundles.print_delivery(delivery, "deploy", ["--env", "prod"])
