"""Fixtures shared by the test suite: a real Docker Engine, the node stand-in image, a real registry.

Under CI (``CI`` set) a missing engine or registry binary is an error, never a skip: a run that
skipped every Docker test would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
import node_standin  # noqa: E402

# The session's round trip (export, release, deploy) that the flows' tests share, and the stack's.
pytest_plugins = ["machines", "stacking"]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP = REPO_ROOT / "examples" / "tms-api"
REGISTRY_PORT = 5000
UNDER_CI = bool(os.environ.get("CI"))


def _missing(what: str) -> None:
    if UNDER_CI:
        pytest.fail(f"{what} (CI must provide it: see .ci/run)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means the same here
        _missing(f"no Docker Engine answers: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """The tag of the node stand-in (built once, reused across runs)."""
    return node_standin.ensure_image(docker_client)


@pytest.fixture
def unique_name():
    """A fresh name for images and containers a test makes, so parallel runs never collide."""
    return f"agk-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup_images(docker_client):
    """Collect image references to remove when the test ends."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        try:
            docker_client.images.remove(ref, force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def cleanup_containers(docker_client):
    """Collect container names to remove when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        try:
            docker_client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass


def _free_registry_addr() -> str:
    """127.0.0.1:5000, or the next free port when another test run already holds it."""
    for port in range(REGISTRY_PORT, REGISTRY_PORT + 50):
        addr = f"127.0.0.1:{port}"
        if not _port_open(addr):
            return addr
    pytest.fail("no free port for the test registry in 5000-5049", pytrace=False)


def _port_open(addr: str) -> bool:
    host, port = addr.split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="session")
def registry(tmp_path_factory, docker_client, base_image):
    """A real registry (Debian's docker-registry) on loopback, started and stopped here.

    Its address (``127.0.0.1:5000`` unless taken) is the fixture's value. The node stand-in is pushed to
    it as ``<addr>/node:20-alpine`` so pulls have something real.
    """
    binary = shutil.which("docker-registry")
    if not binary:
        _missing("docker-registry is not installed (apt-get install docker-registry)")
    addr = _free_registry_addr()
    root = tmp_path_factory.mktemp("registry")
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: {addr}}}\n"
    )
    log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not _port_open(addr):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"registry did not start: {(root / 'registry.log').read_text()}")
            time.sleep(0.1)
        remote = f"{addr}/node:20-alpine"
        docker_client.images.get(base_image).tag(remote)
        for line in docker_client.api.push(remote, stream=True, decode=True):
            if "error" in line:
                pytest.fail(f"push to the test registry failed: {line['error']}")
        docker_client.images.remove(remote)
        yield addr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def remote_only(docker_client, registry, base_image) -> str:
    """A reference the test registry holds and no test ever pulls: absent from the engine.

    The never-pull tests use it rather than the registry's node:20-alpine, which the round trip
    pulls and keeps for the whole session.
    """
    ref = f"{registry}/agk-never-pulled-{uuid.uuid4().hex[:8]}:1"
    docker_client.images.get(base_image).tag(ref)
    for line in docker_client.api.push(ref, stream=True, decode=True):
        if "error" in line:
            pytest.fail(f"push to the test registry failed: {line['error']}")
    docker_client.images.remove(ref)
    return ref


# The image the run tests use: the stand-in plus a one-line HTTP server answering with $GREETING
# on port 8080, so a container proves its env file reached it without the example app.
HTTP_SERVER_JS = (
    "require('http').createServer((q, r) => r.end(process.env.GREETING || 'unset'))"
    ".listen(8080, () => console.log('listening on 8080'))"
)


@pytest.fixture(scope="session")
def http_image(docker_client, base_image, tmp_path_factory):
    """A small image of its own (own id, removed at the end) whose CMD serves $GREETING on 8080."""
    import json

    from airgapkit.engine import images

    context = tmp_path_factory.mktemp("http-image")
    (context / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f"RUN echo {uuid.uuid4().hex} > /image-marker\n"
        f"CMD {json.dumps(['node', '-e', HTTP_SERVER_JS])}\n"
    )
    ref = f"agk-test-http:{uuid.uuid4().hex[:8]}"
    images.build(docker_client, context, ref, offline=True)
    yield ref
    try:
        docker_client.images.remove(ref, force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="session")
def exiting_image(docker_client, base_image, tmp_path_factory):
    """An image whose command exits at once: no health check of it can ever pass."""
    from airgapkit.engine import images

    context = tmp_path_factory.mktemp("exits")
    (context / "Dockerfile").write_text(f'FROM {base_image}\nCMD ["false"]\n')
    ref = f"agk-test-exits-{uuid.uuid4().hex[:8]}:1"
    images.build(docker_client, context, ref, offline=True)
    yield ref
    docker_client.images.remove(ref, force=True)


def container_absent(client, name: str) -> bool:
    try:
        client.containers.get(name)
        return False
    except docker.errors.NotFound:
        return True


# --- containers the lifecycle tests replace (test_lifecycle, test_interrupted) --------------------


@pytest.fixture
def name(unique_name, cleanup_containers) -> str:
    """A container name of the test's own; it and its NAME-previous are removed at the end."""
    cleanup_containers.extend([unique_name, f"{unique_name}-previous"])
    return unique_name


@pytest.fixture
def ports():
    """The app's port 8080 on a free loopback port."""
    from invoking import free_port

    from airgapkit.ports import Ports

    return Ports.parse(f"127.0.0.1:{free_port()}:8080")


@pytest.fixture
def in_a_folder_of_its_own(monkeypatch, tmp_path):
    """Removed containers' logs go to ./logs (Watch's default): here, the test's own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def immutable(tmp_path):
    """A folder no one may write in, root included (``chattr +i``), made writable again after."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)
