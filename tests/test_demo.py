"""``inv demo``: the README's main job, run as a user runs it, on the node stand-in base image."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import docker
import pytest
from invoking import free_port

from conftest import REPO_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


@pytest.fixture
def demo_leftovers(docker_client):
    """The demo deploys the example as tms-api:1.0.0 in a container named tms-api; removed after."""
    yield
    for remove in (
        lambda: docker_client.containers.get("tms-api").remove(force=True),
        lambda: docker_client.images.remove("tms-api:1.0.0", force=True),
    ):
        try:
            remove()
        except docker.errors.NotFound:
            pass


def test_demo_ends_with_the_example_answering_with_prod_settings(
    base_image, tmp_path, demo_leftovers
):
    port = free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "demo",
            "--base-image",
            base_image,
            "--workdir",
            str(tmp_path),
            "--port",
            str(port),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"http://127.0.0.1:{port}/health answered" in proc.stdout
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
        health = json.loads(answer.read())
    assert health["environment"] == "prod" and health["greeting"] == "hello from .env.prod"
    sides = sorted(p.name for p in tmp_path.iterdir())
    assert sides == ["airgapped", "connected", "prod"]
    for side, kind in (("connected", "base"), ("airgapped", "release")):
        media = list((tmp_path / side / "media").iterdir())
        assert [p.name for p in media] == [f"tms-api-1.0.0-{kind}.zip"]
