"""engine/containers.py: run (never pulling) with the ports given, the shell's argv."""

from __future__ import annotations

import time

import docker
import pytest
import requests
from invoking import free_port

from airgapkit.engine import client as engine_client
from airgapkit.engine import containers
from airgapkit.errors import AirgapError, ImageMissing, chain
from airgapkit.ports import Ports

# --- what run gives the engine for --ports (no engine) --------------------------------------------


def test_port_bindings_as_the_sdk_takes_them():
    assert Ports.parse("8080:8080").bindings() == {"8080/tcp": 8080}
    assert Ports.parse("127.0.0.1:3001:3000").bindings() == {"3000/tcp": ("127.0.0.1", 3001)}
    assert Ports.parse("1:2/udp,3:4").bindings() == {"2/udp": 1, "4/tcp": 3}
    assert Ports.parse("8080:8080/tcp").bindings() == {"8080/tcp": 8080}


@pytest.mark.parametrize("spec", ["x:1", "0:80", "70000:80", "1.2.3:80:80", ""])
def test_malformed_ports_are_refused(spec):
    with pytest.raises(AirgapError, match="port mapping"):
        Ports.parse(spec)


def test_published_reads_like_docker_ps():
    ports = Ports.parse("127.0.0.1:8080:80,9229:9229,53/udp")
    assert containers.published(ports) == "127.0.0.1:8080->80/tcp, 9229->9229/tcp, any->53/udp"


def test_log_lines_are_shown_as_data():
    from airgapkit.engine.containers import printable

    assert printable(b"plain text\r") == "plain text"
    assert printable(b"\x1b[2J\x1b]0;owned\x07gone") == "\\x1b[2J\\x1b]0;owned\\x07gone"
    assert printable("bidi \u202e".encode()) == "bidi \\u202e"
    assert printable(b"\xff") == "\ufffd"


# --- on a real engine -----------------------------------------------------------------------------


@pytest.fixture
def client(docker_client):
    return engine_client.connect(timeout=600)


@pytest.mark.docker
def test_run_publishes_every_mapping(client, http_image, unique_name, cleanup_containers):
    app, other = free_port(), free_port()
    ports = Ports.parse(f"127.0.0.1:{app}:8080/tcp,127.0.0.1:{other}:9090,127.0.0.1::9229")
    cleanup_containers.append(unique_name)
    container = containers.run(
        client, http_image, name=unique_name, ports=ports, detach=True, remove=False
    )
    container.reload()
    bound = container.attrs["NetworkSettings"]["Ports"]
    assert bound["8080/tcp"][0]["HostPort"] == str(app)
    assert bound["9090/tcp"][0]["HostPort"] == str(other)
    chosen = int(bound["9229/tcp"][0]["HostPort"])  # left to the engine
    assert chosen > 0
    assert containers.host_port(container, ports) == app
    assert containers.host_port(container, Ports.parse("127.0.0.1::8080")) == int(
        bound["8080/tcp"][0]["HostPort"]
    )


@pytest.mark.docker
def test_an_app_without_a_sigterm_handler_stops_at_once(
    client, http_image, unique_name, cleanup_containers
):
    """http_image's node sets no SIGTERM handler: as PID 1 it would ignore the signal, and a deploy
    replacing it would wait out the 10 s stop timeout. Under --init it stops at once."""
    cleanup_containers.append(unique_name)
    ports = Ports.parse(f"127.0.0.1:{free_port()}:8080")
    container = containers.run(
        client, http_image, name=unique_name, ports=ports, detach=True, remove=False
    )
    container.reload()
    assert container.attrs["HostConfig"]["Init"] is True
    started = time.monotonic()
    container.stop(timeout=10)
    assert time.monotonic() - started < 5


@pytest.mark.docker
def test_host_port_reads_the_port_the_engine_chose(
    client, http_image, unique_name, cleanup_containers
):
    ports = Ports.parse("127.0.0.1::8080")
    cleanup_containers.append(unique_name)
    container = containers.run(
        client, http_image, name=unique_name, ports=ports, detach=True, remove=False
    )
    port = containers.host_port(container, ports)
    assert port and port != 8080
    assert ports.health_url("/health", host_port=port) == f"http://127.0.0.1:{port}/health"


