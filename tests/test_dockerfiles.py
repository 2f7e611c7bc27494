"""The Dockerfiles on a real engine: built offline from the packed .tgz alone, run, and inspected.

Each app is packed and built once per module (both variants), with env files carrying a secret
marker placed beside the app before packing and inside the staged contexts; then the images are run,
and every layer of them read back through ``docker save`` to prove no env file and no marker reached
any layer.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest
from invoking import free_port

from airgapkit.app import buildcontext, envfiles, npm
from airgapkit.engine import images
from airgapkit.errors import AirgapError

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = REPO_ROOT / "dockerfiles"
EXAMPLE_APP = REPO_ROOT / "examples" / "tms-api"
ORDERS_APP = REPO_ROOT / "tests" / "fixtures" / "apps" / "orders-api"
VARIANTS = ("inside", "host")
SECRET = b"agk-secret-" + uuid.uuid4().hex.encode()

ENV_FILES = {  # beside the app before packing, and dropped into the staged context as well
    ".env": b"DB_PASSWORD=" + SECRET + b"\n",
    ".env.prod": b"DB_PASSWORD=" + SECRET + b"\n",
    "prod.env": b"DB_PASSWORD=" + SECRET + b"\n",
    "config/.env.local": b"DB_PASSWORD=" + SECRET + b"\n",
}


def get_json(url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Built:
    """One app packed once and built in both variants; removes its images at the end."""

    def __init__(self, client, base_image: str, app: Path, work: Path):
        self.client = client
        self.work = work
        shutil.copytree(app, work / "app", ignore=shutil.ignore_patterns("node_modules"))
        for name, data in ENV_FILES.items():
            path = work / "app" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.tgz = npm.pack(work / "app", work / "out")
        self.meta = buildcontext.read_tgz_package(self.tgz)
        self.refs: dict[str, str] = {}
        self.contexts: dict[str, Path] = {}
        self.args: dict[str, dict] = {}
        suffix = uuid.uuid4().hex[:8]
        self.stages_before = self.stage_images()
        self.stages: set[str] = set()
        for variant in VARIANTS:
            dockerfile = buildcontext.dockerfile_for(variant, DOCKERFILES / "Dockerfile")
            context, name, args = buildcontext.stage(
                self.tgz, dockerfile, work / "contexts", variant=variant, base_image=base_image
            )
            assert not any(envfiles.is_env_file(p.name) for p in context.rglob("*")), (
                "stage drops them"
            )
            for rel, data in ENV_FILES.items():  # a hand-made context: the ignore file must hold
                path = context / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            ref = f"agk-test-{self.meta.image_name}-{variant}-{suffix}:{self.meta.version}"
            self.refs[variant] = ref  # before building, so a half-made image is still removed
            images.build(client, context, ref, dockerfile=name, build_args=args, offline=True)
            self.contexts[variant], self.args[variant] = context, args
            self.stages |= self.stage_images() - self.stages_before

    def stage_images(self) -> set[str]:
        """The first stages' untagged images (the classic builder keeps them as cache)."""
        filters = {"dangling": True, "label": buildcontext.STAGE_LABEL}
        return {image.id for image in self.client.images.list(filters=filters)}

    def remove(self):
        for ref in self.refs.values():
            try:
                self.client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass
        for image_id in self.stages:  # not forced: one another build is using stays
            try:
                self.client.images.remove(image_id)
            except docker.errors.APIError:
                pass


@pytest.fixture(scope="module")
def example(docker_client, base_image, tmp_path_factory):
    built = None
    try:
        built = Built(docker_client, base_image, EXAMPLE_APP, tmp_path_factory.mktemp("tms-api"))
        yield built
    finally:
        if built:
            built.remove()


@pytest.fixture(scope="module")
def orders(docker_client, base_image, tmp_path_factory):
    built = None
    try:
        built = Built(docker_client, base_image, ORDERS_APP, tmp_path_factory.mktemp("orders"))
        yield built
    finally:
        if built:
            built.remove()


def start(client, ref: str, names: list[str], **env) -> int:
    name = f"agk-test-{uuid.uuid4().hex[:10]}"
    names.append(name)
    port = free_port()
    client.containers.run(
        ref, name=name, detach=True, environment=env, ports={"8080/tcp": ("127.0.0.1", port)}
    )
    return port


def image_files(client, ref: str):
    """Yield (layer, path, is_file, reader) for every member of every layer of ``ref``, streamed."""
    stream = client.api.get_image(ref, chunk_size=1 << 20)
    raw = _IterReader(stream)
    with tarfile.open(fileobj=raw, mode="r|") as outer:
        for member in outer:
            f = outer.extractfile(member) if member.isfile() else None
            if f is None:
                continue
            if is_layer(member.name, f):
                with tarfile.open(fileobj=f, mode="r|*") as layer:
                    for inner in layer:
                        reader = layer.extractfile(inner) if inner.isfile() else None
                        yield member.name, inner.name, reader
            else:
                yield "(image)", member.name, f


