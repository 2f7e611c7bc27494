"""A stack on Docker Swarm (``target: stack``) through the tasks, as a user runs them in prod's
folder: deploy (every image pushed and pinned by digest, secret-looking keys as Swarm secrets),
status, a failing predeploy, an update whose app fails its health check while another service
changes too (every service back on its previous spec, the failed task named), and an update of the
app alone. A single-node swarm in the test engine (left at the end) and the test registry; the proxy
publishes in host mode (no ingress mesh here).
"""

from __future__ import annotations

import json

import pytest
from invoking import assert_refusal, inv
from stacking import STACK_PREDEPLOY_FAILS, broken_settings, prod_folder
from swarming import single_node_swarm

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


@pytest.fixture(scope="module")
def prod(stack, registry, tmp_path_factory, docker_client):
    environment = {
        "target": "stack",
        "registry": {"address": registry, "insecure": True},
        "update": {"order": "stop-first", "delay": 0, "monitor": 2},
        "rollout_timeout": 180,
    }
    folder = prod_folder(tmp_path_factory.mktemp("swarm-prod"), stack, environment)
    with single_node_swarm(docker_client):  # its secrets go with it
        yield folder


def task(prod, *args, config="airgapkit.yaml"):
    wide = {"COLUMNS": "250"}  # tables at full width
    return inv("-f", str(prod / config), *args, cwd=prod, env=wide, timeout=600)


def specs(client, stack) -> dict[str, dict]:
    found = client.api.services(filters={"label": f"com.docker.stack.namespace={stack.project()}"})
    return {s["Spec"]["Name"].split("_", 1)[1]: s for s in found}


def image_of(service: dict) -> str:
    return service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]


def env_of(service: dict) -> list[str]:
    return service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env") or []


def test_deploy_pins_every_image_and_keeps_secrets_out_of_the_specs(
    stack, prod, docker_client, registry
):
    proc = task(prod, *stack.bundles["1.0.0"].deploy_args())
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "stack-secret-4711" not in output
    found = specs(docker_client, stack)
    assert set(found) == {"api", "kv", "proxy"}
    for service in found.values():
        assert image_of(service).startswith(f"{registry}/") and "@sha256:" in image_of(service)
        assert not any(e.startswith("DB_PASSWORD=") for e in env_of(service))
    assert "KV_NAME=kv-prod" in env_of(found["kv"])
    answer = stack.through_proxy()
    assert answer["version"] == "1.0.0" and answer["greeting"] == "hello from the stack"
    status = task(prod, "status", "--env", "prod", "--name", stack.project())
    assert status.returncode == 0, status.stderr
    assert f"Swarm stack {stack.project()}" in status.stdout
    for name, image in (("api", stack.app_name), ("kv", stack.kv), ("proxy", stack.proxy)):
        assert f"{name} " in status.stdout and f"{registry}/{image}" in status.stdout
    assert status.stdout.count("1/1") == 3


def test_a_failing_predeploy_stops_the_deploy_and_changes_nothing(stack, prod, docker_client):
    import yaml

    config = yaml.safe_load((prod / "airgapkit.yaml").read_text())
    config["airgapkit"]["stack"] = {"predeploy": STACK_PREDEPLOY_FAILS}
    (prod / "predeploy.yaml").write_text(yaml.safe_dump(config))
    before = {n: s["Version"]["Index"] for n, s in specs(docker_client, stack).items()}
    proc = task(prod, *stack.bundles["1.1.0"].deploy_args(), config="predeploy.yaml")
    assert_refusal(proc, "predeploy command", "exited with code 1", "nothing was replaced")
    assert "migrating..." in proc.stderr, proc.stderr
    assert {n: s["Version"]["Index"] for n, s in specs(docker_client, stack).items()} == before
    history = [
        json.loads(x) for x in (prod / ".airgapkit" / "history.jsonl").read_text().splitlines()
    ]
    assert history[-1]["predeploy"]["exit_code"] == 1 and history[-1]["outcome"] == "failed"


def test_a_failing_app_puts_every_service_back_and_names_the_task(stack, prod, docker_client):
    before = specs(docker_client, stack)
    with broken_settings(prod):  # 1.1.0 fails its health check with these; kv changes too
        proc = task(prod, *stack.bundles["1.1.0"].deploy_args())
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in output, output
    assert f"service {stack.project()}_api failed its update" in proc.stderr, proc.stderr
    assert "every service of the stack is back on its previous spec" in proc.stderr
    assert "  task 1." in proc.stderr and "health check unhealthy" in proc.stderr, proc.stderr
    after = specs(docker_client, stack)
    for name in ("api", "kv", "proxy"):
        assert image_of(after[name]) == image_of(before[name]), name
    assert "KV_NAME=kv-prod" in env_of(after["kv"])
    assert stack.through_proxy()["version"] == "1.0.0"


def test_an_update_of_the_app_alone_leaves_the_other_services_as_they_were(
    stack, prod, docker_client
):
    before = specs(docker_client, stack)
    proc = task(prod, *stack.bundles["1.1.0"].deploy_args())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = specs(docker_client, stack)
    for name in ("kv", "proxy"):
        assert after[name]["Spec"] == before[name]["Spec"], name
    assert image_of(after["api"]) != image_of(before["api"])
    assert stack.through_proxy()["version"] == "1.1.0"
