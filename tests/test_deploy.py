"""flows/deploy.py: a release deployed on test/prod, replaced, rolled back, refused, debugged.

The deploys here reuse the session's round trip (tests/support/machines.py) and run as a user
runs them: ``inv deploy`` in prod's folder, with only what was carried across.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from invoking import assert_refusal, clean_env, free_port, inv, wait_until
from machines import DB_PASSWORD, GREETING, deploy_flags, health, loopback_ports
from terminal import converse

from airgapkit import locks
from airgapkit.crossing.manifest import Manifest
from airgapkit.engine import images
from airgapkit.engine.client import engine_address
from airgapkit.flows import bundles
from airgapkit.settings import Crossing
from conftest import REPO_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def test_deployed_api_answers_with_a_value_from_env_prod(round_trip):
    answer = health(round_trip["ports"])
    assert answer["status"] == "ok"
    assert answer["greeting"] == GREETING
    assert answer["environment"] == "prod"


def test_the_env_secret_is_in_no_output(round_trip):
    proc = round_trip["deploy_proc"]
    assert DB_PASSWORD not in proc.stdout + proc.stderr


def test_deploy_with_two_mappings_checks_health_on_the_app_port(
    docker_client, round_trip, machines, cleanup_containers
):
    """``A:8080/tcp,B:9090``: both published, /health asked on A (once it was asked on B's side)."""
    app_port, other_port = free_port(), free_port()
    ports = f"127.0.0.1:{app_port}:8080/tcp,127.0.0.1:{other_port}:9090"
    name = f"{round_trip['container']}-two"
    cleanup_containers.append(name)
    archive, sums, password = round_trip["release_inbox"]
    proc = inv(*deploy_flags(archive, sums, password, name=name, ports=ports), cwd=machines["prod"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"healthy at http://127.0.0.1:{app_port}/health" in proc.stderr
    assert health(ports)["greeting"] == GREETING
    bound = docker_client.containers.get(name).attrs["HostConfig"]["PortBindings"]
    assert bound == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(app_port)}],
        "9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(other_port)}],
    }


def debug_shell(prod: Path, *flags: str) -> str:
    argv = [
        str(Path(sys.executable).parent / "inv"),  # this environment's, with this airgapkit
        "--search-root",
        str(REPO_ROOT),
        "debug-shell",
        "--env",
        "prod",
        *flags,
    ]
    # Typed at the shell's prompt (uid 1001: "$ "): what airgapkit prints first is not the shell.
    status, output = converse(
        argv, prod, [(b"$ ", b'echo "greeting=$GREETING uid=$(id -u)"; exit\n')]
    )
    assert status == 0, output
    return output


def test_debug_shell_enters_the_running_container(docker_client, round_trip, machines):
    output = debug_shell(
        machines["prod"],
        "--name",
        round_trip["container"],
        "--image",
        f"{round_trip['app_name']}:1.0.0",
    )
    assert f"greeting={GREETING} uid=1001" in output


def test_debug_shell_starts_a_fresh_container_with_the_env_file(
    docker_client, round_trip, machines
):
    before = {c.id for c in docker_client.containers.list(all=True)}
    output = debug_shell(
        machines["prod"],
        "--name",
        "agk-no-such-container",
        "--image",
        f"{round_trip['app_name']}:1.0.0",
    )
    assert f"greeting={GREETING} uid=1001" in output
    assert {c.id for c in docker_client.containers.list(all=True)} == before  # --rm took it away


def release_of(docker_client, base: str, ref: str, command: list[str], folder: Path):
    """A release bundle of a one-line image made for the test, as release would bundle it."""
    (folder / "Dockerfile").write_text(f"FROM {base}\nUSER 1001\nCMD {json.dumps(command)}\n")
    images.build(docker_client, folder, ref, offline=True)
    name, version = ref.split(":")
    places = {
        "out_dir": folder / "out",
        "hashes_dir": folder / "hashes",
        "password_dir": folder / "password",
    }
    manifest = Manifest(
        kind="release", app={"name": name, "version": version, "image_name": name, "tgz": ""}
    )
    crossing = Crossing.from_config({"compression": 6}, **places)
    return bundles.make_bundle(docker_client, manifest, crossing, images=[ref], files=[])


FAILING = ["sh", "-c", "for i in $(seq 1 30); do echo failing line $i; done; exit 3"]


@pytest.fixture
def failing_release(docker_client, round_trip, unique_name, tmp_path):
    """A release bundle whose image logs 30 lines and exits: its health check can never pass."""
    ref = f"{unique_name}:2.0.0"
    yield release_of(docker_client, round_trip["base"], ref, FAILING, tmp_path)
    docker_client.images.remove(ref, force=True)


@pytest.fixture
def hanging_release(docker_client, round_trip, unique_name, tmp_path):
    """A release bundle whose image runs and never answers: its health wait lasts the timeout."""
    ref = f"{unique_name}-hangs:3.0.0"
    yield release_of(docker_client, round_trip["base"], ref, ["sleep", "600"], tmp_path)
    docker_client.images.remove(ref, force=True)


