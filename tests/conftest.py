"""Fixtures shared by the test suite: a real Docker Engine, the node stand-in image, a real registry.

Under CI (``CI`` set) a missing engine or registry binary is an error, never a skip: a run that
skipped every Docker test would prove nothing.

The engine is the one ``DOCKER_HOST`` names (else the default socket). ``--second-engine`` runs the
engine tests alone (those marked ``docker``, or using ``docker_client``; not the ``faults`` ones)
against the engine ``AIRGAPKIT_SECOND_ENGINE`` names, by pointing ``DOCKER_HOST`` at it for the
whole run: the SDK, the docker CLI and every ``inv`` the tests start follow it. Without that
variable the engine tests are skipped, and under CI the run is an error.

``--both-engines`` (what CI runs) does both at once in one pytest run: two pytest-xdist workers
(``--dist each``), the first running the whole suite on the first engine, the second the engine
tests on the second engine (with Docker's containerd image store there, see ``.ci/run``). Most of
an engine test is spent waiting for the engine, so the two runs' waits overlap on two CPUs.
"""

from __future__ import annotations

import os
import shutil
import signal
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
from engine_client import TestClient  # noqa: E402

# The session's round trip (export, release, deploy) that the flows' tests share, and the stack's.
pytest_plugins = ["machines", "stacking"]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_APP = REPO_ROOT / "examples" / "tms-api"
REGISTRY_PORT = 5000
UNDER_CI = bool(os.environ.get("CI"))
SECOND_ENGINE = "AIRGAPKIT_SECOND_ENGINE"  # the second engine's address, as DOCKER_HOST takes it
FIRST_ENGINE = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"  # before any change
NO_SECOND_ENGINE = (
    f"--second-engine: {SECOND_ENGINE} is not set; set it to the second engine's address "
    "(e.g. unix:///srv/d26/sock/docker.sock), as .ci/run does"
)
WORKER_ENGINE = "AIRGAPKIT_TEST_ENGINE"  # which engine a --both-engines worker uses: first, second


def _missing(what: str) -> None:
    if UNDER_CI:
        pytest.fail(f"{what} (CI must provide it: see .ci/run)", pytrace=False)
    pytest.skip(what)


def pytest_addoption(parser):
    parser.addoption(
        "--second-engine",
        action="store_true",
        help=f"run the engine tests alone against the engine ${SECOND_ENGINE} names",
    )
    parser.addoption(
        "--both-engines",
        action="store_true",
        help="the whole suite on the first engine and, at the same time, the engine tests on the "
        f"second (${SECOND_ENGINE}): one pytest-xdist worker per engine",
    )


def on_second_engine(config) -> bool:
    """Whether this run, or this worker of a --both-engines run, uses the second engine."""
    if config.getoption("--both-engines"):
        return os.environ.get(WORKER_ENGINE) == "second"
    return config.getoption("--second-engine")


def pytest_configure(config):
    # A background job of a non-interactive shell starts with SIGINT ignored, and its children
    # inherit that: the tests' Ctrl-C of an inv run would then go unheard. A handler is not
    # inherited across exec, so each child starts with the default again.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if config.getoption("--both-engines") and not hasattr(config, "workerinput"):
        _require_second_engine()
        # pytest-xdist reads these after this hook: every worker runs all it collects ("each"),
        # and each worker's engine is set in its environment.
        config.option.dist = "each"
        config.option.tx = [f"popen//env:{WORKER_ENGINE}={e}" for e in ("first", "second")]
        return
    if not on_second_engine(config):
        return
    _require_second_engine()
    if os.environ.get(SECOND_ENGINE):
        os.environ["DOCKER_HOST"] = os.environ[SECOND_ENGINE]


def _require_second_engine() -> None:
    if UNDER_CI and not os.environ.get(SECOND_ENGINE):
        raise pytest.UsageError(f"{NO_SECOND_ENGINE} (CI must provide it)")


def pytest_report_header(config):
    """Which engine the run uses, and which image store it keeps (when it answers)."""
    if config.getoption("--both-engines"):
        second = os.environ.get(SECOND_ENGINE) or "none (its tests are skipped)"
        return [
            f"worker gw0, the whole suite: {_engine(FIRST_ENGINE)}",
            f"worker gw1, the engine tests: {_engine(second)}",
        ]
    flag = " (--second-engine)" if config.getoption("--second-engine") else ""
    return f"Docker Engine: {_engine(os.environ.get('DOCKER_HOST') or FIRST_ENGINE)}{flag}"


def _engine(address: str) -> str:
    from airgapkit.engine import store

    try:
        client = docker.DockerClient(base_url=address, timeout=10)
        info = client.info()
        client.close()
        kept = f", Docker {info.get('ServerVersion')}, {store.store_of(info)} image store"
    except Exception:  # noqa: BLE001 - the header only reports; the fixtures say what is wrong
        kept = ", not answering"
    return f"{address}{kept}"


def pytest_collection_modifyitems(config, items):
    """Every test that uses the engine is marked ``docker``; with --second-engine only those run,
    the ``faults`` and ``one_store`` ones left to the first engine, and all are skipped when there
    is no second."""
    for item in items:
        if "docker_client" in item.fixturenames:
            item.add_marker(pytest.mark.docker)
    if not on_second_engine(config):
        return
    keep = [
        i
        for i in items
        if "docker" in i.keywords and "faults" not in i.keywords and "one_store" not in i.keywords
    ]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
    if not os.environ.get(SECOND_ENGINE):
        for item in keep:
            item.add_marker(pytest.mark.skip(reason=NO_SECOND_ENGINE))


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = TestClient.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means the same here
        _missing(f"no Docker Engine answers: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def other_engine(pytestconfig, docker_client) -> tuple[str, docker.DockerClient]:
    """The other engine of the two CI uses (its address and a client), with the node stand-in:
    the first engine in a --second-engine run, the second engine otherwise. Tests that carry an
    image from one engine to the other use it, so each run crosses from its store to the other's."""
    if on_second_engine(pytestconfig):
        address = FIRST_ENGINE
    elif os.environ.get(SECOND_ENGINE):
        address = os.environ[SECOND_ENGINE]
    else:
        _missing(f"no other engine to carry images to: {SECOND_ENGINE} is not set")
    try:
        client = TestClient(base_url=address, timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means the same here
        _missing(f"the other engine at {address} does not answer: {exc}")
    node_standin.ensure_image(client)
    yield address, client
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


def _free_registry_addr(config) -> str:
    """127.0.0.1:5000, or the next free port when another test run already holds it. A run on the
    second engine starts at 5100: the two workers of --both-engines start theirs at the same time."""
    first = REGISTRY_PORT + (100 if on_second_engine(config) else 0)
    for port in range(first, first + 50):
        addr = f"127.0.0.1:{port}"
        if not _port_open(addr):
            return addr
    pytest.fail(f"no free port for the test registry in {first}-{first + 49}", pytrace=False)


def _port_open(addr: str) -> bool:
    host, port = addr.split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="session")
def registry(pytestconfig, tmp_path_factory, docker_client, base_image):
    """A real registry (Debian's docker-registry) on loopback, started and stopped here.

    Its address (``127.0.0.1:5000`` unless taken) is the fixture's value. The node stand-in is pushed to
    it as ``<addr>/node:20-alpine`` so pulls have something real.
    """
    binary = shutil.which("docker-registry")
    if not binary:
        _missing("docker-registry is not installed (apt-get install docker-registry)")
    addr = _free_registry_addr(pytestconfig)
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
