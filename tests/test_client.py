"""engine/client.py: connecting, the one translation of SDK errors, container names."""

from __future__ import annotations

import io
import os
import sys

import docker
import pytest

from airgapkit.engine import client as engine_client
from airgapkit.errors import AirgapError, EngineUnavailable

# --- container names (no engine) ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "-x", "a b", "x/y", "ü"])
def test_validate_container_name_refuses(name):
    with pytest.raises(AirgapError, match="container name .* is invalid"):
        engine_client.validate_container_name(name)


# --- connecting and translating errors ------------------------------------------------------------


def test_connect_refuses_unreachable_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    with pytest.raises(
        EngineUnavailable, match="unix:///nonexistent.sock.*start the engine"
    ) as info:
        engine_client.connect(timeout=5)
    assert info.value.__cause__ is not None  # the transport's own error, for AIRGAPKIT_DEBUG


def test_a_lost_engine_is_named_with_its_address(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    # A fixed API version: the client would otherwise ask the (absent) engine for one at once.
    lost = docker.DockerClient(base_url="unix:///nonexistent.sock", version="1.41", timeout=5)
    with pytest.raises(
        EngineUnavailable, match=r"lost the Docker Engine at unix:///nonexistent"
    ) as info:
        with engine_client.engine_errors("list images"):
            lost.images.list()
    assert info.value.__cause__ is not None


@pytest.fixture
def client(docker_client):
    return engine_client.connect(timeout=600)


@pytest.mark.docker
def test_connect_sets_the_long_timeout(client):
    assert client.api.timeout == 600


@pytest.mark.docker
def test_engine_errors_give_the_engines_words_on_one_line_and_keep_the_cause(client):
    with pytest.raises(AirgapError, match=r"^could not inspect agk-absent: .*agk-absent") as info:
        with engine_client.engine_errors("inspect agk-absent"):
            client.containers.get("agk-absent")
    assert "\n" not in str(info.value)
    assert isinstance(info.value.__cause__, docker.errors.NotFound)


def test_engine_errors_let_airgap_errors_through():
    with pytest.raises(AirgapError, match="^as it was$"):
        with engine_client.engine_errors("do anything"):
            raise AirgapError("as it was")


def test_stream_error_reads_both_shapes():
    assert engine_client.stream_error({"error": "no\nspace  left"}) == "no space left"
    assert engine_client.stream_error({"errorDetail": {"message": "denied"}}) == "denied"
    assert engine_client.stream_error({"stream": "Step 1/2"}) is None


def test_scrub_hides_values_as_written_and_as_the_engine_quotes_them():
    hide = {"DB_PASSWORD": 'pa"ss\x00word', "APP_ENV": "dev"}
    said = (
        'env "DB_PASSWORD=pa\\"ss\\x00word": unknown; json {"v":"pa\\"ss\\u0000word"}; '
        'raw pa"ss\x00word; APP_ENV=dev in /dev/null'
    )
    assert engine_client.scrub(said, hide) == (
        'env "DB_PASSWORD=***": unknown; json {"v":"***"}; raw ***; APP_ENV=*** in /dev/null'
    )


def test_engine_errors_scrub_an_airgap_error_passing_through():
    cause = AirgapError("quoted s3cr3t-v4lue")
    with pytest.raises(AirgapError, match=r"^failed: \*\*\*$") as info:
        with engine_client.engine_errors("do anything", hide={"K": "s3cr3t-v4lue"}):
            raise AirgapError("failed: s3cr3t-v4lue") from cause
    assert info.value.__cause__ is None  # it quoted the value too


def test_a_shell_asks_for_a_terminal_only_on_one(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("echo piped\n"))
    assert engine_client.shell_flags() == "-i"  # the docker CLI refuses -t on a pipe
    monkeypatch.setattr(sys, "stdin", None)  # a program started with no stdin at all
    assert engine_client.shell_flags() == "-i"
    pty = pytest.importorskip("pty", reason="a pseudo-terminal exists only on POSIX")
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, closefd=False) as terminal:
            monkeypatch.setattr(sys, "stdin", terminal)
            assert engine_client.shell_flags() == "-it"
    finally:
        os.close(leader)
        os.close(follower)