@pytest.mark.docker
def test_run_never_pulls(client, remote_only):
    remote = remote_only  # in the registry, not in the engine
    with pytest.raises(ImageMissing):
        containers.run(client, remote, name="agk-never-pulled", detach=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(remote)


@pytest.mark.docker
def test_run_refuses_a_bad_name_before_creating_anything(client, http_image):
    before = len(client.containers.list(all=True))
    with pytest.raises(AirgapError, match="container name 'a b' is invalid"):
        containers.run(client, http_image, name="a b", detach=True)
    assert len(client.containers.list(all=True)) == before


@pytest.mark.docker
def test_shell_argv(client, base_image, unique_name, cleanup_containers):
    assert containers.shell_argv(client, image=base_image) == [
        "docker",
        "run",
        "-i",  # pytest's stdin is no terminal: with -t the docker CLI would refuse it
        "--rm",
        base_image,
        "sh",
    ]
    client.containers.create(base_image, ["sleep", "30"], name=unique_name)
    cleanup_containers.append(unique_name)
    with pytest.raises(AirgapError, match="is created, not running"):
        containers.shell_argv(client, container=unique_name)
    client.containers.get(unique_name).start()
    assert containers.shell_argv(client, container=unique_name) == [
        "docker",
        "exec",
        "-i",
        unique_name,
        "sh",
    ]
    with pytest.raises(AirgapError, match="no container named agk-absent"):
        containers.shell_argv(client, container="agk-absent")


@pytest.mark.docker
def test_an_engine_refusal_never_quotes_an_env_value(
    client, http_image, unique_name, cleanup_containers
):
    """The engine refuses a NUL byte in an env value at the container's start, quoting
    ``KEY=VALUE`` whole: airgapkit's line (and the causes it keeps) must not carry the value."""
    secret = "s3cr3t-marker-0815"  # noqa: S105 - a marker to search for
    cleanup_containers.append(unique_name)
    env = {"GREETING": "hello", "DB_PASSWORD": f"{secret}\x00tail"}
    with pytest.raises(AirgapError) as info:
        containers.run(client, http_image, name=unique_name, env=env, detach=True)
    assert "could not start container" in str(info.value)
    assert secret not in chain(info.value)  # what AIRGAPKIT_DEBUG prints
    # Docker 20.10's runc quotes "DB_PASSWORD=<value>" (scrubbed to ***); 26.1's names the key only
    assert secret not in str(info.value) and "x00tail" not in str(info.value)


@pytest.mark.docker
def test_a_failed_start_is_said_once(client, http_image, unique_name, cleanup_containers):
    cleanup_containers.append(unique_name)
    with pytest.raises(AirgapError) as info:  # a NUL in a value: the engine refuses the start
        containers.run(client, http_image, name=unique_name, env={"K": "a\x00b"}, detach=True)
    assert str(info.value).startswith(f"could not start container {unique_name}: ")
    assert str(info.value).count("could not start container") == 1
    assert not containers.exists(client, unique_name)  # the created one was removed


@pytest.mark.parametrize(
    ("said", "port"),
    [
        (
            "driver failed programming external connectivity on endpoint x: "
            "Bind for 0.0.0.0:18080 failed: port is already allocated",
            "18080",
        ),
        (
            "Error starting userland proxy: listen tcp4 127.0.0.1:18081: bind: address already in use",
            "18081",
        ),
        ("ports are not available: address already in use", "18082"),
    ],
)
def test_each_way_the_engine_says_a_port_is_taken_names_the_port(said, port):
    taken = containers._port_conflict(
        AirgapError(f"could not start x: {said}"), Ports.parse("18082:80")
    )
    assert str(taken).startswith(f"port {port} is already in use on this machine")


def test_another_start_failure_is_not_a_port_conflict():
    failure = AirgapError("could not start x: OCI runtime create failed: no such file")
    assert containers._port_conflict(failure, Ports.parse("18082:80")) is None


class _RemovedMeanwhile:
    """A stand-in for a container the engine is removing already: a race between the engine's
    own --rm and this removal, which cannot be provoked on cue, so the answer is given here."""

    name = "agk-removed-meanwhile"

    def __init__(self, status: int):
        self.status = status

    def remove(self, force: bool) -> None:
        answer = requests.Response()
        answer.status_code = self.status
        raise docker.errors.APIError("conflict", answer, f"removal of container {self.name} ...")


def test_a_removal_already_in_progress_is_no_failure():
    containers.discard(_RemovedMeanwhile(409))


def test_another_refused_removal_is_one_line():
    with pytest.raises(AirgapError, match="^could not remove container agk-removed-meanwhile: "):
        containers.discard(_RemovedMeanwhile(500))
