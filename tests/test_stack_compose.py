"""A stack on one engine (``target: compose``, Docker Compose v2) through the tasks, as a user runs
them in prod's folder: deploy, status, a failing predeploy, an update whose app fails its health
check (the previous stack brought back), an update of the app alone, and the far side's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoking import assert_refusal, inv
from stacking import STACK_PREDEPLOY_FAILS, broken_settings, prod_folder

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


@pytest.fixture(scope="module")
def prod(stack, tmp_path_factory, docker_client):
    folder = prod_folder(tmp_path_factory.mktemp("compose-prod"), stack, {"target": "compose"})
    yield folder
    from airgapkit.engine import compose

    state = folder / ".airgapkit" / "stacks" / stack.project() / "current"
    compose.down(stack.project(), state / "compose.yaml")


def task(prod, *args, config="airgapkit.yaml"):
    wide = {"COLUMNS": "250"}  # tables at full width
    return inv("-f", str(prod / config), *args, cwd=prod, env=wide, timeout=600)


def containers(client, project: str) -> dict[str, str]:
    found = client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
    return {c.labels["com.docker.compose.service"]: c.id for c in found}


def test_deploy_runs_every_service_healthy_and_status_shows_them(stack, prod, docker_client):
    proc = task(prod, *stack.bundles["1.0.0"].deploy_args())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stack-secret-4711" not in proc.stdout + proc.stderr
    answer = stack.through_proxy()
    assert answer["version"] == "1.0.0" and answer["greeting"] == "hello from the stack"
    status = task(prod, "status", "--env", "prod", "--name", stack.project())
    assert status.returncode == 0, status.stderr
    for service in ("api", "kv", "proxy"):
        assert service in status.stdout
    assert f"{stack.kv}" in status.stdout and "healthy" in status.stdout


def test_a_failing_predeploy_stops_the_deploy_and_changes_nothing(stack, prod, docker_client):
    import yaml

    config = yaml.safe_load((prod / "airgapkit.yaml").read_text())
    config["airgapkit"]["stack"] = {"predeploy": STACK_PREDEPLOY_FAILS}
    (prod / "predeploy.yaml").write_text(yaml.safe_dump(config))
    before = containers(docker_client, stack.project())
    proc = task(prod, *stack.bundles["1.1.0"].deploy_args(), config="predeploy.yaml")
    line = assert_refusal(proc, "predeploy command", "exited with code 1", "nothing was replaced")
    assert "migrating..." in proc.stderr, proc.stderr
    assert containers(docker_client, stack.project()) == before
    assert stack.through_proxy()["version"] == "1.0.0", line
    history = [
        json.loads(x) for x in (prod / ".airgapkit" / "history.jsonl").read_text().splitlines()
    ]
    assert history[-1]["predeploy"]["exit_code"] == 1 and history[-1]["outcome"] == "failed"


def test_an_unhealthy_app_brings_the_previous_stack_back_and_names_the_service(
    stack, prod, docker_client
):
    with broken_settings(prod):  # 1.1.0 fails its health check with these; kv changes too
        proc = task(prod, *stack.bundles["1.1.0"].deploy_args())
    line = assert_refusal(proc, "service api", "the previous stack runs again")
    assert "unhealthy" in line, line
    assert stack.through_proxy()["version"] == "1.0.0"
    kv = docker_client.containers.get(containers(docker_client, stack.project())["kv"])
    assert "KV_NAME=kv-prod" in kv.attrs["Config"]["Env"]  # as it ran before, env values included


def test_an_update_of_the_app_alone_leaves_the_other_services_running(stack, prod, docker_client):
    before = containers(docker_client, stack.project())
    proc = task(prod, *stack.bundles["1.1.0"].deploy_args())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = containers(docker_client, stack.project())
    assert after["kv"] == before["kv"]  # the proxy depends_on the app: Compose recreates it too
    assert after["api"] != before["api"]
    assert stack.through_proxy()["version"] == "1.1.0"


def test_inspect_lists_the_stack_and_the_bundles_record_every_image(stack, prod):
    v1 = stack.bundles["1.0.0"]
    flags = ["--sums", str(v1.sums), "--password-file", str(v1.password)]
    shown = inv("inspect", str(v1.archive), *flags, cwd=prod, env={"COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    assert "Stack (stack/compose.yaml, pinned)" in shown.stdout
    assert stack.kv in shown.stdout and stack.proxy in shown.stdout
    records = {i["ref"]: i for i in v1.manifest["images"]}
    assert set(records) == {f"{stack.app_name}:1.0.0", stack.kv, stack.proxy}
    services = {s["name"]: s for s in v1.manifest["stack"]["services"]}
    assert (
        services["kv"]["id"] == records[stack.kv]["id"]
        and services["kv"]["gate"]["kind"] == "service"
    )
    assert [c["keys"] for c in v1.manifest["stack"]["contracts"]] == [["KV_NAME"], ["UPSTREAM"]]


def test_the_app_only_delta_carries_the_app_alone(stack):
    delta = stack.bundles["1.1.0"].manifest
    assert [i["ref"] for i in delta["images"]] == [f"{stack.app_name}:1.1.0"]
    required = {r["ref"] for r in delta["requires"]}
    assert {stack.kv, stack.proxy, f"{stack.app_name}:1.0.0"} <= required
    assert Path(stack.bundles["1.1.0"].archive).stat().st_size < (
        Path(stack.bundles["1.0.0"].archive).stat().st_size / 20
    )


def test_bad_input_on_the_far_side_is_refused_before_anything_changes(stack, prod, docker_client):
    before = containers(docker_client, stack.project())
    kv_env = prod / "kv.env.prod"
    kept = kv_env.read_text()
    kv_env.unlink()
    try:
        proc = task(prod, *stack.bundles["1.1.0"].deploy_args())
    finally:
        kv_env.write_text(kept)
        kv_env.chmod(0o600)
    assert_refusal(proc, "service kv: its env file", "kv.env.prod", "is missing")
    (prod / "proxy.env.prod").write_text("NOTHING=here\n")
    try:
        proc = task(prod, *stack.bundles["1.1.0"].deploy_args())
    finally:
        (prod / "proxy.env.prod").write_text("UPSTREAM=http://api:8080\n")
    assert_refusal(proc, "proxy.env.prod lacks keys", "service proxy", "UPSTREAM")
    (prod / ".env.test").write_text((prod / ".env.prod").read_text())
    (prod / ".env.test").chmod(0o600)
    single = task(prod, *stack.bundles["1.1.0"].deploy_args("test"))
    assert_refusal(single, "carries a stack", "set its target to compose or stack")
    assert containers(docker_client, stack.project()) == before
