"""The whole round trip against the real engine, in three folders that stand for three machines.

export (connected side) -> release (air-gapped dev) -> deploy --env prod (test/prod), each run as a
user would run it: ``inv`` in that machine's folder, with only what was carried across.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest
from terminal import in_pty

from airgapkit.crossing.manifest import Manifest
from airgapkit.engine import images as engine
from airgapkit.flows import pipeline
from conftest import EXAMPLE_APP, REPO_ROOT

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
RISK = "test machine: no scanner report"


def inv(cwd: Path, *args: str, env: dict | None = None, check: bool = True):
    proc = subprocess.run(
        ["inv", "--search-root", str(REPO_ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"inv {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def one_line_refusal(proc, *words: str) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, line
    return line


@pytest.fixture(scope="module")
def app_copy(tmp_path_factory) -> Path:
    """The example app under a unique name, so its image never collides with a real one."""
    app = tmp_path_factory.mktemp("app") / "tms-api"
    shutil.copytree(EXAMPLE_APP, app, ignore=shutil.ignore_patterns("node_modules", ".env*"))
    shutil.copy2(EXAMPLE_APP / ".env.example", app / ".env.example")
    name = f"agk-e2e-{uuid.uuid4().hex[:8]}"
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data["name"] = name
        if file == "package-lock.json":
            data["packages"][""]["name"] = name
        (app / file).write_text(json.dumps(data, indent=2) + "\n")
    return app


@pytest.fixture(scope="module")
def machines(tmp_path_factory):
    root = tmp_path_factory.mktemp("machines")
    sides = {side: root / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        side.mkdir()
    return sides


def free_ports() -> str:
    return f"127.0.0.1:{pipeline.free_port()}:8080"


def export_flags(app: Path, base: str) -> list[str]:
    return ["export", "--app", str(app), "--base-image", base, "--accept-risk", RISK]


def release_flags(archive: Path, sums: Path, password: Path) -> list[str]:
    return [
        "release",
        str(archive),
        "--sums",
        str(sums),
        "--password-file",
        str(password),
        "--accept-risk",
        RISK,
    ]


def carried(side: Path, kind: str, app_name: str) -> tuple[Path, Path, Path]:
    name = f"{app_name}-1.0.0-{kind}.zip"
    return (
        side / "dist" / name,
        side / "dist-hashes" / f"{name}.sha256",
        side / "dist-password" / f"{name}.password",
    )


def carry(files: tuple[Path, Path, Path], inbox: Path) -> tuple[Path, Path, Path]:
    inbox.mkdir(exist_ok=True)
    return tuple(Path(shutil.copy2(f, inbox / f.name)) for f in files)


@pytest.fixture(scope="module")
def round_trip(docker_client, registry, app_copy, machines):
    """export, release and deploy once; yields what each made and removes it all afterwards."""
    name = app_copy.name
    app_name = json.loads((app_copy / "package.json").read_text())["name"]
    base = f"{registry}/node:20-alpine"
    ports = free_ports()
    container = f"{app_name}-prod"
    try:
        inv(machines["connected"], *export_flags(app_copy, base))
        exported = carried(machines["connected"], "base", app_name)
        archive, sums, password = carry(exported, machines["airgapped"] / "inbox")
        release = release_flags(archive, sums, password)
        inv(machines["airgapped"], *release, "--smoke-env", str(app_copy / ".env.example"))
        released = carried(machines["airgapped"], "release", app_name)
        archive, sums, password = carry(released, machines["prod"] / "inbox")
        shutil.copy2(app_copy / ".env.example", machines["prod"] / ".env.example")
        env_prod = machines["prod"] / ".env.prod"
        env_prod.write_text(
            "PORT=8080\nAPP_ENV=prod\nGREETING=hello-from-env-prod-4711\n"
            "DB_HOST=db.prod.internal\nDB_USER=tms\nDB_PASSWORD=never-printed-0042\n"
        )
        env_prod.chmod(0o600)
        deploy = [
            "deploy",
            str(archive),
            "--env",
            "prod",
            "--sums",
            str(sums),
            "--password-file",
            str(password),
            "--name",
            container,
            "--ports",
            ports,
        ]
        proc = inv(machines["prod"], *deploy)
        yield {
            "app_name": app_name,
            "base": base,
            "ports": ports,
            "container": container,
            "exported": exported,
            "released": released,
            "deploy": deploy,
            "deploy_proc": proc,
            "release_inbox": (archive, sums, password),
            "name": name,
        }
    finally:
        for ref in (container, f"{container}-previous"):
            try:
                docker_client.containers.get(ref).remove(force=True)
            except docker.errors.NotFound:
                pass
        for ref in (f"{app_name}:1.0.0", base):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass


def health(ports: str) -> dict:
    host, port, _ = ports.split(":")
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5) as answer:
        return json.loads(answer.read())


def test_deployed_api_answers_with_a_value_from_env_prod(round_trip):
    answer = health(round_trip["ports"])
    assert answer["status"] == "ok"
    assert answer["greeting"] == "hello-from-env-prod-4711"
    assert answer["environment"] == "prod"


def test_each_part_of_a_bundle_lies_in_its_own_place(round_trip):
    archive, sums, password = round_trip["exported"]
    assert archive.is_file() and sums.is_file() and password.is_file()
    assert len({archive.parent, sums.parent, password.parent}) == 3
    assert password.stat().st_mode & 0o777 == 0o600
    secret = password.read_text().strip()
    assert len(secret) >= 22  # 128 bits or more in url-safe base64
    for folder in (archive.parent, sums.parent):
        for file in folder.rglob("*"):
            assert secret.encode() not in file.read_bytes(), file
    listed = subprocess.run(["sha256sum", "-c", sums.name], cwd=sums.parent, capture_output=True)
    assert listed.returncode != 0  # the hash file lies apart from the archive: check it there
    ok = subprocess.run(
        ["sha256sum", "-c", str(sums)], cwd=archive.parent, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_the_env_secret_is_in_no_output(round_trip):
    proc = round_trip["deploy_proc"]
    assert "never-printed-0042" not in proc.stdout + proc.stderr


def test_inspect_prints_the_manifest_and_the_accepted_risk(round_trip):
    archive, sums, password = round_trip["released"]
    proc = inv(
        archive.parent,
        "inspect",
        str(archive),
        "--sums",
        str(sums),
        "--password-file",
        str(password),
    )
    out = proc.stdout
    assert "release bundle" in out and round_trip["app_name"] in out
    assert RISK in out
    assert f"{round_trip['app_name']}:1.0.0" in out


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
    assert "greeting=hello-from-env-prod-4711 uid=1001" in output


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
    assert "greeting=hello-from-env-prod-4711 uid=1001" in output
    assert {c.id for c in docker_client.containers.list(all=True)} == before  # --rm took it away


def test_released_image_runs_as_uid_1001_and_holds_no_env_file(docker_client, round_trip):
    ref = f"{round_trip['app_name']}:1.0.0"
    assert docker_client.images.get(ref).attrs["Config"]["User"] in ("1001", "defaultuser")
    out = docker_client.containers.run(ref, ["id", "-u"], remove=True, network_mode="none")
    assert out.decode().strip() == "1001"


def state(docker_client, app_name: str, *folders: Path) -> dict:
    """What a run leaves behind: this app's containers and images, dangling images, files, temp files."""
    return {
        "containers": sorted(
            c.name
            for c in docker_client.containers.list(all=True)
            if app_name in c.name or app_name in c.attrs["Config"]["Image"]
        ),
        "images": sorted(t for i in docker_client.images.list() for t in i.tags if app_name in t),
        "dangling": sorted(i.id for i in docker_client.images.list(filters={"dangling": True})),
        "files": sorted(str(p) for f in folders for p in f.rglob("*")),
        "tmp": sorted(p.name for p in Path(tempfile.gettempdir()).glob("airgapkit-*")),
    }


