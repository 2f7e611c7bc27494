"""The composite flows of the procedure: export (steps 1-2), release (3-4), deploy (5).

Each flow calls the primitive library functions explicitly, in the order the procedure gives, and
prints at the end what to carry and how.
"""

from __future__ import annotations

import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import docker.errors
from rich.console import Console

from ..app import buildcontext, envfiles, npm
from ..crossing import bundle, channels, passwords, sumsfile
from ..crossing.archive import ArchiveReader
from ..crossing.manifest import Manifest
from ..engine import images as engine
from ..errors import AirgapError
from ..gate import checkpoint

console = Console(stderr=True)


@dataclass
class Places:
    """The three places a bundle's parts go: the media, the second channel, the third channel."""

    out_dir: Path
    hashes_dir: Path
    password_dir: Path

    def check(self) -> None:
        channels.check_separate(
            archive_folder=self.out_dir,
            hashes_folder=self.hashes_dir,
            password_folder=self.password_dir,
        )


@dataclass
class Crossing:
    """How the outgoing archive is protected."""

    places: Places
    level: int = 6
    password_file: Path | None = None  # a given password; else one is generated
    allow_weak_password: bool = False


@dataclass
class Gate:
    """The base-image rules to apply (see gate/limits.py)."""

    limits: dict = field(default_factory=dict)
    report: Path | None = None
    accept_risk: str = ""


def outgoing_password(crossing: Crossing) -> str | None:
    """The password given for a new archive (a file only), or None when one is to be generated.

    AIRGAPKIT_PASSWORD is not read here: on the dev side it holds the incoming bundle's password,
    and the release bundle must not travel under the same one.
    """
    if not crossing.password_file:
        return None
    return passwords.resolve(
        password_file=crossing.password_file,
        env_var="",
        confirm=False,
        allow_weak=crossing.allow_weak_password,
    )


def make_bundle(
    client,
    manifest: Manifest,
    crossing: Crossing,
    *,
    images: list[str],
    files: list[tuple[Path, str]],
) -> bundle.Delivery:
    """Write the archive to the media folder, its hash and (new) password to the other two."""
    places = crossing.places
    places.check()
    name = bundle.archive_name(manifest.app, manifest.kind)
    given = outgoing_password(crossing)
    password = given or passwords.new_password()
    archive = places.out_dir / name
    sha = bundle.create(
        client,
        archive,
        manifest,
        images=images,
        files=files,
        password=password,
        level=crossing.level,
    )
    sums = bundle.deliver(archive, sha, places.hashes_dir)
    if given:
        return bundle.Delivery(archive, sums, None)
    # Written once the archive is in place; a password file left by an earlier run of the same
    # bundle belongs to the archive just replaced.
    password_path = places.password_dir / f"{name}.password"
    password_path.unlink(missing_ok=True)
    passwords.write_password(password, password_path, forbidden_dir=places.out_dir)
    return bundle.Delivery(archive, sums, password_path)


def app_record(meta: npm.PackageMeta) -> dict:
    return {
        "name": meta.name,
        "version": meta.version,
        "image_name": meta.image_name,
        "tgz": meta.tgz_name,
    }


def report_files(report: Path | None) -> list[tuple[Path, str]]:
    return [(report, f"reports/{report.name}")] if report else []


# --- step 1-2: the connected side ------------------------------------------------------------------


def export(
    client, *, app_dir: Path, base_image: str, build_dir: Path, crossing: Crossing, gate: Gate
) -> bundle.Delivery:
    """Pull (or reuse) and gate the base image, pack the app, and bundle both for the crossing."""
    engine.pull(client, base_image, if_missing=True)
    verdict = checkpoint.gate(
        client,
        base_image,
        kind="base",
        report=gate.report,
        limits=gate.limits,
        accept_risk=gate.accept_risk,
    )
    meta = npm.read_package(app_dir)
    tgz = npm.pack(app_dir, build_dir)
    manifest = Manifest(kind="base", app=app_record(meta), gate=verdict.record())
    return make_bundle(
        client,
        manifest,
        crossing,
        images=[base_image],
        files=[(tgz, f"app/{tgz.name}"), *report_files(gate.report)],
    )


# --- step 3-4: the air-gapped dev side -------------------------------------------------------------


@dataclass
class Incoming:
    """A bundle that arrived: the archive, its separately delivered hash, its password file."""

    archive: Path
    sums: Path | None = None
    password_file: Path | None = None

    def open(self, kind: str) -> bundle.OpenBundle:
        password = passwords.resolve(
            password_file=self.password_file, confirm=False, allow_weak=True
        )
        return bundle.open_verified(self.archive, self.sums, password, kind=kind)


