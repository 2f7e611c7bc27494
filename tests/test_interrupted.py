"""engine/interrupted.py: a replacement a killed run left half done, seen, finished or undone.

The decision needs no engine; the rest runs on the real engine with the two small images of
test_lifecycle (one answers, one exits). The end-to-end case, a deploy killed by SIGKILL in its
health wait, is in test_deploy.py.
"""

from __future__ import annotations

import pytest

from airgapkit.engine import client as engine_client
from airgapkit.engine import containers, interrupted, lifecycle
from airgapkit.errors import AirgapError
from airgapkit.ports import Ports
from conftest import container_absent

Recovery = interrupted.Recovery

pytestmark = pytest.mark.usefixtures("in_a_folder_of_its_own")


@pytest.fixture
def client(docker_client):
    return engine_client.connect(timeout=600)


@pytest.mark.parametrize(
    ("previous", "current", "healthy", "decision"),
    [
        (False, "running", True, Recovery.NONE),
        (True, "running", True, Recovery.FINISH),
        (True, "running", False, Recovery.UNDO),
        (True, "exited", False, Recovery.UNDO),
        (True, None, False, Recovery.UNDO),
    ],
)
def test_recovery(previous, current, healthy, decision):
    assert interrupted.recovery(previous, current, healthy) is decision


def leave_interrupted(client, name: str, previous_ref: str, current_ref: str | None, ports: Ports):
    """What a deploy killed in its health wait leaves: NAME-previous stopped, maybe a new NAME."""
    previous = containers.run(
        client, previous_ref, name=name, ports=ports, detach=True, remove=False
    )
    previous.stop(timeout=1)
    previous.rename(lifecycle.stale_name(name))
    if current_ref:
        containers.run(client, current_ref, name=name, ports=ports, detach=True, remove=False)
    return previous


@pytest.mark.docker
def test_the_note_of_the_killed_run_says_whether_the_previous_one_ran(
    client, http_image, name, ports
):
    previous = leave_interrupted(client, name, http_image, None, ports)
    assert interrupted.find_interrupted(client, name).previous_was_running  # no note: it ran
    note = {"previous_id": previous.id, "previous_was_running": False}
    assert not interrupted.find_interrupted(client, name, note).previous_was_running
    other = {"previous_id": "another", "previous_was_running": False}
    assert interrupted.find_interrupted(client, name, other).previous_was_running
    assert interrupted.find_interrupted(client, f"{name}-none") is None


@pytest.mark.docker
def test_recover_finishes_when_the_new_container_answers(client, http_image, name, ports):
    previous = leave_interrupted(client, name, http_image, http_image, ports)
    found = interrupted.find_interrupted(client, name)
    decision = interrupted.recover(client, found, lifecycle.Watch(ports, "/", 20))
    assert decision is Recovery.FINISH
    assert container_absent(client, previous.id)
    assert client.containers.get(name).status == "running"


@pytest.mark.docker
def test_recover_undoes_when_the_new_container_does_not_answer(
    client, http_image, exiting_image, name, ports, tmp_path
):
    previous = leave_interrupted(client, name, http_image, exiting_image, ports)
    found = interrupted.find_interrupted(client, name)
    decision = interrupted.recover(client, found, lifecycle.Watch(ports, "/", 20))
    assert decision is Recovery.UNDO
    back = client.containers.get(name)
    assert back.id == previous.id and back.status == "running"
    assert container_absent(client, lifecycle.stale_name(name))
    assert len(list((tmp_path / "logs").iterdir())) == 1  # the removed container's log, kept


@pytest.mark.docker
def test_rollback_with_nothing_set_aside_is_refused(client, name, ports):
    with pytest.raises(AirgapError, match=f"nothing to roll back: there is no container {name}-"):
        interrupted.rollback(client, name, lifecycle.Watch(ports))