def test_running_the_round_trip_again_gives_the_same_result(
    docker_client, round_trip, machines, app_copy
):
    before = state(docker_client, round_trip["app_name"], *machines.values())
    inv(machines["connected"], *export_flags(app_copy, round_trip["base"]))
    archive, sums, password = carry(round_trip["exported"], machines["airgapped"] / "inbox")
    inv(machines["airgapped"], *release_flags(archive, sums, password))
    carry(round_trip["released"], machines["prod"] / "inbox")
    inv(machines["prod"], *round_trip["deploy"])
    assert state(docker_client, round_trip["app_name"], *machines.values()) == before
    assert health(round_trip["ports"])["greeting"] == "hello-from-env-prod-4711"


@pytest.fixture
def failing_release(docker_client, round_trip, machines, unique_name, tmp_path):
    """A release bundle whose image starts and exits at once: its health check can never pass."""
    ref = f"{unique_name}:2.0.0"
    (tmp_path / "Dockerfile").write_text(f'FROM {round_trip["base"]}\nUSER 1001\nCMD ["false"]\n')
    engine.build(docker_client, tmp_path, ref, offline=True)
    places = pipeline.Places(tmp_path / "out", tmp_path / "hashes", tmp_path / "password")
    manifest = Manifest(
        kind="release",
        app={"name": unique_name, "version": "2.0.0", "image_name": unique_name, "tgz": ""},
    )
    delivery = pipeline.make_bundle(
        docker_client, manifest, pipeline.Crossing(places), images=[ref], files=[]
    )
    yield delivery
    docker_client.images.remove(ref, force=True)


