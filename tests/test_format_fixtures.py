"""Every bundle format airgapkit ever wrote stays readable (``crossing.manifest.READABLE_FORMATS``).

``tests/fixtures/bundles/format-N/`` holds a release bundle made by the airgapkit that wrote format
N (``tests/support/format_fixture.py`` made it; it is never made again). Each is read as the far
side reads it: ``inspect`` and ``sbom`` as a user runs them, then what ``deploy`` does before it
replaces a container (hash, password, signature against the key that signed it, the env file
against the contract it carries, prerequisites) and the load of its image into the real engine,
checked by image ID.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from invoking import inv

from airgapkit.crossing.manifest import FORMAT_VERSION, READABLE_FORMATS
from airgapkit.delta import apply
from airgapkit.engine import identity
from airgapkit.flows.bundles import open_incoming
from airgapkit.settings import Incoming
from airgapkit.trust import keys, seal, signing
from conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bundles"
FORMATS = sorted(FIXTURES.glob("format-*"), key=lambda p: int(p.name.split("-")[1]))
IMAGE = "airgapkit-fixture/tiny:1.0.0"


def test_there_is_a_fixture_of_every_format_this_airgapkit_reads():
    assert [int(p.name.split("-")[1]) for p in FORMATS] == list(READABLE_FORMATS)
    assert FORMATS[-1].name == f"format-{FORMAT_VERSION}"


class Fixture:
    """A fixture folder's files, copied where a test may use them (the password file private)."""

    def __init__(self, folder: Path, work: Path):
        shutil.copytree(folder, work, dirs_exist_ok=True)
        (self.archive,) = work.glob("*.zip")
        self.sums = self.archive.with_name(self.archive.name + ".sha256")
        self.password = self.archive.with_name(self.archive.name + ".password")
        self.password.chmod(0o600)
        self.public = work / "fixture.pub"
        self.fingerprint = keys.load_public_key(self.public).fingerprint
        self.config = work / "trust.yaml"
        self.config.write_text(f"airgapkit:\n  trust:\n    keys: [{self.public}]\n")

    def incoming(self) -> Incoming:
        return Incoming.from_flags(self.archive, sums=self.sums, password_file=self.password)

    def flags(self) -> list[str]:
        return [str(self.archive), "--sums", str(self.sums), "--password-file", str(self.password)]


@pytest.fixture(params=FORMATS, ids=lambda p: p.name)
def fixture(request, tmp_path) -> Fixture:
    return Fixture(request.param, tmp_path / "media")


def test_inspect_reads_it(fixture, tmp_path):
    proc = inv("-f", str(fixture.config), "inspect", *fixture.flags(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = " ".join(proc.stdout.split())  # Rich wraps long lines at 80 columns in a pipe
    assert "release bundle of tiny 1.0.0" in shown
    assert f"signature: signed by {fixture.fingerprint} (trusted: " in shown
    assert "env contract: 2 keys: GREETING, API_TOKEN" in shown
    as_json = inv("inspect", *fixture.flags(), "--json", cwd=tmp_path, check=True)
    manifest = json.loads(as_json.stdout)
    assert manifest["kind"] == "release" and manifest["images"][0]["ref"] == IMAGE


def test_sbom_reads_it(fixture, tmp_path):
    proc = inv("-f", str(fixture.config), "sbom", *fixture.flags(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert IMAGE in proc.stdout  # the base image the SBOM records


def test_deploy_reads_it_and_loads_its_image(fixture, docker_client, tmp_path):
    env_file = tmp_path / ".env.prod"
    env_file.write_text("GREETING=hi\nAPI_TOKEN=t0ken\n")
    env_file.chmod(0o600)
    if any(IMAGE in image.tags for image in docker_client.images.list(name=IMAGE)):
        docker_client.images.remove(IMAGE)
    trusted = signing.load_trusted([str(fixture.public)], tmp_path)
    try:
        with open_incoming(fixture.incoming(), "release", trusted) as opened:
            assert opened.signature.signer == fixture.fingerprint and opened.signature.trusted
            env = seal.checked_env(opened, env_file, tmp_path / "no-local-example")
            assert env == {"GREETING": "hi", "API_TOKEN": "t0ken"}
            apply.check_prerequisites(docker_client, opened.manifest, opened.path)
            assert apply.load_images(docker_client, opened) == [IMAGE]
            recorded = opened.manifest.images[0]["id"]
        assert identity.of_ref(docker_client, IMAGE) == recorded  # the same on both stores
    finally:
        if docker_client.images.list(name=IMAGE):
            docker_client.images.remove(IMAGE)
