"""flows/deploy.py: a release deployed on test/prod, replaced, rolled back, refused, debugged.

The deploys here reuse the session's round trip (tests/support/machines.py) and run as a user
runs them: ``inv deploy`` in prod's folder, with only what was carried across.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest
from invoking import assert_refusal, free_port, inv
from machines import DB_PASSWORD, GREETING, deploy_flags, health, loopback_ports
from terminal import in_pty

from airgapkit.crossing.manifest import Manifest
from airgapkit.engine import images
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
        shutil.which("inv"),
        "--search-root",
        str(REPO_ROOT),
        "debug-shell",
        "--env",
        "prod",
        *flags,
    ]
    status, output = in_pty(argv, prod, b'echo "greeting=$GREETING uid=$(id -u)"; exit\n')
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


@pytest.fixture
def failing_release(docker_client, round_trip, unique_name, tmp_path):
    """A release bundle whose image starts and exits at once: its health check can never pass."""
    ref = f"{unique_name}:2.0.0"
    (tmp_path / "Dockerfile").write_text(f'FROM {round_trip["base"]}\nUSER 1001\nCMD ["false"]\n')
    images.build(docker_client, tmp_path, ref, offline=True)
    places = {
        "out_dir": tmp_path / "out",
        "hashes_dir": tmp_path / "hashes",
        "password_dir": tmp_path / "password",
    }
    manifest = Manifest(
        kind="release",
        app={"name": unique_name, "version": "2.0.0", "image_name": unique_name, "tgz": ""},
    )
    crossing = Crossing.from_config({"compression": 6}, **places)
    delivery = bundles.make_bundle(docker_client, manifest, crossing, images=[ref], files=[])
    yield delivery
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
