"""engine/lifecycle.py: the replacement's decisions as plain functions, then carried out for real.

The decisions need no engine. The replacements below run on the real engine with two small images:
one that answers its health path, one whose command exits at once. The end-to-end rollback of a
real release is in test_deploy.py.
"""

from __future__ import annotations

import pytest

from airgapkit.engine import client as engine_client
from airgapkit.engine import lifecycle
from airgapkit.engine.lifecycle import Outcome, Step
from airgapkit.errors import AirgapError
from airgapkit.ports import Ports
from conftest import container_absent

# --- the decisions (no engine) --------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("in_a_folder_of_its_own")


def test_nothing_to_set_aside_when_no_container_has_the_name():
    assert lifecycle.set_aside_steps(None, stale=False) == []


def test_a_stale_previous_alone_is_left_alone():
    """Without a current container, NAME-previous is the only copy of what ran: it stays."""
    assert lifecycle.set_aside_steps(None, stale=True) == []


@pytest.mark.parametrize("status", ["running", "restarting", "paused"])
def test_a_running_container_is_stopped_then_renamed(status):
    assert lifecycle.set_aside_steps(status, stale=False) == [Step.STOP, Step.RENAME_ASIDE]


@pytest.mark.parametrize("status", ["exited", "created", "dead"])
def test_a_stopped_container_is_only_renamed(status):
    assert lifecycle.set_aside_steps(status, stale=False) == [Step.RENAME_ASIDE]


def test_a_stale_previous_goes_first_when_there_is_a_current_one():
    steps = lifecycle.set_aside_steps("running", stale=True)
    assert steps == [Step.REMOVE_STALE, Step.STOP, Step.RENAME_ASIDE]


@pytest.mark.parametrize(
    ("healthy", "previous", "outcome"),
    [
        (True, False, Outcome.KEEP),
        (True, True, Outcome.KEEP_DROP_PREVIOUS),
        (False, True, Outcome.ROLL_BACK),
        (False, False, Outcome.FAIL),
    ],
)
def test_after_health(healthy, previous, outcome):
    assert lifecycle.after_health(healthy, previous) is outcome


def test_the_previous_container_comes_back_as_it_was():
    assert lifecycle.restore_steps(was_running=True) == [Step.RENAME_BACK, Step.START, Step.WAIT]
    assert lifecycle.restore_steps(was_running=False) == [Step.RENAME_BACK]


# --- carried out on a real engine -----------------------------------------------------------------


@pytest.fixture
def client(docker_client):
    return engine_client.connect(timeout=600)


def replace(client, ref: str, name: str, ports: Ports, env: dict | None = None):
    watch = lifecycle.Watch(ports, "/", 20)
    return lifecycle.replace(client, ref, name, env=env or {}, watch=watch)


@pytest.mark.docker
def test_a_healthy_replacement_removes_the_previous_one(client, http_image, name, ports):
    first = replace(client, http_image, name, ports)
    second = replace(client, http_image, name, ports, env={"GREETING": "second"})
    assert client.containers.get(name).id == second.id != first.id
    assert container_absent(client, lifecycle.stale_name(name)) and container_absent(
        client, first.id
    )


@pytest.mark.docker
def test_an_unhealthy_replacement_brings_the_running_one_back(
    client, http_image, exiting_image, name, ports
):
    first = replace(client, http_image, name, ports)
    with pytest.raises(AirgapError, match=f"exited .*; the previous container {name} runs again"):
        replace(client, exiting_image, name, ports)
    back = client.containers.get(name)
    assert back.id == first.id and back.status == "running"
    assert [c.name for c in client.containers.list(all=True) if name in c.name] == [name]


@pytest.mark.docker
def test_a_stopped_previous_one_comes_back_stopped(client, http_image, exiting_image, name, ports):
    first = replace(client, http_image, name, ports)
    first.stop(timeout=1)
    with pytest.raises(AirgapError, match=f"previous container {name} is back, stopped as it was"):
        replace(client, exiting_image, name, ports)
    back = client.containers.get(name)
    assert back.id == first.id and back.status == "exited"


@pytest.mark.docker
def test_an_unhealthy_first_deploy_leaves_nothing(client, exiting_image, name, ports):
    with pytest.raises(AirgapError, match="exited") as info:
        replace(client, exiting_image, name, ports)
    assert "previous" not in str(info.value)
    assert container_absent(client, name) and container_absent(client, lifecycle.stale_name(name))


@pytest.mark.docker
def test_a_replacement_that_cannot_start_brings_the_previous_one_back(
    client, http_image, name, ports
):
    """The new container's extra port is held by another program: it never starts."""
    first = replace(client, http_image, name, ports)
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        more = Ports.parse(f"{ports},127.0.0.1:{taken}:9090")
        with pytest.raises(AirgapError, match=f"port {taken} is already in use.*runs again"):
            replace(client, http_image, name, more)
    back = client.containers.get(name)
    assert back.id == first.id and back.status == "running"


@pytest.mark.docker
def test_a_stale_previous_from_an_interrupted_deploy_is_cleared(client, http_image, name, ports):
    client.containers.create(http_image, name=lifecycle.stale_name(name))
    first = replace(client, http_image, name, ports)
    second = replace(client, http_image, name, ports)
    assert client.containers.get(name).id == second.id
    assert container_absent(client, lifecycle.stale_name(name)) and container_absent(
        client, first.id
    )


@pytest.mark.docker
def test_the_health_url_uses_the_port_the_engine_chose(client, http_image, name):
    container = replace(client, http_image, name, Ports.parse("127.0.0.1::8080"))
    url = lifecycle.health_url(container, Ports.parse("127.0.0.1::8080"), "/health")
    assert url.startswith("http://127.0.0.1:") and ":8080/" not in url


@pytest.mark.docker
def test_an_exit_before_a_chosen_port_is_known_is_named_as_an_exit(client, exiting_image, name):
    with pytest.raises(AirgapError, match=r"container .* exited \(code 1\) before"):
        replace(client, exiting_image, name, Ports.parse("127.0.0.1::8080"))
    assert container_absent(client, name)


@pytest.mark.docker
def test_a_rollback_keeps_the_failed_log_and_names_it(
    client, http_image, exiting_image, name, ports, tmp_path
):
    replace(client, http_image, name, ports)
    with pytest.raises(AirgapError, match=r"its log is kept in logs/.*\.log; the previous") as info:
        replace(client, exiting_image, name, ports)
    (log,) = (tmp_path / "logs").iterdir()
    assert str(log.relative_to(tmp_path)) in str(info.value)
    assert log.stat().st_mode & 0o777 == 0o600