def release(
    client,
    *,
    incoming: Incoming,
    dockerfile: Path,
    variant: str,
    smoke: Smoke,
    crossing: Crossing,
    gate: Gate,
    no_cache: bool = False,
) -> bundle.Delivery:
    """Verify the export bundle, build the app image offline, smoke-test it, bundle it for prod."""
    with tempfile.TemporaryDirectory(prefix="airgapkit-release-") as tmp:
        work = Path(tmp)
        app, base_image, tgz, report = unpack_export(client, incoming, work, gate.report)
        ref = f"{app['image_name']}:{app['version']}"
        build_app(
            client,
            tgz,
            dockerfile,
            ref,
            work_dir=work,
            variant=variant,
            base_image=base_image,
            port=container_port(smoke.ports),
            no_cache=no_cache,
            offline=True,
        )
        smoke_test(client, ref, smoke)
        verdict = checkpoint.gate(
            client, ref, kind="app", report=report, limits=gate.limits, accept_risk=gate.accept_risk
        )
        manifest = Manifest(kind="release", app=app, gate=verdict.record())
        return make_bundle(client, manifest, crossing, images=[ref], files=report_files(report))


def unpack_export(client, incoming: Incoming, work: Path, report: Path | None):
    """Load the export's base image; take out its .tgz and (unless one is given) its report."""
    with incoming.open("base") as opened:
        opened.load_images(client)
        app = opened.manifest.app
        tgz = opened.extract(f"app/{app['tgz']}", work)
        report = report or carried_report(opened, work)
        return app, opened.manifest.images[0]["ref"], tgz, report


def build_app(
    client,
    tgz: Path,
    dockerfile: Path,
    ref: str,
    *,
    work_dir: Path,
    variant: str,
    base_image: str,
    port: str,
    build_args: dict | None = None,
    no_cache: bool = False,
    offline: bool = True,
) -> str:
    """Stage a clean context from the .tgz, build ref from it, drop the untagged first stage."""
    context, dockerfile_name, args = buildcontext.stage(
        tgz,
        find_dockerfile(dockerfile),
        work_dir / "context",
        variant=variant,
        base_image=base_image,
        port=port,
    )
    image_id = engine.build(
        client,
        context,
        ref,
        dockerfile=dockerfile_name,
        build_args={**args, **(build_args or {})},
        no_cache=no_cache,
        offline=offline,
    )
    engine.prune_stage_images(client, buildcontext.STAGE_LABEL)
    return image_id


def carried_report(opened: bundle.OpenBundle, work: Path) -> Path | None:
    """The scanner report that came in the export bundle, if one did."""
    reports = opened.manifest.members("reports/")
    return opened.extract(reports[0]["path"], work) if reports else None


# --- containers and their health -------------------------------------------------------------------


def container_port(ports: str) -> str:
    return ports.rsplit(":", 1)[-1]