def test_an_unhealthy_release_leaves_the_previous_version_running(
    docker_client, round_trip, machines, failing_release
):
    before = docker_client.containers.get(round_trip["container"]).attrs["Image"]
    proc = inv(
        *deploy_flags(
            failing_release.archive,
            failing_release.sums,
            failing_release.password,
            name=round_trip["container"],
            ports=round_trip["ports"],
        ),
        cwd=machines["prod"],
    )
    assert_refusal(proc, "previous container", "runs again")
    running = docker_client.containers.get(round_trip["container"])
    assert running.status == "running" and running.attrs["Image"] == before
    assert health(round_trip["ports"])["greeting"] == GREETING


def test_refusals_are_one_clear_line(docker_client, round_trip, machines, tmp_path):
    archive, sums, password = round_trip["release_inbox"]
    prod = machines["prod"]
    common = [
        "--sums",
        str(sums),
        "--password-file",
        str(password),
        "--ports",
        loopback_ports(),
        "--name",
        f"{round_trip['container']}-never",
    ]
    assert_refusal(inv("deploy", str(archive), "--env", "staging", *common, cwd=prod), "staging")
    assert_refusal(inv("deploy", str(archive), "--env", "test", *common, cwd=prod), ".env.test")
    (prod / ".env.dev").write_text("APP_ENV=dev\n")
    assert_refusal(inv("deploy", str(archive), "--env", "dev", *common, cwd=prod), "GREETING")
    base_archive, base_sums, base_password = round_trip["exported"]
    proc = inv(
        "deploy",
        str(base_archive),
        "--env",
        "prod",
        "--sums",
        str(base_sums),
        "--password-file",
        str(base_password),
        "--ports",
        loopback_ports(),
        cwd=prod,
    )
    assert_refusal(proc, "base bundle")
    tampered = tmp_path / archive.name
    shutil.copy2(archive, tampered)
    with open(tampered, "r+b") as f:
        f.seek(tampered.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert_refusal(inv("deploy", str(tampered), "--env", "prod", *common, cwd=prod), archive.name)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"{round_trip['container']}-never")


def test_a_nul_byte_in_env_prod_is_refused_before_the_engine_quotes_it(
    docker_client, round_trip, machines, tmp_path
):
    """Docker refuses a NUL in an env value only at the container's start, quoting the whole
    KEY=VALUE; the deploy refuses it first, by line, and neither prints nor records the value."""
    prod = tmp_path / "prod"
    prod.mkdir()
    shutil.copy2(machines["prod"] / ".env.example", prod / ".env.example")
    env_prod = (machines["prod"] / ".env.prod").read_text()
    (prod / ".env.prod").write_text(env_prod.replace(DB_PASSWORD, f"{DB_PASSWORD}\x00x"))
    (prod / ".env.prod").chmod(0o600)
    name = f"{round_trip['container']}-nul"
    archive, sums, password = round_trip["release_inbox"]
    proc = inv(*deploy_flags(archive, sums, password, name=name, ports=loopback_ports()), cwd=prod)
    line = assert_refusal(proc, ".env.prod", "line 6 (DB_PASSWORD)", "NUL")
    history = (prod / ".airgapkit" / "history.jsonl").read_text()
    assert DB_PASSWORD not in proc.stdout + proc.stderr + history
    assert json.loads(history.splitlines()[-1])["message"] == line.removeprefix("airgapkit: ")
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)


def test_a_rollback_shows_and_keeps_the_failed_containers_log(
    docker_client, round_trip, machines, failing_release
):
    archive, sums, password = (
        failing_release.archive,
        failing_release.sums,
        failing_release.password,
    )
    flags = deploy_flags(
        archive, sums, password, name=round_trip["container"], ports=round_trip["ports"]
    )
    proc = inv(*flags, cwd=machines["prod"])
    line = assert_refusal(proc, "its log is kept in", "runs again")
    assert "docker logs" not in line  # the failed container is gone: its log is in the file
    shown = re.findall(r"^  failing line (\d+)$", proc.stderr, re.MULTILINE)
    assert shown == [str(i) for i in range(11, 31)]  # the last 20 lines
    log = machines["prod"] / re.search(r"its log is kept in (\S+);", line).group(1)
    assert log.read_text().splitlines() == [f"failing line {i}" for i in range(1, 31)]
    assert log.stat().st_mode & 0o777 == 0o600 and log.parent.stat().st_mode & 0o777 == 0o700


# --- one deploy at a time, and one that was killed ------------------------------------------------