def test_an_unhealthy_release_leaves_the_previous_version_running(
    docker_client, round_trip, machines, failing_release
):
    before = docker_client.containers.get(round_trip["container"]).attrs["Image"]
    proc = inv(
        machines["prod"],
        "deploy",
        str(failing_release.archive),
        "--env",
        "prod",
        "--sums",
        str(failing_release.sums),
        "--password-file",
        str(failing_release.password),
        "--name",
        round_trip["container"],
        "--ports",
        round_trip["ports"],
        check=False,
    )
    one_line_refusal(proc, "previous container", "runs again")
    running = docker_client.containers.get(round_trip["container"])
    assert running.status == "running" and running.attrs["Image"] == before
    assert health(round_trip["ports"])["greeting"] == "hello-from-env-prod-4711"


def test_refusals_are_one_clear_line(docker_client, round_trip, machines, tmp_path):
    archive, sums, password = round_trip["release_inbox"]
    prod = machines["prod"]
    common = [
        "--sums",
        str(sums),
        "--password-file",
        str(password),
        "--ports",
        free_ports(),
        "--name",
        f"{round_trip['container']}-never",
    ]
    one_line_refusal(
        inv(prod, "deploy", str(archive), "--env", "staging", *common, check=False), "staging"
    )
    one_line_refusal(
        inv(prod, "deploy", str(archive), "--env", "test", *common, check=False), ".env.test"
    )
    (prod / ".env.dev").write_text("APP_ENV=dev\n")
    proc = inv(prod, "deploy", str(archive), "--env", "dev", *common, check=False)
    one_line_refusal(proc, "GREETING")
    base_archive, base_sums, base_password = round_trip["exported"]
    proc = inv(
        prod,
        "deploy",
        str(base_archive),
        "--env",
        "prod",
        "--sums",
        str(base_sums),
        "--password-file",
        str(base_password),
        "--ports",
        free_ports(),
        check=False,
    )
    one_line_refusal(proc, "base bundle")
    tampered = tmp_path / archive.name
    shutil.copy2(archive, tampered)
    with open(tampered, "r+b") as f:
        f.seek(tampered.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    proc = inv(prod, "deploy", str(tampered), *["--env", "prod"], *common, check=False)
    one_line_refusal(proc, archive.name)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"{round_trip['container']}-never")


def test_the_release_password_never_comes_from_the_incoming_variable(monkeypatch, tmp_path):
    """On the dev side AIRGAPKIT_PASSWORD opens the export; the release must get its own."""
    monkeypatch.setenv("AIRGAPKIT_PASSWORD", "the-export-bundle-password-Q7x!")
    crossing = pipeline.Crossing(pipeline.Places(tmp_path / "a", tmp_path / "b", tmp_path / "c"))
    assert pipeline.outgoing_password(crossing) is None  # None: generate a new one
    given = tmp_path / "new.password"
    given.write_text("kT9#vB2$wQ8&zL4!pR6^\n")
    crossing.password_file = given
    assert pipeline.outgoing_password(crossing) == "kT9#vB2$wQ8&zL4!pR6^"