def is_layer(name: str, data) -> bool:
    """A layer of either ``docker save`` layout: ``<id>/layer.tar`` (classic store), or a blob
    that is a tar, plain or gzip-compressed (the containerd image store keeps the layers it builds
    compressed), beside the config and manifests that are JSON."""
    if name.endswith("layer.tar"):
        return True
    head = data.peek(512)[:512]
    return name.startswith("blobs/") and (head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar")


class _IterReader:
    """A read()-able file over an iterator of byte chunks (the engine's save stream)."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.buffer = b""

    def read(self, size=-1):
        while size < 0 or len(self.buffer) < size:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                break
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def contains(reader, marker: bytes) -> bool:
    tail = b""
    while chunk := reader.read(1 << 20):
        if marker in tail + chunk:
            return True
        tail = chunk[-len(marker) :]
    return False


# --- the example app ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_example_runs_and_answers_health(docker_client, example, cleanup_containers, variant):
    port = start(
        docker_client,
        example.refs[variant],
        cleanup_containers,
        APP_ENV="test",
        GREETING="from-the-env-file",
        DB_PASSWORD=SECRET.decode(),
    )
    body = get_json(f"http://127.0.0.1:{port}/health")
    assert body == {
        "status": "ok",
        "app": "tms-api",
        "version": "1.0.0",
        "environment": "test",
        "greeting": "from-the-env-file",
        "database": "not configured",
    }
    container = docker_client.containers.get(cleanup_containers[-1])
    started = time.monotonic()
    container.stop(timeout=10)
    assert time.monotonic() - started < 5, "SIGTERM must stop the app at once"
    assert SECRET not in container.logs()


@pytest.mark.parametrize("variant", VARIANTS)
def test_runs_as_uid_1001(docker_client, example, variant):
    ref = example.refs[variant]
    config = docker_client.api.inspect_image(ref)["Config"]
    assert config["User"] == "1001"
    assert buildcontext.STAGE_LABEL not in (config["Labels"] or {})  # only the first stage has it
    assert "8080/tcp" in config["ExposedPorts"]
    assert "APP_MAIN=app.js" in config["Env"]
    out = docker_client.containers.run(ref, ["sh", "-c", "id -u; id -un; ls -A /app"], remove=True)
    uid, user, *listing = out.decode().split()
    assert (uid, user) == ("1001", "defaultuser")
    # config/ held the test's config/.env.local: the file stayed out, the folder is empty
    assert sorted(listing) == ["README.md", "app.js", "config", "node_modules", "package.json"]
    assert docker_client.containers.run(ref, ["ls", "-A", "/app/config"], remove=True) == b""


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_env_file_in_any_layer(docker_client, example, variant):
    seen_app, layers = False, set()
    for layer, path, reader in image_files(docker_client, example.refs[variant]):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        layers.add(layer)
        assert not envfiles.is_env_file(path), f"{path} in {layer}"
        assert name not in (".npmrc", "Dockerfile", "airgap.Dockerfile", ".dockerignore"), path
        assert not name.endswith(".tgz"), f"{path} in {layer}: the .tgz must not ship"
        seen_app = seen_app or path == "app/app.js"
        if reader is not None:
            assert not contains(reader, SECRET), f"secret marker in {path} of {layer}"
    assert seen_app and len(layers) >= 3  # the scan really read the image's layers


def test_bundled_modules_in_place(docker_client, example):
    out = docker_client.containers.run(
        example.refs["inside"],
        [
            "sh",
            "-c",
            "ls /app/node_modules/express/package.json && ls -A /app/node_modules | wc -l"
            " && test ! -e /app/node_modules/tms-api && test ! -e /app/package-lock.json",
        ],
        remove=True,
    )
    lines = out.decode().split()
    assert lines[0] == "/app/node_modules/express/package.json" and int(lines[1]) > 50


def test_package_json_differing_from_packed_copy_fails(
    docker_client, example, unique_name, cleanup_images, tmp_path
):
    context = tmp_path / "context"
    shutil.copytree(example.contexts["inside"], context)
    pkg = json.loads((context / "package.json").read_text())
    pkg["version"] = "9.9.9"
    (context / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    cleanup_images.append(f"{unique_name}:1")
    before = example.stage_images()
    try:
        with pytest.raises(AirgapError, match="differs from the one packed"):
            images.build(
                docker_client,
                context,
                f"{unique_name}:1",
                build_args=example.args["inside"],
                offline=True,
            )
    finally:  # the failed build leaves its last good step behind, untagged
        example.stages |= example.stage_images() - before


# --- the scoped ES-module app ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_scoped_esm_app_builds_and_runs(docker_client, orders, cleanup_containers, variant):
    assert orders.tgz.name == "acme-orders-api-2.3.0.tgz"
    port = start(docker_client, orders.refs[variant], cleanup_containers)
    body = get_json(f"http://127.0.0.1:{port}/health")
    assert body == {
        "status": "ok",
        "app": "@acme/orders-api",
        "version": "2.3.0",
        "minute": "1m",
        "once": "function",
    }
    out = docker_client.containers.run(
        orders.refs[variant],
        ["sh", "-c", "ls -A /app/node_modules /app/node_modules/@tootallnate"],
        remove=True,
    ).decode()
    assert "@tootallnate" in out and "once" in out and "ms" in out
    assert "@acme" not in out  # the module's own copy was removed, its empty scope folder too
