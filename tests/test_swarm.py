"""swarm: the app as a Swarm service on a real single-node swarm, fed from a real registry.

The swarm is made in this test engine (``docker swarm init --advertise-addr 127.0.0.1``) and always
left again at the end. This kernel has no IPVS, so the ingress mesh cannot publish here: one replica
is published in host mode, and three replicas are reached through an attachable overlay network
(endpoint mode dnsrr) from a helper container on it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.request
import uuid

import docker
import pytest
from swarming import app_context, single_node_swarm

from airgapkit import environments
from airgapkit.engine import images as engine
from airgapkit.engine import push, swarm
from airgapkit.errors import AirgapError
from airgapkit.flows import status as statuses
from airgapkit.ports import Ports

pytestmark = pytest.mark.docker

DB_PASSWORD = "pa$$ word " + uuid.uuid4().hex
VALUES = {"GREETING": "hello from prod", "DB_PASSWORD": DB_PASSWORD}


@pytest.fixture(scope="module")
def one_swarm(docker_client):
    """A single-node swarm in the test engine, left again whatever the tests did."""
    with single_node_swarm(docker_client) as client:
        yield client


@pytest.fixture(scope="module")
def versions(docker_client, base_image, registry, tmp_path_factory):
    """Three local images, v1 and v2 healthy, v3 answering 500 on /health; removed at the end,
    with what was pushed or pulled of them under the registry's name (on the containerd image
    store an image of another name is another image, not removed with the local one)."""
    refs = {}
    run = uuid.uuid4().hex[:8]
    for version, health in (("v1", 200), ("v2", 200), ("v3", 500)):
        context = app_context(
            tmp_path_factory.mktemp(f"app-{version}"), base_image, version, health
        )
        refs[version] = f"agk-fleet-{run}:{version}"
        engine.build(docker_client, context, refs[version], offline=True)
    yield refs
    for ref in refs.values():
        for name in (ref.partition(":")[0], f"{registry}/{ref.partition(':')[0]}"):
            for image in docker_client.images.list(name=name):
                docker_client.images.remove(image.id, force=True)


def prod(registry: str, **overrides) -> environments.Environment:
    """A swarm environment with the short health intervals and monitor periods a test can wait for."""
    config = {
        "target": "swarm",
        "registry": {"address": registry, "insecure": True},
        "update": {"parallelism": 1, "delay": 0, "monitor": 3, "order": "start-first"},
        "health": {"interval": 0.5, "timeout": 3, "retries": 2, "start_period": 0},
        "rollout_timeout": 120,
        **overrides,
    }
    return environments.parse("prod", config)


def release(client, ref: str, target: environments.Environment) -> swarm.Release:
    pushed = push.push(client, ref, target.registry)
    return swarm.Release.of(client, ref, pushed.pinned)


def app(name: str, ports: str = "8080:8080") -> swarm.App:
    return swarm.App(name, Ports.parse(ports), "/health", VALUES, frozenset({"DB_PASSWORD"}))


def test_deploy_outside_a_swarm_says_what_to_do(docker_client):
    # first in this file: the module's swarm does not exist yet
    assert docker_client.info()["Swarm"]["LocalNodeState"] == "inactive"
    env = prod("127.0.0.1:5000")
    pinned = swarm.Release("127.0.0.1:5000/app:1@sha256:" + "0" * 64)
    with pytest.raises(AirgapError, match="not part of a swarm; run on a manager"):
        swarm.deploy(docker_client, pinned, app("agk-nowhere"), env)


def test_three_replicas_roll_forward_without_a_failed_request_and_back_when_unhealthy(
    one_swarm, versions, registry, base_image, unique_name
):
    client = one_swarm
    network = client.networks.create(unique_name, driver="overlay", attachable=True)
    target = prod(registry, replicas=3, endpoint_mode="dnsrr", publish_mode="none",
                  networks=[unique_name])  # fmt: skip
    helper = client.containers.run(
        base_image, ["sleep", "600"], network=unique_name, detach=True, remove=True
    )
    try:
        # first deploy: three replicas of v1, each answering through the overlay network
        v1 = release(client, versions["v1"], target)
        swarm.deploy(client, v1, app(unique_name), target)
        status = statuses.of_swarm(client, unique_name)
        assert (status.wanted, status.running, status.healthy) == (3, 3, 3)
        answers = [ask(helper, unique_name) for _ in range(9)]
        assert {a["version"] for a in answers} == {"v1"}
        assert answers[0]["greeting"] == VALUES["GREETING"]
        assert answers[0]["db"] == hashlib.sha256(DB_PASSWORD.encode()).hexdigest()
        spec = client.api.inspect_service(unique_name)
        assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["GREETING=hello from prod"]
        assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Init"] is True  # SIGTERM forwarded
        assert DB_PASSWORD not in json.dumps(spec)  # a Swarm secret, not plain env

        # v1 -> v2, start-first: a bounded loop asks all along and counts every failed request
        v2 = release(client, versions["v2"], target)
        failures, seen = poll_during(
            helper, unique_name, lambda: swarm.deploy(client, v2, app(unique_name), target)
        )
        assert failures == 0, f"{failures} requests failed during the rolling update"
        assert seen[-5:] == ["v2"] * 5 and "v1" in seen
        status = statuses.of_swarm(client, unique_name)
        assert status.digest == v2.digest and (status.running, status.healthy) == (3, 3)
        assert [h["digest"] for h in status.history] == [v1.digest, v2.digest]

        # v3 fails its health check: Swarm rolls it back to v2, and the deploy raises one error
        v3 = release(client, versions["v3"], target)
        with pytest.raises(swarm.RolledBack) as caught:
            swarm.deploy(client, v3, app(unique_name), target)
        message = str(caught.value)
        assert message.startswith(f"service {unique_name}: Swarm rolled the update back")
        assert "health check unhealthy" in message and "v3 listening" in message
        assert DB_PASSWORD not in message
        status = statuses.of_swarm(client, unique_name)
        assert status.digest == v2.digest and (status.running, status.healthy) == (3, 3)
        assert {ask(helper, unique_name)["version"] for _ in range(6)} == {"v2"}
        assert any(t.desired == "shutdown" and t.image == v3.pinned for t in status.tasks)
        # the secrets of the refused version went with it; v2's stay for the running tasks
        owned = client.secrets.list(filters={"label": f"org.airgapkit.service={unique_name}"})
        assert len(owned) == 1

        place = swarm.shell_place(client, unique_name)
        assert place.argv(unique_name)[:3] == ["docker", "exec", "-i"]
    finally:
        helper.remove(force=True)
        remove_service(client, unique_name)
        network.remove()


def test_one_replica_in_host_mode_pulls_the_pinned_digest_from_the_registry(
    one_swarm, versions, registry, unique_name
):
    client = one_swarm
    port = engine_free_port()
    target = prod(registry, publish_mode="host", update={"order": "stop-first", "monitor": 1})
    image = release(client, versions["v1"], target)
    # nothing of it in the local cache: the task must pull it from the registry
    client.images.remove(image.tagged)
    client.images.remove(versions["v1"])
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(image.pinned)
    try:
        swarm.deploy(client, image, app(unique_name, f"{port}:8080"), target)
        status = statuses.of_swarm(client, unique_name)
        assert (status.wanted, status.running, status.healthy) == (1, 1, 1)
        assert (status.image, status.digest) == (image.tagged, image.digest)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            assert json.load(answer)["version"] == "v1"
        pulled = client.images.get(image.pinned)
        # The classic store lists the pinned digest among the image's RepoDigests; the containerd
        # image store names the image by that digest (its ID), and lists none.
        repo_digest = image.tagged.rpartition(":")[0] + "@" + image.digest
        assert pulled.attrs["RepoDigests"] == [repo_digest] or pulled.id == image.digest
        assert [t.node for t in status.tasks] == [client.info()["Name"]]
    finally:
        remove_service(client, unique_name)


def test_status_of_nothing_deployed_is_none(one_swarm, unique_name):
    assert statuses.of_swarm(one_swarm, unique_name) is None
    assert statuses.of_engine(one_swarm, unique_name) is None


# --- helpers ---------------------------------------------------------------------------------------


def ask(helper, service: str) -> dict:
    """GET /health of one of the service's tasks, from the helper container on its network."""
    result = helper.exec_run(["wget", "-qO-", f"http://{service}:8080/health"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def poll_during(helper, service: str, deploy) -> tuple[int, list[str]]:
    """Run ``deploy`` in a thread while asking /health in a bounded loop; failures and versions."""
    outcome: dict = {}

    def run():
        try:
            outcome["status"] = deploy()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test below
            outcome["error"] = exc

    poller = docker.from_env()  # the SDK's session is not shared across threads
    watched = poller.containers.get(helper.id)
    thread = threading.Thread(target=run)
    thread.start()
    failures, seen = 0, []
    for _ in range(2000):  # bounded: about 5 ms to 50 ms a request
        result = watched.exec_run(["wget", "-qO-", f"http://{service}:8080/health"])
        if result.exit_code != 0:
            failures += 1
        elif result.output:  # the engine's exec now and then hands back no output of a quick one
            seen.append(json.loads(result.output)["version"])
        if not thread.is_alive() and len(seen) >= 5 and seen[-5:] == [seen[-1]] * 5:
            break
    thread.join(timeout=180)
    poller.close()
    if "error" in outcome:
        raise outcome["error"]
    return failures, seen


def engine_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remove_service(client, name: str) -> None:
    service = swarm.find(client, name)
    if service is not None:
        service.remove()
    deadline = time.monotonic() + 30
    while client.containers.list(filters={"label": f"{swarm.APP_LABEL}={name}"}):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for secret in client.secrets.list(filters={"label": f"org.airgapkit.service={name}"}):
        secret.remove()
