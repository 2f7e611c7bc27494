"""engine/oneoff.py through ``inv deploy``: the ``predeploy`` command of a single-container
environment runs once from the new image with the environment's env file, before the running
container is touched; its failure stops the deploy, and its outcome is in the history either way.
(A stack's ``stack.predeploy``: tests/test_stack_compose.py and tests/test_stack_swarm.py.)"""

from __future__ import annotations

import json

import pytest
from invoking import assert_refusal, inv
from machines import GREETING, health

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def last_entry(machines) -> dict:
    lines = (machines["prod"] / ".airgapkit" / "history.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def deploy_with(round_trip, machines, private_tmp, command: str):
    env = {**private_tmp, "INVOKE_AIRGAPKIT_PREDEPLOY": command}
    return inv(*round_trip["deploy"], cwd=machines["prod"], env=env)


def test_a_failing_predeploy_stops_the_deploy_before_the_container_is_touched(
    docker_client, round_trip, machines, private_tmp
):
    before = docker_client.containers.get(round_trip["container"]).id
    fails = "node -e \"console.log('migration-failed-here'); process.exit(3)\""
    proc = deploy_with(round_trip, machines, private_tmp, fails)
    assert_refusal(proc, "the predeploy command", "exited with code 3", "nothing was replaced")
    assert "migration-failed-here" in proc.stderr
    assert docker_client.containers.get(round_trip["container"]).id == before
    assert health(round_trip["ports"])["greeting"] == GREETING
    entry = last_entry(machines)
    assert entry["outcome"] == "failed" and entry["predeploy"]["exit_code"] == 3


def test_a_passing_predeploy_sees_the_env_file_and_the_deploy_goes_on(
    docker_client, round_trip, machines, private_tmp
):
    check = f"node -e \"process.exit(process.env.GREETING === '{GREETING}' ? 0 : 1)\""
    proc = deploy_with(round_trip, machines, private_tmp, check)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "predeploy passed" in proc.stderr
    entry = last_entry(machines)
    assert entry["outcome"] == "ok" and entry["predeploy"]["exit_code"] == 0
    assert health(round_trip["ports"])["greeting"] == GREETING
