"""flows/fleet.py through the tasks, as a user runs them: ``inv deploy/status/push/debug-shell``
in prod's folder, with a configuration file whose ``prod`` environment is a swarm.

A single-node swarm in the test engine (left at the end) and the test registry; the release bundles
are made here from small images, which are removed from the engine before each deploy so the
deploy must load them from the bundle (and the task must pull them from the registry).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid

import pytest
import yaml
from invoking import assert_one_line_error, assert_refusal, free_port, inv
from swarming import app_context, single_node_swarm
from terminal import in_pty

from airgapkit.crossing.manifest import Manifest
from airgapkit.engine import images
from airgapkit.flows import bundles
from airgapkit.flows import status as statuses
from airgapkit.settings import Crossing
from conftest import REPO_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

DB_PASSWORD = "fleet-" + uuid.uuid4().hex  # noqa: S105 - a marker searched for in every output
EXAMPLE = "# Any text.\nGREETING=hello\n# Database.\nDB_PASSWORD=change-me\n"


@pytest.fixture(scope="module")
def prod(docker_client, base_image, registry, tmp_path_factory):
    """Prod's folder: the env files, a configuration file, two release bundles (v1, v3 unhealthy)."""
    folder = tmp_path_factory.mktemp("prod")
    name = f"agk-fleet-{uuid.uuid4().hex[:8]}"
    port = free_port()
    (folder / ".env.example").write_text(EXAMPLE)
    (folder / ".env.prod").write_text(f"GREETING=hello from the swarm\nDB_PASSWORD={DB_PASSWORD}\n")
    (folder / ".env.prod").chmod(0o600)
    prod_env = {
        "target": "swarm",
        "service": name,
        "registry": {"address": registry, "insecure": True},
        "publish_mode": "host",
        "update": {"order": "stop-first", "delay": 0, "monitor": 2},
        "health": {"interval": 0.5, "timeout": 3, "retries": 2, "start_period": 0},
        "rollout_timeout": 120,
    }
    config = {"airgapkit": {"ports": f"{port}:8080", "environments": {"prod": prod_env}}}
    (folder / "airgapkit.yaml").write_text(yaml.safe_dump(config))
    made = {}
    for version, health in (("1.0.0", 200), ("3.0.0", 500)):
        ref = f"{name}:{version}"
        context = app_context(tmp_path_factory.mktemp(version), base_image, version, health)
        images.build(docker_client, context, ref, offline=True)
        manifest = Manifest(
            kind="release",
            app={"name": name, "version": version, "image_name": name, "tgz": ""},
        )
        places = {k: folder / "inbox" / version for k in ("out_dir", "hashes_dir", "password_dir")}
        places = {k: v / k for k, v in places.items()}
        crossing = Crossing.from_config({"compression": 0}, **places)
        made[version] = bundles.make_bundle(
            docker_client, manifest, crossing, images=[ref], files=[]
        )
        docker_client.images.remove(ref, force=True)  # the deploy must load it from the bundle
    with single_node_swarm(docker_client):
        yield {"folder": folder, "name": name, "port": port, "bundles": made}
    for image in docker_client.images.list(name=name):
        docker_client.images.remove(image.id, force=True)
    for image in docker_client.images.list(name=f"{registry}/{name}"):
        docker_client.images.remove(image.id, force=True)


def task(prod, *args: str, timeout: int = 300):
    return inv(
        "-f", str(prod["folder"] / "airgapkit.yaml"), *args, cwd=prod["folder"], timeout=timeout
    )


def deploy_args(prod, version: str) -> list[str]:
    delivery = prod["bundles"][version]
    return [
        "deploy", str(delivery.archive), "--env", "prod",
        "--sums", str(delivery.sums), "--password-file", str(delivery.password),
    ]  # fmt: skip


def health(prod) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{prod['port']}/health", timeout=5) as answer:
        return json.load(answer)


def test_deploy_status_push_and_shell_on_a_swarm_environment(prod, docker_client, registry):
    name = prod["name"]
    proc = task(prod, *deploy_args(prod, "1.0.0"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert DB_PASSWORD not in output
    assert f"pushed {registry}/{name}:1.0.0@sha256:" in proc.stderr
    assert f"service {name} (swarm): {registry}/{name}:1.0.0" in proc.stdout
    assert "replicas: 1 wanted, 1 running, 1 healthy" in proc.stdout
    assert health(prod)["greeting"] == "hello from the swarm"
    service = docker_client.api.inspect_service(name)
    assert "DB_PASSWORD" not in json.dumps(service["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"])

    status = task(prod, "status", "--env", "prod")
    assert status.returncode == 0, status.stderr
    digest = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].partition("@")[2]
    assert f"digest: {digest}" in status.stdout and "1 running, 1 healthy" in status.stdout

    pushed = task(prod, "push", "--env", "prod", "--image", f"{name}:1.0.0")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == f"{registry}/{name}:1.0.0@{digest}"  # the same bytes again

    argv = [shutil.which("inv"), "--search-root", str(REPO_ROOT), "-f",
            str(prod["folder"] / "airgapkit.yaml"), "debug-shell", "--env", "prod",
            "--image", f"{name}:1.0.0"]  # fmt: skip
    code, shell = in_pty(argv, prod["folder"], b'echo "greeting=$GREETING uid=$(id -u)"; exit\n')
    assert code == 0 and "greeting=hello from the swarm uid=1001" in shell, shell


def test_an_unhealthy_release_is_rolled_back_and_the_deploy_fails(prod, docker_client):
    before = statuses.of_swarm(docker_client, prod["name"])
    proc = task(prod, *deploy_args(prod, "3.0.0"))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output and DB_PASSWORD not in output
    assert f"airgapkit: service {prod['name']}: Swarm rolled the update back" in proc.stderr
    assert "health check unhealthy" in proc.stderr and "3.0.0 listening" in proc.stderr
    assert statuses.of_swarm(docker_client, prod["name"]).digest == before.digest
    assert health(prod)["version"] == "1.0.0"


def test_an_env_file_lacking_a_key_is_refused_before_anything_changes(prod, docker_client):
    version = docker_client.api.inspect_service(prod["name"])["Version"]["Index"]
    env_file = prod["folder"] / ".env.prod"
    kept = env_file.read_text()
    env_file.write_text("GREETING=only this\n")
    try:
        proc = task(prod, *deploy_args(prod, "1.0.0"))
    finally:
        env_file.write_text(kept)
    assert_refusal(proc, ".env.prod lacks keys", "DB_PASSWORD")
    assert docker_client.api.inspect_service(prod["name"])["Version"]["Index"] == version


def test_status_of_an_engine_environment_with_nothing_running_is_one_line(prod):
    proc = task(prod, "status", "--env", "test", "--name", "agk-nothing-here")
    assert_one_line_error(proc, r"no container agk-nothing-here runs for environment test")


def test_push_to_an_environment_without_a_registry_is_one_line(prod):
    proc = task(prod, "push", "--env", "dev", "--image", f"{prod['name']}:1.0.0")
    assert_one_line_error(
        proc, r"environment dev names no registry; set airgapkit.environments.dev"
    )
