"""swarm on two nodes: a second Docker Engine in a network namespace of its own joins the swarm.

The test engine is the manager (advertising the host end of a veth pair); the second engine runs in
a namespace this test makes (``nsenter --net``, its own data and exec roots), joins as a worker, and
pulls the pinned digest from the test registry. It reaches that registry at its own
127.0.0.1:<port>, the address the pinned reference names, through a TCP forwarder on each end of the
pair. Everything made here is removed at the end: the swarm left, the second engine and the
forwarders stopped by their pids, the namespace and the veth pair deleted.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import pytest
from swarming import swarm_ports

from airgapkit import environments
from airgapkit.engine import push, swarm
from airgapkit.flows import status as statuses
from airgapkit.ports import Ports

pytestmark = pytest.mark.docker
FORWARDER = Path(__file__).parent / "support" / "tcp_forward.py"


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must provide it)", pytrace=False)
    pytest.skip(what)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _forward(prefix: list[str], listen: str, port: str, to: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*prefix, sys.executable, str(FORWARDER), listen, port, to, port],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready", "forwarder did not start"
    return proc


@pytest.fixture
def one_swarm_on_this_machine():
    with swarm_ports():
        yield


@pytest.fixture
def two_nodes(one_swarm_on_this_machine, docker_client, registry):
    """(manager, worker) clients of a two-node swarm; everything torn down by pid and name."""
    for tool in ("ip", "nsenter", "dockerd"):
        if not shutil.which(tool):
            _missing(f"{tool} is not installed")
    if os.geteuid() != 0:
        _missing("a network namespace and a second dockerd need root")
    if docker_client.info()["Swarm"]["LocalNodeState"] != "inactive":
        docker_client.swarm.leave(force=True)
    tag = uuid.uuid4().hex[:6]
    netns, host_end, ns_end = f"agkf{tag}", f"fa{tag}", f"fb{tag}"
    subnet = f"10.77.{random.randint(1, 250)}"  # noqa: S311 - an address, not a secret
    manager_ip, worker_ip = f"{subnet}.1", f"{subnet}.2"
    root = Path(tempfile.mkdtemp(prefix="agkf", dir="/tmp"))  # short: containerd's socket path
    port = registry.rpartition(":")[2]
    started: list[subprocess.Popen] = []
    worker = None
    try:
        _ip("netns", "add", netns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", netns)
        _ip("addr", "add", f"{manager_ip}/24", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", netns, "addr", "add", f"{worker_ip}/24", "dev", ns_end)
        _ip("-n", netns, "link", "set", ns_end, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        enter = ["nsenter", f"--net=/var/run/netns/{netns}"]
        log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - closed with the process
        started.append(
            subprocess.Popen(
                [
                    *enter,
                    "dockerd",
                    "--data-root",
                    str(root / "data"),
                    "--exec-root",
                    str(root / "x"),
                    "--pidfile",
                    str(root / "pid"),
                    "-H",
                    f"unix://{root}/sock",
                ],
                stdout=log,
                stderr=log,
            )  # fmt: skip
        )
        deadline = time.monotonic() + 60
        while worker is None:
            try:  # the client asks the engine's API version as it is made
                worker = docker.DockerClient(base_url=f"unix://{root}/sock", timeout=120)
            except docker.errors.DockerException:
                assert time.monotonic() < deadline, (root / "dockerd.log").read_text()[-2000:]
                time.sleep(0.3)
        started.append(_forward([], manager_ip, port, "127.0.0.1"))
        started.append(_forward(enter, "127.0.0.1", port, manager_ip))
        docker_client.swarm.init(advertise_addr=manager_ip)
        docker_client.swarm.reload()
        token = docker_client.swarm.attrs["JoinTokens"]["Worker"]
        worker.swarm.join(
            remote_addrs=[f"{manager_ip}:2377"], join_token=token, advertise_addr=worker_ip
        )
        yield docker_client, worker
    finally:
        if worker is not None:
            try:
                worker.swarm.leave(force=True)
            except docker.errors.APIError:
                pass
            worker.close()
        if docker_client.info()["Swarm"]["LocalNodeState"] != "inactive":
            docker_client.swarm.leave(force=True)
        for proc in reversed(started):
            proc.terminate()
            proc.wait(timeout=60)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_two_replicas_spread_over_two_engines_from_the_registry(two_nodes, http_image, registry):
    manager, worker = two_nodes
    assert len(manager.nodes.list()) == 2
    target = environments.parse(
        "prod",
        {
            "target": "swarm",
            "registry": {"address": registry, "insecure": True},
            "replicas": 2,
            "publish_mode": "none",
            "health": {"interval": 0.5, "retries": 2, "start_period": 0},
            "rollout_timeout": 180,
        },
    )
    pushed = push.push(manager, http_image, target.registry)
    name = f"agk-two-{uuid.uuid4().hex[:8]}"
    app = swarm.App(name, Ports.parse("8080:8080"), "/", {"GREETING": "hello"})
    try:
        swarm.deploy(manager, swarm.Release.of(manager, http_image, pushed.pinned), app, target)
        status = statuses.of_swarm(manager, name)
        assert (status.wanted, status.running, status.healthy) == (2, 2, 2)
        tasks = manager.api.tasks(filters={"service": name, "desired-state": "running"})
        assert len({t["NodeID"] for t in tasks}) == 2, "Swarm spreads the replicas over both nodes"
        # the worker pulled the very bytes the manager pushed, by digest
        assert worker.images.get(pushed.pinned).attrs["RepoDigests"] == [
            f"{pushed.repository}@{pushed.digest}"
        ]
        local = swarm.shell_place(manager, name)
        assert local.container and local.argv(name)[:3] == ["docker", "exec", "-i"]
    finally:
        service = swarm.find(manager, name)
        if service is not None:
            service.remove()
