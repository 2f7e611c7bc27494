"""flows/release.py: the image built on the dev side, tried, and where its Dockerfile comes from."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from invoking import wait_until

from airgapkit.errors import AirgapError
from airgapkit.flows import release
from airgapkit.settings import Smoke

CONFIG = {"ports": "8080:8080", "health_path": "/health", "health_timeout": 30, "log_dir": "logs"}


@pytest.fixture
def config(tmp_path) -> dict:
    """The smoke test's settings, a failed try's log kept in the test's own folder."""
    return {**CONFIG, "log_dir": str(tmp_path / "logs")}


@pytest.mark.docker
@pytest.mark.e2e
def test_released_image_runs_as_uid_1001_and_holds_no_env_file(docker_client, round_trip):
    ref = f"{round_trip['app_name']}:1.0.0"
    assert docker_client.images.get(ref).attrs["Config"]["User"] in ("1001", "defaultuser")
    out = docker_client.containers.run(ref, ["id", "-u"], remove=True, network_mode="none")
    assert out.decode().strip() == "1001"


def smoke_containers(client, ref: str) -> list[str]:
    return [c.name for c in client.containers.list(all=True) if c.attrs["Config"]["Image"] == ref]


@pytest.mark.docker
def test_the_smoke_test_asks_the_app_port_of_mixed_mappings(docker_client, http_image, config):
    """The app's port is the first TCP one, ``/tcp`` written or not; its host port is not used."""
    smoke = Smoke.from_config({**config, "ports": "5353:53/udp,127.0.0.1:1:8080/tcp,9229:9229"})
    assert smoke.ports.container_port == 8080
    release.smoke_test(docker_client, http_image, smoke)
    assert smoke_containers(docker_client, http_image) == []


@pytest.mark.docker
def test_a_smoke_test_that_fails_leaves_no_container(docker_client, exiting_image, config):
    with pytest.raises(
        AirgapError, match=r"exited \(code 1\) before http://127\.0\.0\.1:\d+/health"
    ) as info:
        release.smoke_test(docker_client, exiting_image, Smoke.from_config(config))
    assert smoke_containers(docker_client, exiting_image) == []
    kept = list(Path(config["log_dir"]).iterdir())
    assert len(kept) == 1 and f"its log is kept in {kept[0]}" in str(info.value)
    assert kept[0].stat().st_mode & 0o777 == 0o600


# A release's smoke test, run by a process of its own so that the test can kill it (SIGKILL) while
# it waits for an app port that nothing answers on.
KILLED_SMOKE = """
import sys
import docker
from airgapkit.flows import release
from airgapkit.settings import Smoke
smoke = {"ports": "9090:9090", "health_path": "/", "health_timeout": 300, "log_dir": sys.argv[2]}
release.smoke_test(docker.from_env(), sys.argv[1], Smoke.from_config(smoke))
"""


@pytest.mark.docker
def test_the_container_of_a_killed_smoke_test_is_removed_by_the_next_one(
    docker_client, http_image, config, cleanup_containers, capfd
):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SMOKE, http_image, config["log_dir"]])
    try:
        assert wait_until(lambda: smoke_containers(docker_client, http_image), 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (left,) = smoke_containers(docker_client, http_image)
    cleanup_containers.append(left)
    assert docker_client.containers.get(left).status == "running"
    capfd.readouterr()
    release.smoke_test(docker_client, http_image, Smoke.from_config(config))
    assert smoke_containers(docker_client, http_image) == []
    assert (
        f"removed {left} (running), left by a smoke test that was killed" in capfd.readouterr().err
    )


def test_find_dockerfile_falls_back_to_the_packaged_copy(tmp_path):
    configured = tmp_path / "Dockerfile"
    assert release.find_dockerfile(Path("dockerfiles/Dockerfile")).is_file()
    assert release.find_dockerfile(configured) == configured  # absolute: taken as it is
    configured.write_text("FROM scratch\n")
    assert release.find_dockerfile(configured) == configured
    assert release.find_dockerfile(Path("elsewhere/airgap.Dockerfile")) == (
        release.PACKAGED_DOCKERFILES / "airgap.Dockerfile"
    )
