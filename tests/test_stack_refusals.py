"""A stack that cannot be carried is refused by ``inv export`` in one line per problem, before the
base image is gated or the app packed, and nothing is written to the media folder."""

from __future__ import annotations

import pytest
from invoking import inv
from machines import RISK, unique_app

pytestmark = [pytest.mark.docker]


@pytest.fixture
def app(tmp_path):
    return unique_app(tmp_path / "app")


def export(app, tmp_path, base):
    side = tmp_path / "connected"
    side.mkdir(exist_ok=True)
    proc = inv("export", "--app", str(app), "--base-image", base, "--accept-risk", RISK, cwd=side)
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    assert not list(side.glob("dist/*")), "nothing may be written for the crossing"
    lines = proc.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("airgapkit: "))
    return lines[first:]  # one line per problem, the first behind the program's name


def test_what_swarm_ignores_is_refused_before_anything_is_done(app, tmp_path, registry):
    (app / "compose.yaml").write_text(
        "services:\n"
        "  api: {build: ., container_name: api}\n"
        "  kv: {image: kv:1, env_file: kv.env, depends_on: {api: {condition: service_healthy}}}\n"
    )
    lines = export(app, tmp_path, f"{registry}/node:20-alpine")
    problems = "\n".join(lines)
    assert "services.api.container_name: Swarm names each task's container itself" in problems
    assert "services.kv.depends_on.api.condition: service_healthy: Swarm ignores" in problems


def test_a_missing_template_and_an_image_nowhere_to_be_had_are_named(app, tmp_path, registry):
    absent = f"{registry}/agk-absent-{tmp_path.name[-6:].lower()}:1"
    (app / "compose.yaml").write_text(
        f"services:\n  api: {{build: .}}\n  kv: {{image: {absent}, env_file: kv.env}}\n"
    )
    (line,) = export(app, tmp_path, f"{registry}/node:20-alpine")
    assert "services.kv.env_file: kv.env has no template kv.env.example" in line
    (app / "kv.env.example").write_text("KV_NAME=kv\n")
    (line,) = export(app, tmp_path, f"{registry}/node:20-alpine")
    assert f"image {absent} was not found in its registry" in line