def health_url(ports: str, path: str) -> str:
    parts = ports.split(":")
    host = parts[0] if len(parts) == 3 and parts[0] not in ("", "0.0.0.0") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{parts[-2]}{path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(container, url: str, timeout: int) -> None:
    """Poll url until it answers 200; fail fast when the container exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            raise AirgapError(
                f"container {container.name} exited (code {container.attrs['State']['ExitCode']}) "
                f"before {url} answered; see `docker logs {container.name}`"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.5)
    raise AirgapError(
        f"{url} did not answer 200 within {timeout} s (last: {last}); "
        f"see `docker logs {container.name}`"
    )


@dataclass
class Smoke:
    """How a built image is tried before it is bundled: its port, health path and settings."""

    ports: str = "8080:8080"
    health_path: str = "/health"
    timeout: int = 60
    env_file: Path | None = None  # settings the app needs to start (placeholders are fine)


def smoke_test(client, ref: str, smoke: Smoke) -> None:
    """Start the image on a free loopback port, wait for its health path, then remove it."""
    port = free_port()
    name = f"{engine.default_container_name(ref)}-smoke-{port}"
    url = f"http://127.0.0.1:{port}{smoke.health_path}"
    console.print(f"smoke test: {ref} at {url}")
    container = engine.run(
        client,
        ref,
        name=name,
        ports=f"127.0.0.1:{port}:{container_port(smoke.ports)}",
        env=envfiles.load(smoke.env_file) if smoke.env_file else None,
        detach=True,
        remove=False,
    )
    try:
        wait_healthy(container, url, smoke.timeout)
    finally:
        container.remove(force=True)
    console.print(f"smoke test passed: {ref}")


# --- step 5: test/prod -----------------------------------------------------------------------------


@dataclass
class Target:
    """Where and how the release runs: environment, its env file, container name and ports."""

    environment: str
    environments: dict
    env_example: Path
    base_dir: Path
    ports: str
    health_path: str
    health_timeout: int
    name: str = ""


def deploy(client, *, incoming: Incoming, target: Target):
    """Verify and load a release bundle, then replace the running container; roll back if unhealthy."""
    env_file = envfiles.resolve(target.environment, target.environments, target.base_dir)
    envfiles.check(env_file, target.env_example)
    env = envfiles.load(env_file)
    with incoming.open("release") as opened:
        opened.load_images(client)
        ref = opened.manifest.images[0]["ref"]
    name = target.name or engine.default_container_name(ref)
    return replace_container(client, ref, name, env, target)


def replace_container(client, ref: str, name: str, env: dict, target: Target):
    """Start ref as name; the container it replaces waits aside and comes back if ref is unhealthy."""
    previous = set_aside(client, name)
    container = engine.run(
        client, ref, name=name, ports=target.ports, env=env, detach=True, remove=False
    )
    try:
        wait_healthy(container, health_url(target.ports, target.health_path), target.health_timeout)
    except AirgapError as failure:
        container.remove(force=True)
        if previous is not None:
            restore(previous, name)
            wait_healthy(
                previous, health_url(target.ports, target.health_path), target.health_timeout
            )
            raise AirgapError(f"{failure}; the previous container {name} runs again") from None
        raise
    if previous is not None:
        previous.remove(force=True)
    console.print(f"{name} runs {ref}, healthy at {health_url(target.ports, target.health_path)}")
    return container


def set_aside(client, name: str):
    """Stop the container called name (if any) and rename it, keeping it for a rollback."""
    try:
        current = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    stale = f"{name}-previous"
    try:
        client.containers.get(stale).remove(force=True)  # left by an interrupted earlier deploy
    except docker.errors.NotFound:
        pass
    current.stop(timeout=10)
    current.rename(stale)
    return current


def restore(previous, name: str) -> None:
    previous.rename(name)
    previous.start()


# --- housekeeping ----------------------------------------------------------------------------------


def print_delivery(delivery: bundle.Delivery, next_task: str, flags: str = "") -> None:
    """Say exactly what to carry, by which channel, and what to run on the other side."""
    channels.print_channels(delivery.archive, delivery.sums, delivery.password)
    password = f"--password-file {delivery.password.name}" if delivery.password else ""
    Console(soft_wrap=True).print(  # one line, to copy whole
        f"On the other side: inv {next_task} {delivery.archive.name} {flags} "
        f"--sums {delivery.sums.name} {password}".replace("  ", " ").rstrip()
    )


PACKAGED_DOCKERFILES = Path(__file__).resolve().parent.parent / "dockerfiles"


def find_dockerfile(configured: Path) -> Path:
    """The configured Dockerfile, else the copy that ships with airgapkit under the same name.

    The air-gapped side runs in folders of its own, where the project's dockerfiles/ is not at hand.
    """
    if configured.is_file() or configured.is_absolute():
        return configured
    packaged = PACKAGED_DOCKERFILES / configured.name
    return packaged if packaged.is_file() else configured


def debug_shell_argv(client, target: Target, image: str) -> list[str]:
    """Exec into the environment's running container, else a fresh one with its env file."""
    name = target.name or engine.default_container_name(image)
    try:
        if client.containers.get(name).status == "running":
            return engine.shell_argv(client, container=name)
    except docker.errors.NotFound:
        pass
    env_file = envfiles.resolve(target.environment, target.environments, target.base_dir)
    envfiles.check(env_file, target.env_example)
    argv = engine.shell_argv(client, image=image)
    return [*argv[:-2], "--env-file", str(env_file), *argv[-2:]]


def read_manifest(incoming: Incoming) -> Manifest:
    """The manifest of a bundle; its archive hash is checked first when a hash file is at hand."""
    password = passwords.resolve(
        password_file=incoming.password_file, confirm=False, allow_weak=True
    )
    sums = incoming.sums or sumsfile.find_sums(incoming.archive)
    if sums:
        sumsfile.verify_file(incoming.archive, sums)
    else:
        console.print(
            f"warning: no hash file for {incoming.archive}; its integrity is not verified"
        )
    with ArchiveReader(incoming.archive, password) as reader:
        return bundle.read_manifest(reader, incoming.archive)