def test_a_second_deploy_of_the_same_container_is_refused(round_trip, machines, tmp_path):
    lock_dir = {locks.LOCK_DIR_VAR: str(tmp_path / "locks")}
    name = f"{round_trip['container']}-busy"
    archive, sums, password = round_trip["release_inbox"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(locks.LOCK_DIR_VAR, lock_dir[locks.LOCK_DIR_VAR])
        with locks.held("container", f"{engine_address()} {name}", f"deploy of {name}"):
            flags = deploy_flags(archive, sums, password, name=name, ports=loopback_ports())
            proc = inv(*flags, cwd=machines["prod"], env=lock_dir)
    assert_refusal(proc, f"deploy of {name} is running (pid {os.getpid()} on", "wait for it")
    assert "loaded " not in proc.stdout + proc.stderr  # refused before the release was loaded


@pytest.fixture
def killable(docker_client, round_trip, machines, cleanup_containers, hanging_release):
    """A container deployed from the round trip's release, then a deploy of a release that never
    answers, killed (SIGKILL) while it waits for the health check."""
    name = f"{round_trip['container']}-kill"
    cleanup_containers.extend([name, f"{name}-previous"])
    ports = loopback_ports()
    archive, sums, password = round_trip["release_inbox"]
    good = deploy_flags(archive, sums, password, name=name, ports=ports)
    inv(*good, cwd=machines["prod"], check=True)
    before = docker_client.containers.get(name).attrs["Image"]
    hanging = hanging_release.archive, hanging_release.sums, hanging_release.password
    flags = deploy_flags(*hanging, name=name, ports=ports)
    deploy = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT), *flags],
        cwd=machines["prod"],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: waiting_for_health(docker_client, name, before), 120)
    finally:
        deploy.send_signal(signal.SIGKILL)
        deploy.wait()
    assert docker_client.containers.get(f"{name}-previous").status == "exited"
    return {"name": name, "ports": ports, "image": before, "good": good}


def waiting_for_health(client, name: str, before: str) -> bool:
    try:
        current = client.containers.get(name)
        client.containers.get(f"{name}-previous")
    except docker.errors.NotFound:
        return False
    return current.status == "running" and current.attrs["Image"] != before


def test_a_deploy_killed_in_its_health_wait_is_seen_and_rolled_back(
    docker_client, round_trip, machines, killable
):
    name = killable["name"]
    output = debug_shell(
        machines["prod"], "--name", name, "--image", f"{round_trip['app_name']}:1.0.0"
    )
    assert f"warning: found an interrupted deploy of {name}: {name} holds " in output
    assert f"inv rollback --env prod --name {name}" in output
    proc = inv("rollback", "--env", "prod", "--name", name, cwd=machines["prod"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"found an interrupted deploy of {name}" in proc.stderr
    assert "ended without finishing; its lock is taken over" in proc.stderr
    assert f"the previous container {name} runs again" in proc.stderr
    back = docker_client.containers.get(name)
    assert back.attrs["Image"] == killable["image"] and back.status == "running"
    assert health(killable["ports"])["greeting"] == GREETING
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"{name}-previous")
    again = inv("rollback", "--env", "prod", "--name", name, cwd=machines["prod"])
    assert_refusal(again, "nothing to roll back", f"{name}-previous")


def test_the_next_deploy_undoes_a_killed_one_before_it_starts(docker_client, machines, killable):
    name = killable["name"]
    quick = {"INVOKE_AIRGAPKIT_HEALTH_TIMEOUT": "20"}  # the killed deploy's container never answers
    proc = inv(*killable["good"], cwd=machines["prod"], env=quick)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = proc.stderr.index(f"found an interrupted deploy of {name}")
    assert proc.stderr.index(f"the previous container {name} runs again") > found
    running = docker_client.containers.get(name)
    assert running.attrs["Image"] == killable["image"] and running.status == "running"
    assert health(killable["ports"])["greeting"] == GREETING
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"{name}-previous")


def test_status_rollback_and_debug_shell_on_prod_need_no_app_folder(
    docker_client, round_trip, machines, tmp_path, cleanup_containers
):
    """Prod holds what was carried and its env files, never the app's source: the container (and
    its image) are those of the last deploy to the environment, from this machine's history."""
    prod = tmp_path / "prod"
    prod.mkdir()
    for name in (".env.example", ".env.prod"):
        shutil.copy2(machines["prod"] / name, prod / name)
    container = f"{round_trip['container']}-noapp"
    cleanup_containers.append(container)
    archive, sums, password = round_trip["release_inbox"]
    flags = deploy_flags(archive, sums, password, name=container, ports=loopback_ports())
    inv(*flags, cwd=prod, check=True)
    status = inv("status", "--env", "prod", cwd=prod)
    assert status.returncode == 0, status.stderr
    assert f"container {container} (engine): {round_trip['app_name']}:1.0.0" in status.stdout
    assert "app folder" not in status.stderr
    rollback = inv("rollback", "--env", "prod", cwd=prod)
    assert_refusal(rollback, "nothing to roll back", f"{container}-previous")
    assert f"greeting={GREETING} uid=1001" in debug_shell(prod)
