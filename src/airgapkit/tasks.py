"""The airgapkit Invoke collection: each task a few lines over the library.

The root ``tasks.py`` of a project imports ``ns`` from here and adds or overrides tasks. Defaults live in
``config.DEFAULTS``; ``invoke.yaml``, ``INVOKE_AIRGAPKIT_*`` variables and flags override them.
"""

from __future__ import annotations

import functools
import sys
from datetime import date
from pathlib import Path

from invoke import Collection, Exit, Task
from invoke import task as invoke_task
from rich.console import Console

from . import display, fsutil, history, oci
from .app import audit as app_audit
from .app import buildcontext, envfiles, npm
from .config import DEFAULTS
from .crossing import channels, digest, passwords, sumsfile
from .crossing.inspect import print_manifest
from .crossing.volumes import parse_size
from .demo import round_trip
from .engine import client as engine_client
from .engine import containers, images
from .errors import AirgapError, Interrupted, chain, debug_enabled
from .flags import parse_day, parse_report_pairs
from .flows import bundles, fleet
from .flows import deploy as deploy_flow
from .flows import export as export_flow
from .flows import release as release_flow
from .flows import stack as stack_flow
from .gate import checkpoint, render
from .gate.candidates import choose
from .gate.limits import with_flags
from .kit import make as kit_make
from .kit import selfupdate
from .kit import targets as kit_targets
from .platform import PRIVATE
from .settings import BaseSource, Crossing, Gate, Incoming, Smoke, Target, Trust, config_ports
from .trust import keys, seal
from .trust import sbom as sbom_doc

NOTHING_LEFT = "nothing was left under a final name"


