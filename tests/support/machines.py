"""The round trip, once per test session, in three folders that stand for three machines.

export (connected side) -> release (air-gapped dev) -> deploy --env prod (test/prod), each run as a
user would run it: ``inv`` in that machine's folder, with only what was carried across. The tests of
each flow (test_export, test_release, test_deploy, ...) look at what their part of it left behind.
Registered as a pytest plugin by conftest.py.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from pathlib import Path

import advisory_service
import docker
import pytest
from invoking import free_port, inv

EXAMPLE_APP = Path(__file__).resolve().parent.parent.parent / "examples" / "tms-api"
RISK = "test machine: no scanner report"
GREETING = "hello-from-env-prod-4711"
DB_PASSWORD = "never-printed-0042"  # noqa: S105 - a test value that must never be printed


def loopback_ports() -> str:
    return f"127.0.0.1:{free_port()}:8080"


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


def deploy_flags(archive: Path, sums: Path, password: Path, *, name: str, ports: str) -> list[str]:
    return [
        "deploy",
        str(archive),
        "--env",
        "prod",
        "--sums",
        str(sums),
        "--password-file",
        str(password),
        "--name",
        name,
        "--ports",
        ports,
    ]


def carried(side: Path, kind: str, app_name: str) -> tuple[Path, Path, Path]:
    """What a flow leaves in its three places: the archive, its hash file, its password file."""
    name = f"{app_name}-1.0.0-{kind}.zip"
    return (
        side / "dist" / name,
        side / "dist-hashes" / f"{name}.sha256",
        side / "dist-password" / f"{name}.password",
    )


def carry(files: tuple[Path, Path, Path], inbox: Path) -> tuple[Path, Path, Path]:
    inbox.mkdir(exist_ok=True)
    return tuple(Path(shutil.copy2(f, inbox / f.name)) for f in files)


def health(ports: str, path: str = "/health") -> dict:
    host, port, _ = ports.split(",")[0].split(":")
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as answer:  # noqa: S310
        return json.loads(answer.read())


@pytest.fixture(scope="session")
def app_copy(tmp_path_factory) -> Path:
    """The example app under a unique name, so its image never collides with a real one."""
    return unique_app(tmp_path_factory.mktemp("app") / "tms-api")


def unique_app(app: Path) -> Path:
    """A copy of the example app at ``app`` named ``agk-e2e-<random>``."""
    shutil.copytree(EXAMPLE_APP, app, ignore=shutil.ignore_patterns("node_modules", ".env*"))
    shutil.copy2(EXAMPLE_APP / ".env.example", app / ".env.example")
    set_package(app, "name", f"agk-e2e-{uuid.uuid4().hex[:8]}")
    return app


def set_package(app: Path, key: str, value: str) -> None:
    """``key`` (name or version) of the app in package.json and in its lock, alike."""
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data[key] = value
        if file == "package-lock.json":
            data["packages"][""][key] = value
        (app / file).write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture(scope="session")
def machines(tmp_path_factory):
    root = tmp_path_factory.mktemp("machines")
    sides = {side: root / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        side.mkdir()
    return sides


@pytest.fixture(scope="session")
def private_tmp(tmp_path_factory) -> dict:
    """The environment that gives the flows a temporary folder of their own (TMPDIR).

    What a flow leaves there is its own doing, never another test run's on the same machine.
    """
    return {"TMPDIR": str(tmp_path_factory.mktemp("tmp"))}


@pytest.fixture(scope="session")
def advisories():
    """The stand-in for the registry's advisory service that the session's round trip asks
    (``audit_registry``), answering with the advisories recorded for the example app."""
    with advisory_service.serve(advisory_service.recorded("tms-api")) as service:
        yield service


@pytest.fixture(scope="session")
def round_trip(docker_client, registry, app_copy, machines, private_tmp, advisories):
    """export, release and deploy once; yields what each made and removes it all afterwards."""
    app_name = json.loads((app_copy / "package.json").read_text())["name"]
    base = f"{registry}/node:20-alpine"
    ports = loopback_ports()
    container = f"{app_name}-prod"
    audited = {**private_tmp, "INVOKE_AIRGAPKIT_AUDIT_REGISTRY": advisories.url}
    try:
        export = inv(
            *export_flags(app_copy, base), cwd=machines["connected"], env=audited, check=True
        )
        exported = carried(machines["connected"], "base", app_name)
        archive, sums, password = carry(exported, machines["airgapped"] / "inbox")
        release = release_flags(archive, sums, password)
        smoke_env = ["--smoke-env", str(app_copy / ".env.example")]
        released_proc = inv(
            *release,
            *smoke_env,
            cwd=machines["airgapped"],
            env={**private_tmp, "COLUMNS": "200"},  # the gate table's rows on one line each
            check=True,
        )
        released = carried(machines["airgapped"], "release", app_name)
        archive, sums, password = carry(released, machines["prod"] / "inbox")
        shutil.copy2(app_copy / ".env.example", machines["prod"] / ".env.example")
        env_prod = machines["prod"] / ".env.prod"
        env_prod.write_text(
            f"PORT=8080\nAPP_ENV=prod\nGREETING={GREETING}\n"
            f"DB_HOST=db.prod.internal\nDB_USER=tms\nDB_PASSWORD={DB_PASSWORD}\n"
        )
        env_prod.chmod(0o600)
        deploy = deploy_flags(archive, sums, password, name=container, ports=ports)
        proc = inv(*deploy, cwd=machines["prod"], env=private_tmp, check=True)
        yield {
            "app_name": app_name,
            "base": base,
            "ports": ports,
            "container": container,
            "exported": exported,
            "released": released,
            "deploy": deploy,
            "deploy_proc": proc,
            "export_proc": export,
            "release_proc": released_proc,
            "release_inbox": (archive, sums, password),
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
