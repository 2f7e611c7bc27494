"""How the bundle fixtures in tests/fixtures/bundles/ were made: ``python tests/support/format_fixture.py``.

Each ``format-N/`` folder holds a release bundle made by the airgapkit that wrote format N, with its
``.sha256`` and ``.password`` beside it and the public key that signed it. Once committed, a
fixture is never made again: it is the record of what that format was, and the tests must go on
reading it (``tests/test_format_fixtures.py``). A new format version adds a new folder, made by
running this with the airgapkit that writes it.

The bundle is small (a few kB): its image is one file made with ``docker import``; its SBOM is npm's
for an app with no dependencies, with the image added as the base image; its contract comes from a
two-key ``.env.example``; it is signed with a key made for it, whose private half is not kept.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict
from pathlib import Path

import docker

from airgapkit.crossing import bundle, passwords
from airgapkit.crossing.manifest import FORMAT_VERSION, Manifest
from airgapkit.engine.source import saved
from airgapkit.gate import checkpoint
from airgapkit.trust import contract, keys, sbom, seal

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bundles"
IMAGE = "airgapkit-fixture/tiny:1.0.0"
APP = {"name": "tiny", "version": "1.0.0", "image_name": "tiny"}
EXAMPLE = "# what the app greets with\nGREETING=hello\n# the app's API token\nAPI_TOKEN=\n"
PASSPHRASE = "fixture only: quartz lantern ember 2841 fjord"  # noqa: S105 - the key is not kept
RISK = "test fixture: a one-file image, no scanner report"


def tiny_image(client: docker.DockerClient) -> str:
    """A one-file image, imported (no base, one layer of its own), that declares a Node version."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = f"made by airgapkit bundle format {FORMAT_VERSION}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(body), 0
        tar.addfile(info, io.BytesIO(body))
    declared = ["--change", "ENV NODE_VERSION=24.11.1"]  # the gate reads it instead of running node
    subprocess.run(["docker", "import", *declared, "-", IMAGE], input=data.getvalue(), check=True)
    return IMAGE


def make(client: docker.DockerClient, work: Path) -> Path:
    """The release bundle of format FORMAT_VERSION in tests/fixtures/bundles/format-N/."""
    ref = tiny_image(client)
    app_dir = work / "app"
    app_dir.mkdir()
    (app_dir / "package.json").write_text(json.dumps({**APP, "private": True}))
    subprocess.run(["npm", "install", "--package-lock-only", "--silent"], cwd=app_dir, check=True)
    (app_dir / ".env.example").write_text(EXAMPLE)
    identity = seal.engine_image(client, ref)
    bom = sbom.add_base_image(sbom.generate(app_dir), identity)
    made = contract.from_example(app_dir / ".env.example", "tiny 1.0.0")
    pair = keys.keygen(work / "fixture", PASSPHRASE)
    key = keys.load_signing_key(pair.private, PASSPHRASE)
    gate = checkpoint.gate(client, ref, kind="base", report=None, limits=None, accept_risk=RISK)
    manifest = Manifest(kind="release", app=dict(APP), gate=gate.record())
    extras = seal.Extras(
        [
            (sbom.write(bom, work / "sbom.json"), seal.SBOM_MEMBER),
            (contract.write(made, work / "contract.env.example"), seal.CONTRACT_MEMBER),
        ],
        {
            "sbom": {
                "member": seal.SBOM_MEMBER,
                "packages": sbom.package_count(bom),
                "base_image": asdict(identity),
            },
            "contract": {"member": seal.CONTRACT_MEMBER, "keys": list(made.keys)},
        },
    )
    name = bundle.archive_name(APP, "release")
    delivery = bundle.write(
        work / "media" / name,
        extras.apply(manifest),
        images=saved(client, [ref]),
        files=extras.files,
        password=passwords.new_password(),
        level=9,
        hashes_dir=work / "hashes",
        password_file=work / "password" / f"{name}.password",
        sign=seal.signer(key),
    )
    client.images.remove(ref)  # the tests load it from the bundle
    return _keep(delivery, pair.public)


def _keep(delivery: bundle.Delivery, public: Path) -> Path:
    dest = FIXTURES / f"format-{FORMAT_VERSION}"
    if dest.exists():
        sys.exit(f"{dest} exists: a committed fixture is never made again")
    dest.mkdir(parents=True)
    for path in (delivery.archive, delivery.sums, delivery.password, public):
        shutil.copy(path, dest / path.name)
    return dest


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(make(docker.from_env(), Path(tmp)))