class _Task(Task):
    """Invoke's task, whose automatic short flag is never the dash of a dashed name: ``--`` (what
    ``--app-report`` got after ``-a``, ``-p`` and ``-r`` were taken) would be no usable flag."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, {*taken_names, "-"})


def task(*args, **kwargs):
    """Invoke's ``@task``, with every AirgapError turned into one clear line and a non-zero exit."""

    def decorate(body):
        @functools.wraps(body)
        def guarded(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except AirgapError as exc:
                if debug_enabled():
                    sys.stderr.write(chain(exc))
                raise Exit(f"airgapkit: {exc}", code=1) from exc
            except KeyboardInterrupt as exc:
                left = str(exc) if isinstance(exc, Interrupted) else NOTHING_LEFT
                raise Exit(f"airgapkit: interrupted; {left}", code=130) from exc

        return invoke_task(klass=_Task, **kwargs)(guarded)

    if len(args) == 1 and callable(args[0]) and not kwargs:  # bare @task
        return decorate(args[0])
    return decorate


def config(c):
    """The merged ``airgapkit`` configuration section."""
    return c.config.airgapkit


def client(c):
    return engine_client.connect(timeout=config(c).engine_timeout)


def app_image(c, image: str = "", tag: str = "") -> str:
    """The app's image reference: flags, then configuration, then package.json."""
    cfg = config(c)
    meta = npm.read_package(Path(cfg.app))
    return f"{image or cfg.image or meta.image_name}:{tag or cfg.tag or meta.version}"


SOURCE_HELP = {
    "source": "engine (docker), registry (straight from its registry, no engine) or auto "
    "(default: base_source, engine).",
    "platform": "With the registry: the platform of a multi-platform image (default: linux/amd64).",
}


APP_REPORT_HELP = (
    "Report on the app's npm packages made beforehand: npm audit --json (npm 7+), or Trivy, Grype "
    "or OSV-Scanner JSON of the app's SBOM (default: npm audit runs now)."
)


def base_source(c, source: str = "", platform: str = "") -> BaseSource:
    return BaseSource.from_config(config(c), source=source, platform=platform)


# --- the document's commands, one task each -------------------------------------------------------


@task(
    help={
        "image": "Image to pull (default: the configured base_image).",
        "if_missing": "Use the local copy when the engine already has the image; pull only if absent.",
        **SOURCE_HELP,
        "output": "With the registry source: the tar to write (default: <build_dir>/<image>.tar).",
    }
)
def pull(c, image="", if_missing=False, source="", platform="", output=""):
    """Pull an image with per-layer progress (docker pull); from its registry into a tar with no engine."""
    ref, base = image or config(c).base_image, base_source(c, source, platform)
    engine = export_flow.engine_for(base, ref, lambda: client(c))
    if engine is not None:
        images.pull(
            engine, ref, if_missing=if_missing, otherwise="use --if-missing with a local copy"
        )
        return
    dest = Path(output) if output else Path(config(c).build_dir) / engine_client.tar_name(ref)
    oci.export_to_file(ref, dest, platform=base.platform, access=base.access)


@task(
    iterable=["image"],
    help={
        "image": "Image to save; repeat for several (default: the configured base image).",
        "output": "Tar file to write (default: <build_dir>/<image>.tar).",
    },
)
def save(c, image=None, output=""):
    """Save images to a tar, streamed, with repo tags kept (docker save --output)."""
    refs = image or [config(c).base_image]
    dest = Path(output) if output else Path(config(c).build_dir) / engine_client.tar_name(refs[0])
    images.save(client(c), refs, dest)


@task(
    help={
        "app": "Node.js app folder holding package.json (default: the configured app).",
        "output": "Folder for the .tgz (default: the configured build_dir).",
        "fix": 'Set "bundledDependencies": true in package.json when it is missing.',
    }
)
def pack(c, app="", output="", fix=False):
    """Install and pack the app with its bundled dependencies (npm install && npm pack)."""
    out_named = "--output" if output else "build_dir"
    npm.pack(
        Path(app or config(c).app),
        Path(output or config(c).build_dir),
        fix=fix,
        out_named=out_named,
    )


@task(
    help={
        "input": "Tar file made by docker save.",
        "sums": "SHA256SUMS to verify the tar against first (default: one beside the tar).",
        "no_verify": "Load without verifying the hash (prints a warning).",
    }
)
def load(c, input, sums="", no_verify=False):
    """Verify a tar's SHA-256, then load it (docker load --input)."""
    images.load_verified(
        client(c), Path(input), sums=Path(sums) if sums else None, verify=not no_verify
    )


@task(
    iterable=["build_arg"],
    help={
        "app": "Node.js app folder to pack first (default: the configured app).",
        "tgz": "Build from this .tgz made by pack instead of packing (the air-gapped side has only it).",
        "variant": "inside: npm installs the .tgz in the image (Dockerfile); "
        "host: the .tgz is extracted here and the image needs no npm (airgap.Dockerfile).",
        "dockerfile": "Dockerfile (default: dockerfiles/Dockerfile, or airgap.Dockerfile for host).",
        "image": "Image name (default: from package.json).",
        "tag": "Image tag (default: the version in package.json).",
        "build_arg": "KEY=VALUE build argument; repeat for several.",
        "no_cache": "Build every layer again (docker build --no-cache).",
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
    cfg = config(c)
    package = Path(tgz) if tgz else npm.pack(Path(app or cfg.app), Path(cfg.build_dir))
    meta = buildcontext.read_tgz_package(package)
    release_flow.build_app(
        client(c),
        package,
        buildcontext.dockerfile_for(variant, dockerfile or cfg.dockerfile),
        f"{image or cfg.image or meta.image_name}:{tag or cfg.tag or meta.version}",
        work_dir=Path(cfg.build_dir),
        variant=variant,
        base_image=cfg.base_image,
        port=config_ports(cfg).container_port,
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
        "ports": "[IP:]HOST:CONTAINER[/PROTO] port mappings, comma-separated (default: 8080:8080).",
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
        name=name or engine_client.default_container_name(ref),
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


# --- the base-image rules (gate/) -----------------------------------------------------------------


@task(
    name="check-image",
    help={
        "image": "Image to check: local (never pulled), or read from its registry (--source).",
        "report": "Scanner JSON report made on the connected side (trivy image -f json, grype -o json).",
        "kind": "base: size, Node LTS, vulnerabilities; app: also non-root and no secrets in any layer.",
        "app_report": "Also judge the app's npm packages by this report (npm audit --json, or Trivy, "
        "Grype, OSV-Scanner JSON of the app's SBOM).",
        "app": "With --app-report: the app folder (installed) whose SBOM the report must match "
        "(default: the configured app).",
        "max_size_mb": "Size limit in MB of 10^6 bytes (default: policy.max_size_mb, 200).",
        "min_support_months": "Months of Node support that must be left (default: 6).",
        "today": "Judge Node support as of this date, YYYY-MM-DD (default: today).",
        **SOURCE_HELP,
    },
)
def check_image(
    c,
    image,
    report="",
    kind="base",
    max_size_mb=None,
    min_support_months=None,
    today="",
    source="",
    platform="",
    app_report="",
    app="",
):
    """Check an image against the selection rules: a table, and a non-zero exit when one fails."""
    limits = with_flags(
        config(c).policy, max_size_mb=max_size_mb, min_support_months=min_support_months
    )
    base = base_source(c, source, platform)
    engine = export_flow.engine_for(base, image, lambda: client(c))
    if engine is None and kind != "base":
        raise AirgapError("the app rules read the image's layers: check an app image in the engine")
    app_dir = Path(app or config(c).app)
    packages = (
        app_audit.judged_report(app_dir, Path(app_report), limits=limits) if app_report else None
    )
    judged = {
        "report": Path(report) if report else None,
        "limits": limits,
        "today": parse_day(today),
        "fresh_as_of": date.today(),  # the connected side: a fresher report can be had
        "app": packages,
        "can_accept": False,  # check-image has no --accept-risk
    }
    if engine is None:
        facts = oci.image_facts(image, platform=base.platform, access=base.access)
        checkpoint.gate_registry(facts, **judged)
    else:
        checkpoint.gate(engine, image, kind=kind, **judged)


@task(
    help={
        "app": "Node.js app folder (default: the configured app); its dependencies are installed first.",
        "app_report": APP_REPORT_HELP,
    }
)
def audit(c, app="", app_report=""):
    """Check the app's own npm packages for known vulnerabilities, as export will: a table."""
    cfg = config(c)
    app_audit.audit(
        Path(app or cfg.app),
        given=Path(app_report) if app_report else None,
        build_dir=Path(cfg.build_dir),
        registry=cfg.audit_registry,
        limits=cfg.policy,
    )


@task(
    name="choose-base",
    positional=["candidates"],
    iterable=["report"],
    help={
        "candidates": "Local images to compare, separated by commas (Invoke takes one positional).",
        "report": "IMAGE=FILE: a candidate's scanner JSON report; repeat for several.",
        "report_dir": "Folder of trivy/grype JSON reports, matched to candidates by image ID or name.",
        "today": "Judge Node support as of this date, YYYY-MM-DD (default: today).",
    },
)
def choose_base(c, candidates=None, report=None, report_dir="", today=""):
    """The procedure's base-image table for several local candidates, best first."""
    refs = (candidates or "").replace(",", " ").split() or [config(c).base_image]
    choose(
        client(c),
        refs,
        reports=parse_report_pairs(report or []),
        report_dir=Path(report_dir) if report_dir else None,
        limits=config(c).policy,
        today=parse_day(today),
    )


# --- the crossing: hashes, encrypted archives, safe extraction -------------------------------------


@task(
    name="hash",
    help={
        "files": "Files to hash: comma-separated, globs allowed (quote them).",
        "output": "SHA256SUMS to write (default: SHA256SUMS beside the first file); other entries kept.",
        "check": "Verify against this SHA256SUMS (or saved sha256sum / Get-FileHash output) instead.",
        "folder": "With --check: folder holding the listed files (default: the hash file's folder).",
        "ignore_missing": "With --check: skip listed files absent from the folder (sha256sum's flag).",
    },
)
def hash_(c, files="", output="", check="", folder="", ignore_missing=False):
    """SHA-256 of files as a Get-FileHash-like table, kept in SHA256SUMS (Get-FileHash, sha256sum)."""
    if check:
        report = (
            sumsfile.check_files(digest.expand(files), Path(check))
            if files
            else sumsfile.check_sums(
                Path(check), Path(folder) if folder else None, ignore_missing=ignore_missing
            )
        )
        sumsfile.print_report(report)
        return report.raise_for_problems()
    paths = digest.expand(files)
    dest = fsutil.output_file(Path(output), "--output") if output else None
    sumsfile.print_hashes(sumsfile.record(paths, dest or paths[0].parent / sumsfile.SUMS_NAME))


@task(
    auto_shortflags=False,
    help={
        "files": "Files to put in the archive: comma-separated, globs allowed (quote them).",
        "output": "Archive to write (default: <out_dir>/<first file's name>.zip): goes on the media.",
        "sums": "Its SHA256SUMS (default: <hashes_dir>/SHA256SUMS): goes by a second channel.",
        "password_file": "File holding the password (else AIRGAPKIT_PASSWORD, else a prompt asked twice).",
        "generate_password": "Make a 192-bit password, written to <password_dir>/<archive>.password "
        f"({PRIVATE}).",
        "level": "Compression: 0 stores, 1-9 deflate (default: the configured compression, 5).",
        "allow_weak_password": "Accept a password the strength rule refuses (PBKDF2 at 1,000 rounds).",
        "split": "Write media volumes NAME.zip.001, .002, ... of at most this size (4g, 4.7G, 700m).",
        "force": "Replace an existing archive (and its line in the hash file).",
    },
)
def archive(
    c,
    files,
    output="",
    sums="",
    password_file="",
    generate_password=False,
    level=-1,
    allow_weak_password=False,
    split="",
    force=False,
):
    """Encrypt files into an AES-256 zip; write its hash and password to separate places (7z a)."""
    cfg, paths = config(c), digest.expand(files)
    dest = Path(output or Path(cfg.out_dir) / f"{paths[0].name}.zip")
    channels.print_crossing(
        channels.create(
            paths,
            dest,
            sums=Path(sums or Path(cfg.hashes_dir) / sumsfile.SUMS_NAME),
            password_file=Path(password_file) if password_file else None,
            generate_password=Path(cfg.password_dir) / f"{dest.name}.password"
            if generate_password
            else None,
            allow_weak=allow_weak_password,
            level=level if level >= 0 else cfg.compression,
            split=parse_size(split) if split else None,
            force=force,
        )
    )


@task(
    auto_shortflags=False,
    help={
        "archive": "The archive that came on the media.",
        "sums": "Its SHA256SUMS (or Get-FileHash output) that came by the second channel; checked first.",
        "dest": "Folder to extract into (default: the configured build_dir).",
        "password_file": "File holding the password (else AIRGAPKIT_PASSWORD, else a prompt).",
        "force": "Overwrite files that already exist in the destination.",
    },
)
def extract(c, archive, sums="", dest="", password_file="", force=False):
    """Check an archive's SHA-256 (and a bundle's signature), then decrypt and extract it safely (7z x)."""
    if not sums:
        raise AirgapError(
            f"give --sums FILE: the hashes of {archive} that came by the second channel"
        )
    password = passwords.resolve(
        password_file=Path(password_file) if password_file else None, confirm=False, allow_weak=True
    )
    vouch = seal.vouch(seal.trusted_keys(trust_of(c)), archive)
    for path in channels.extract(
        Path(archive),
        Path(dest or config(c).build_dir),
        password,
        Path(sums),
        force=force,
        vouch=vouch,
    ):
        print(f"extracted {display.safe(path)}")  # member names are data from the other side


# --- the composite flows: one command per side of the air gap --------------------------------------


CROSSING_HELP = {
    "out_dir": "Folder for the archive: what goes on the media (default: dist).",
    "hashes_dir": "Folder for the archive's SHA-256: the second channel (default: dist-hashes).",
    "password_dir": "Folder for the generated password: the third channel (default: dist-password).",
    "new_password_file": "Protect the new archive with this file's password, not a generated one.",
    "allow_weak_password": "Accept a weak password from --new-password-file.",
    "level": "Compression: 0 stores, 1-9 deflate (default: configured compression, 5).",
    "split": "Write media volumes NAME.zip.001, .002, ... of at most this size (4g, 4.7G, 700m).",
    "report": "Scanner JSON report (Trivy or Grype) for the vulnerability rule.",
    "accept_risk": "Go on despite failed image rules; the reason is recorded in the manifest.",
    "force": "Replace an earlier delivery of this bundle in these folders (archive, hash, password).",
}
GATE_FLAGS = ("report", "accept_risk", "app_report")  # app_report: export's alone
KIT_CROSSING_FLAGS = [name for name in CROSSING_HELP if name not in GATE_FLAGS]
SINCE_HELP = (
    "Make a delta: last (the previous bundle in the history) or a manifest from inspect --json."
)

SIGNING_HELP = {
    "sign_key": "Sign the bundle with this NAME.key (from inv keygen; default: trust.sign_key).",
    "key_passphrase_file": "File with the key's passphrase (else AIRGAPKIT_KEY_PASSPHRASE, else a prompt).",
}
INCOMING_HELP = {
    "bundle": "The archive that came on the media.",
    "sums": "Its SHA-256 file that came by the second channel (default: <bundle>.sha256 beside it).",
    "password_file": "File holding the archive's password (else AIRGAPKIT_PASSWORD, else a prompt).",
}


def recorded(c, action: str, flow, *args, **kwargs):
    """Run a flow and add its line to this machine's history (``airgapkit.history``)."""
    return history.record(history.from_config(config(c)), action, flow, *args, **kwargs)


def trust_of(c, sign_key="", key_passphrase_file="") -> Trust:
    """Who signs (flag, else trust.sign_key) and whose signatures arriving bundles need (trust.keys)."""
    return Trust.from_config(config(c), sign_key=sign_key, passphrase_file=key_passphrase_file)


def outgoing(c, flags: dict) -> tuple[Crossing, Gate]:
    """The crossing and the gate from the CROSSING_HELP flags among a task's ``locals()``.

    ``export`` and ``release`` take the same flags; Invoke reads flags from each function's own
    parameters, so both list them, and this reads them in one place.
    """
    gate_flags = {name: flags[name] for name in GATE_FLAGS if name in flags}
    crossing_flags = {name: flags[name] for name in CROSSING_HELP if name not in GATE_FLAGS}
    return (
        Crossing.from_config(config(c), **crossing_flags),
        Gate.from_config(config(c), **gate_flags),
    )


@task(
    help={
        "app": "Node.js app folder (default: the configured app).",
        "base_image": "Base image (default: the configured one); from the engine, a local copy is used.",
        "since": SINCE_HELP,
        "app_report": APP_REPORT_HELP,
        **SOURCE_HELP,
        **CROSSING_HELP,
        **SIGNING_HELP,
    }
)
def export(
    c,
    app="",
    base_image="",
    since="",
    source="",
    platform="",
    report="",
    accept_risk="",
    new_password_file="",
    allow_weak_password=False,
    level=-1,
    out_dir="",
    hashes_dir="",
    password_dir="",
    split="",
    force=False,
    sign_key="",
    key_passphrase_file="",
    app_report="",  # last: the short flags the others had before it came stay theirs
):
    """Connected side: base image and packed app in one encrypted bundle, hash and password apart."""
    cfg, (crossing, gate) = config(c), outgoing(c, locals())
    delivery = recorded(
        c,
        "export",
        export_flow.export_base,
        lambda: client(c),
        source=base_source(c, source, platform),
        app_dir=Path(app or cfg.app),
        base_image=base_image or cfg.base_image,
        build_dir=Path(cfg.build_dir),
        gate=gate,
        crossing=crossing,
        since=since,
        trust=trust_of(c, sign_key, key_passphrase_file),
        stack=stack_flow.StackSettings.from_config(cfg),
    )
    bundles.print_delivery(delivery, "release")


@task(
    help={
        **INCOMING_HELP,
        "variant": "inside: npm installs the .tgz in the image; host: the .tgz is unpacked here, no npm.",
        "dockerfile": "Dockerfile (default: dockerfiles/Dockerfile, or airgap.Dockerfile for host).",
        "no_cache": "Build every layer again.",
        "smoke_env": "Env file the smoke test starts the image with (placeholders will do).",
        "since": SINCE_HELP,
        **CROSSING_HELP,
        **SIGNING_HELP,
    }
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
    report="",
    accept_risk="",
    new_password_file="",
    allow_weak_password=False,
    level=-1,
    out_dir="",
    hashes_dir="",
    password_dir="",
    split="",
    force=False,
    sign_key="",
    key_passphrase_file="",
):
    """Air-gapped dev: verify the export, build offline, smoke-test, bundle the image for test/prod."""
    cfg, (crossing, gate) = config(c), outgoing(c, locals())
    delivery = recorded(
        c,
        "release",
        release_flow.release,
        client(c),
        incoming=Incoming.from_flags(bundle, sums=sums, password_file=password_file),
        dockerfile=release_flow.find_dockerfile(
            buildcontext.dockerfile_for(variant, dockerfile or cfg.dockerfile)
        ),
        variant=variant,
        no_cache=no_cache,
        smoke=Smoke.from_config(cfg, env_file=smoke_env),
        gate=gate,
        crossing=crossing,
        since=since,
        trust=trust_of(c, sign_key, key_passphrase_file),
    )
    bundles.print_delivery(delivery, "deploy", ["--env", "prod"])


@task(
    help={
        **INCOMING_HELP,
        "env": "Environment whose env file the container gets (dev, test, pre-prod, prod, or configured).",
        "name": "Container name (default: the image name).",
        "ports": "[IP:]HOST:CONTAINER[/PROTO] port mappings, comma-separated (default: 8080:8080).",
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
        return engine_client.default_container_name(app_image(c))
    except AirgapError as exc:
        raise AirgapError(f"name the container with --name: {exc}") from exc


def deployed(c, env: str) -> tuple[str, str]:
    """The name and image the last deploy to env on this machine ran (the history); ("", "")
    when none is recorded."""
    log = history.from_config(config(c))
    last = log.last_deploy(env) if log is not None else None
    if last is None:
        return "", ""
    image = last.images[0]["ref"]
    return last.name or engine_client.default_container_name(image), image


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
        project = stack_flow.project_of(target, name, lambda: app_image(c))
        stack_flow.print_status(stack_flow.status(client(c), target, project))
        return
    image = "" if fleet.names_itself(target) else app_image(c)
    fleet.print_status(fleet.status(client(c), target, image))


@task(
    help={
        **INCOMING_HELP,
        "sums": "Verify the archive against this SHA-256 file first.",
        "json": "Print the manifest as JSON instead (keep it for a later --since).",
    }
)
def inspect(c, bundle, password_file="", sums="", json=False):
    """Print a bundle's manifest as tables, its signer, SBOM and env contract, extracting nothing."""
    incoming = Incoming.from_flags(bundle, sums=sums, password_file=password_file)
    with bundles.reading(incoming, seal.trusted_keys(trust_of(c))) as opened:
        if json:
            sys.stdout.write(opened.manifest.to_json().decode() + "\n")
            return
        print_manifest(opened.manifest)
        seal.print_trust(opened.manifest, opened.signature)


@task(
    name="history",
    help={
        "app": "Only this app's runs (its package.json name).",
        "json": "Print the entries as JSON, one per line, instead of a table.",
    },
)
def history_(c, app="", json=False):
    """This machine's export, release and deploy runs, oldest first (airgapkit.history)."""
    log = history.from_config(config(c))
    if log is None:
        raise AirgapError(
            "no history is kept here (airgapkit.history is empty); set it in invoke.yaml"
        )
    entries, notes = log.read()
    for note in notes:
        sys.stderr.write(f"warning: {note}\n")
    history.show([e for e in entries if not app or e.app == app], as_json=json)


@task(
    help={
        **INCOMING_HELP,
        "sums": "Verify the archive against this SHA-256 file first.",
        "output": "Write the CycloneDX JSON to this file instead of printing a table.",
    }
)
def sbom(c, bundle, password_file="", sums="", output=""):
    """The packages a bundle carries (its CycloneDX SBOM), as a table or written out as JSON."""
    dest = fsutil.output_file(Path(output), "--output") if output else None
    incoming = Incoming.from_flags(bundle, sums=sums, password_file=password_file)
    with bundles.reading(incoming, seal.trusted_keys(trust_of(c))) as opened:
        bom, packages = seal.read_sbom(opened), opened.manifest.app_report
    if dest:
        print(f"wrote {sbom_doc.write(bom, dest)}")
    else:
        Console().print(sbom_doc.table(bom, incoming.archive.name))
        if packages:
            Console().print(render.app_report_table(packages))


@task(
    help={
        "out": f"NAME of the pair: writes NAME.key (private, encrypted, {PRIVATE}) and NAME.pub.",
        "key_passphrase_file": "File holding the new key's passphrase (else AIRGAPKIT_KEY_PASSPHRASE, "
        "else a prompt asked twice).",
        "allow_weak_passphrase": "Accept a passphrase the strength rule refuses.",
    }
)
def keygen(c, out, key_passphrase_file="", allow_weak_passphrase=False):
    """Make an Ed25519 signing key pair; share NAME.pub with the sides that check your bundles."""
    passphrase = keys.passphrase(
        passphrase_file=Path(key_passphrase_file) if key_passphrase_file else None, confirm=True
    )
    pair = keys.keygen(Path(out), passphrase, allow_weak=allow_weak_passphrase)
    print(f"private key {pair.private} ({PRIVATE}): keep it on this machine")
    print(f"public key  {pair.public}: add it to trust.keys where bundles are checked")
    print(f"fingerprint {pair.fingerprint}")


# --- airgapkit itself across the gap (kit/) --------------------------------------------------------


@task(
    help={
        "platform": "Platforms to carry, comma-separated: linux/amd64, linux/arm64, windows/amd64, "
        "darwin/amd64, darwin/arm64 (default: kit.platforms, else this machine's).",
        "python": "Python versions to carry, comma-separated: 3.10-3.13 (default: kit.python, else "
        "this one's).",
        "executable": "Add the single airgapkit program for this machine (PyInstaller), for a far "
        "side with no Python.",
        **{name: CROSSING_HELP[name] for name in KIT_CROSSING_FLAGS},
        **SIGNING_HELP,
    }
)
def kit(
    c,
    platform="",
    python="",
    executable=False,
    new_password_file="",
    allow_weak_password=False,
    level=-1,
    out_dir="",
    hashes_dir="",
    password_dir="",
    split="",
    force=False,
    sign_key="",
    key_passphrase_file="",
):
    """Connected side: airgapkit and its dependencies for machines with no network, as a crossing."""
    cfg, flags = config(c), locals()
    made = kit_make.make(
        kit_targets.parse(platform or cfg.kit.platforms, python or cfg.kit.python),
        Crossing.from_config(cfg, **{name: flags[name] for name in KIT_CROSSING_FLAGS}),
        trust_of(c, sign_key, key_passphrase_file),
        executable=executable,
    )
    kit_make.print_kit(made)


@task(
    name="self-update",
    help={
        "kit": "The kit (airgapkit-VERSION-kit.zip) that came on the media.",
        "sums": INCOMING_HELP["sums"].replace("<bundle>", "<kit>"),
        "password_file": INCOMING_HELP["password_file"],
    },
)
def self_update(c, kit, sums="", password_file=""):
    """Install airgapkit from a kit beside this one, once the kit's hash and signature check out."""
    incoming = Incoming.from_flags(kit, sums=sums, password_file=password_file)
    old, new, prefix = selfupdate.update(incoming, seal.trusted_keys(trust_of(c)))
    if old == new:
        print(f"airgapkit {new} is already the one in use ({prefix / new})")
        return
    print(f"airgapkit {old} -> {new}: {new} is in use now, {old} stays in {prefix / old}")


@task(
    help={
        "base_image": "Base image to use instead of the configured one (for a machine that cannot pull it).",
        "workdir": "Folder holding the three machines' folders (default: .demo).",
        "port": "Host port the deployed API answers on (default: 8080).",
    }
)
def demo(c, base_image="", workdir=".demo", port=8080):
    """The whole round trip on this machine: connected, air-gapped dev and prod in three folders."""
    cfg = config(c)
    round_trip(
        client(c),
        cfg,
        base_image=base_image or cfg.base_image,
        workdir=Path(workdir).resolve(),
        port=port,
    )


ns = Collection(
    pull,
    save,
    pack,
    load,
    build,
    prune,
    run,
    shell_debug,
    export,
    release,
    deploy,
    rollback,
    debug_shell,
    push,
    status,
    inspect,
    history_,
    sbom,
    keygen,
    demo,
    check_image,
    audit,
    choose_base,
    hash_,
    archive,
    extract,
    kit,
    self_update,
)
ns.configure(DEFAULTS)
