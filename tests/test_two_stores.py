"""An app the suite has not seen, delivered across two engines as a new user would deliver it.

The connected side and the air-gapped dev side run on this run's engine, prod on the other one
(``other_engine``: in CI, the other image store, so each of the two runs crosses one way). Bundles are
signed and written as media volumes. v1 goes in full; v2, one changed line, goes as deltas
(``--since last``) and is deployed on a prod that never built it: put together there from v1's
layers and checked by its config digest, the one identity both image stores agree on
(``engine.identity``).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import docker
import pytest
from invoking import assert_refusal, free_port, inv
from machines import RISK

from airgapkit.engine import identity
from airgapkit.engine import store as stores
from airgapkit.trust import keys

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

PASSPHRASE = "cobalt ferry meadow 93 quartz lantern"  # noqa: S105 - the test keys' passphrase
GREETING = "ledger-on-the-far-engine"
SERVER_JS = """'use strict';
const http = require('http');
const pkg = require('./package.json');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ status: 'ok', version: pkg.version, greeting: process.env.GREETING }));
}).listen(Number(process.env.PORT || 8080));
"""


def write_app(app: Path, name: str, version: str, line: str = "") -> None:
    app.mkdir(parents=True, exist_ok=True)
    package = {
        "name": name,
        "version": version,
        "main": "server.js",
        "files": ["server.js"],  # the .env.example travels as the contract, never in the .tgz
        "scripts": {"start": "node server.js"},
        "dependencies": {},
        "bundledDependencies": True,
        "license": "MIT",
    }
    (app / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    (app / "server.js").write_text(SERVER_JS + line)
    (app / ".env.example").write_text("# ledger settings\nPORT=8080\nGREETING=hello\n")


def keygen(side: Path, name: str, env: dict) -> Path:
    inv("keygen", "--out", str(side / "keys" / name), cwd=side, env=env, check=True)
    return side / "keys" / name


def trusting(side: Path, public: Path) -> Path:
    config = side / "trust.yaml"
    config.write_text(json.dumps({"airgapkit": {"trust": {"keys": [str(public)]}}}))
    return config


def carry(side: Path, archive: str, inbox: Path) -> list[str]:
    """Every volume of ``archive``, its hash file and its password file, into ``inbox``; the
    arguments that name them to the next command."""
    inbox.mkdir(exist_ok=True)
    volumes = sorted((side / "dist").glob(f"{archive}.0*"))
    assert volumes, f"no volumes of {archive} in {side / 'dist'}"
    for part in [
        *volumes,
        side / "dist-hashes" / f"{archive}.sha256",
        side / "dist-password" / f"{archive}.password",
    ]:
        shutil.copy2(part, inbox / part.name)
    return [
        str(inbox / volumes[0].name),
        "--sums",
        str(inbox / f"{archive}.sha256"),
        "--password-file",
        str(inbox / f"{archive}.password"),
    ]


@pytest.fixture(scope="module")
def line(docker_client, other_engine, base_image, tmp_path_factory):
    far_address, far = other_engine
    root = tmp_path_factory.mktemp("two-stores")
    name = f"agk-ledger-{uuid.uuid4().hex[:8]}"
    sides = {side: root / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        side.mkdir()
    env = {keys.PASSPHRASE_VAR: PASSPHRASE, "TMPDIR": str(root)}
    far_env = {**env, "DOCKER_HOST": far_address}
    connected_key = keygen(sides["connected"], "connected", env)
    dev_key = keygen(sides["airgapped"], "dev", env)
    dev_trust = trusting(sides["airgapped"], connected_key.with_suffix(".pub"))
    prod_trust = trusting(sides["prod"], dev_key.with_suffix(".pub"))
    (sides["prod"] / ".env.example").write_text("PORT=8080\nGREETING=hello\n")
    (sides["prod"] / ".env.prod").write_text(f"PORT=8080\nGREETING={GREETING}\n")
    (sides["prod"] / ".env.prod").chmod(0o600)
    ports = f"127.0.0.1:{free_port()}:8080"
    made = {"name": name, "sides": sides, "far": far, "ports": ports, "env": env}
    made["far_env"], made["trust"] = far_env, prod_trust
    app = root / "app"
    try:
        for version, since in (("1.0.0", []), ("1.0.1", ["--since", "last"])):
            write_app(app, name, version, "// v2\n" if since else "")
            inv(
                "export", "--app", str(app), "--base-image", base_image, "--accept-risk", RISK,
                "--sign-key", str(connected_key.with_suffix(".key")), "--split", "40m", *since,
                cwd=sides["connected"], env=env, check=True,
            )  # fmt: skip
            base = f"{name}-{version}-base.zip"
            exported = carry(sides["connected"], base, sides["airgapped"] / "inbox")
            inv(
                "-f", str(dev_trust), "release", *exported, "--accept-risk", RISK,
                "--smoke-env", str(app / ".env.example"),
                "--sign-key", str(dev_key.with_suffix(".key")), "--split", "40m", *since,
                cwd=sides["airgapped"], env=env, check=True,
            )  # fmt: skip
            released = carry(
                sides["airgapped"], f"{name}-{version}-release.zip", sides["prod"] / "inbox"
            )
            deploy = ["-f", str(prod_trust), "deploy", *released, "--env", "prod"]
            deploy += ["--name", f"{name}-prod", "--ports", ports]
            made[version] = {"released": released, "deploy": deploy}
            made[version]["proc"] = inv(*deploy, cwd=sides["prod"], env=far_env, check=True)
        yield made
    finally:
        for container in (f"{name}-prod", f"{name}-prod-previous"):
            try:
                far.containers.get(container).remove(force=True)
            except docker.errors.NotFound:
                pass
        for client in (docker_client, far):
            for ref in (f"{name}:1.0.0", f"{name}:1.0.1"):
                try:
                    client.images.remove(ref, force=True)
                except docker.errors.NotFound:
                    pass


def manifest_of(line, version: str) -> dict:
    proc = inv(
        "inspect", *line[version]["released"], "--json", cwd=line["sides"]["prod"], check=True
    )
    return json.loads(proc.stdout)


def health(ports: str) -> dict:
    import urllib.request

    host, port, _ = ports.split(":")
    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=5) as answer:  # noqa: S310
        return json.loads(answer.read())


def test_the_delta_runs_on_the_engine_that_never_built_it(line):
    answer = health(line["ports"])
    assert answer == {"status": "ok", "version": "1.0.1", "greeting": GREETING}
    deployed = line["1.0.1"]["proc"].stdout + line["1.0.1"]["proc"].stderr
    assert "is signed by" in deployed and "unsigned" not in deployed


def test_the_delta_release_carried_only_the_new_layers_in_a_volume(line):
    v1, v2 = manifest_of(line, "1.0.0"), manifest_of(line, "1.0.1")
    (needs,) = v2["requires"]
    assert needs["id"] == v1["images"][0]["id"] and needs["for"] == v2["images"][0]["id"]
    assert v2["files"][0]["size"] < v1["files"][0]["size"] / 10
    volumes = sorted(Path(line["1.0.0"]["released"][0]).parent.glob("*-1.0.0-release.zip.0*"))
    assert len(volumes) >= 2  # v1's release went as media volumes


def test_both_engines_agree_on_the_image_by_its_config_digest(docker_client, line):
    """The far engine's image is the one the release recorded, and the one the near engine built;
    the classic store reports that config digest as the image's ID, the containerd store not."""
    recorded = manifest_of(line, "1.0.1")["images"][0]["id"]
    ref = f"{line['name']}:1.0.1"
    for client in (docker_client, line["far"]):
        image = client.images.get(ref)
        assert identity.of(client, image) == recorded
        assert (image.id == recorded) == (stores.store(client) == stores.CLASSIC)


def test_the_same_delta_again_is_refused_on_the_far_engine(line):
    proc = inv(*line["1.0.1"]["deploy"], cwd=line["sides"]["prod"], env=line["far_env"])
    assert_refusal(proc, "was applied here before; nothing loaded")
    assert health(line["ports"])["version"] == "1.0.1"
