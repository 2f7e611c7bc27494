"""Issue 13 end to end: signed bundles, the SBOM that travels and the env contract inside the release.

One round trip of its own, as users run it: ``inv keygen`` on the connected side and on the dev
side; ``inv export --sign-key``; ``inv release`` under ``trust.keys`` (the connected side's public
key) and signed with the dev side's key; ``inv deploy`` under ``trust.keys`` (the dev side's key).
Each side's configuration is a file of its own given with ``inv -f``. Then what a person in the
middle could do to a bundle: edit the manifest and re-encrypt it with the right password and new
sums, strip the signature, or ship a version whose contract gained a key prod's env file lacks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import uuid
from pathlib import Path

import docker
import pytest
from archives import write_archive
from invoking import assert_one_line_error, assert_refusal, inv
from machines import (
    DB_PASSWORD,
    GREETING,
    carried,
    carry,
    deploy_flags,
    export_flags,
    health,
    loopback_ports,
    release_flags,
    unique_app,
)
from npmtree import npm_ls_packages

from airgapkit.crossing import bundle
from airgapkit.crossing.archive import ArchiveReader
from airgapkit.crossing.manifest import MANIFEST, Manifest
from airgapkit.flows import bundles
from airgapkit.settings import Crossing
from airgapkit.trust import contract, keys, sbom, seal, signing

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

PASSPHRASE = "amber kettle orbit 47 lantern fjord"  # noqa: S105 - the test keys' passphrase
KEY_ENV = {keys.PASSPHRASE_VAR: PASSPHRASE}


def trusting(side: Path, pub: Path) -> Path:
    """The side's configuration: it trusts the one public key carried to it."""
    local = Path(shutil.copy2(pub, side / pub.name))
    config = side / "trust.yaml"
    config.write_text(json.dumps({"airgapkit": {"trust": {"keys": [str(local)]}}}))
    return config


def keygen(side: Path, name: str) -> keys.KeyPair:
    proc = inv("keygen", "--out", str(side / "keys" / name), cwd=side, env=KEY_ENV, check=True)
    pair = keys.KeyPair(
        side / "keys" / f"{name}.key", side / "keys" / f"{name}.pub", proc.stdout.split()[-1]
    )
    assert keys.load_public_key(pair.public).fingerprint == pair.fingerprint
    return pair


def push_base(docker_client, source: str, ref: str) -> None:
    """The node stand-in in the test registry under a name of this module's own, not kept locally:
    export pulls it, so it has the registry digest a pulled base image has."""
    docker_client.images.get(source).tag(ref)
    for line in docker_client.api.push(ref, stream=True, decode=True):
        assert "error" not in line, line
    docker_client.images.remove(ref)


@pytest.fixture(scope="module")
def trip(docker_client, registry, base_image, tmp_path_factory):
    root = tmp_path_factory.mktemp("signed")
    app = unique_app(root / "app" / "tms-api")
    app_name = json.loads((app / "package.json").read_text())["name"]
    sides = {side: root / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        side.mkdir()
    env = {**KEY_ENV, "TMPDIR": str(tmp_path_factory.mktemp("tmp"))}
    base = f"{registry}/trust-node-{uuid.uuid4().hex[:8]}:20-alpine"
    push_base(docker_client, base_image, base)
    container, ports = f"{app_name}-prod", loopback_ports()
    try:
        connected_key = keygen(sides["connected"], "connected")
        dev_key = keygen(sides["airgapped"], "dev")
        dev_trust = trusting(sides["airgapped"], connected_key.public)
        prod_trust = trusting(sides["prod"], dev_key.public)

        signed = ["--sign-key", str(connected_key.private)]
        export = inv(*export_flags(app, base), *signed, cwd=sides["connected"], env=env)
        assert export.returncode == 0, export.stdout + export.stderr
        exported = carried(sides["connected"], "base", app_name)
        base_inbox = carry(exported, sides["airgapped"] / "inbox")
        release = inv(
            "-f",
            str(dev_trust),
            *release_flags(*base_inbox),
            "--smoke-env",
            str(app / ".env.example"),
            "--sign-key",
            str(dev_key.private),
            cwd=sides["airgapped"],
            env=env,
        )
        assert release.returncode == 0, release.stdout + release.stderr
        released = carried(sides["airgapped"], "release", app_name)
        release_inbox = carry(released, sides["prod"] / "inbox")
        env_prod = sides["prod"] / ".env.prod"
        env_prod.write_text(
            f"PORT=8080\nAPP_ENV=prod\nGREETING={GREETING}\n"
            f"DB_HOST=db.prod.internal\nDB_USER=tms\nDB_PASSWORD={DB_PASSWORD}\n"
        )
        env_prod.chmod(0o600)
        deploy = ["-f", str(prod_trust), *deploy_flags(*release_inbox, name=container, ports=ports)]
        deployed = inv(*deploy, cwd=sides["prod"], env=env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield {
            "app": app,
            "app_name": app_name,
            "base": base,
            "sides": sides,
            "env": env,
            "keys": {"connected": connected_key, "dev": dev_key},
            "trust": {"airgapped": dev_trust, "prod": prod_trust},
            "procs": {"export": export, "release": release, "deploy": deployed},
            "base_inbox": base_inbox,
            "release_inbox": release_inbox,
            "container": container,
            "ports": ports,
        }
    finally:
        try:
            docker_client.containers.get(container).remove(force=True)
        except docker.errors.NotFound:
            pass
        for ref in (f"{app_name}:1.0.0", f"{app_name}:1.1.0", base):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass


def test_signed_bundles_cross_both_gaps_and_the_release_runs(trip):
    assert health(trip["ports"])["greeting"] == GREETING
    pairs, procs = trip["keys"], trip["procs"]
    assert f"signed with {pairs['connected'].private} ({pairs['connected'].fingerprint})" in (
        procs["export"].stderr
    )
    assert f"base.zip is signed by {pairs['connected'].fingerprint} (trusted: " in (
        procs["release"].stderr
    )
    assert (
        f"release.zip is signed by {pairs['dev'].fingerprint} (trusted: " in procs["deploy"].stderr
    )
    for proc in trip["procs"].values():
        output = proc.stdout + proc.stderr
        assert "unsigned" not in output and "not checked" not in output
        assert PASSPHRASE not in output and DB_PASSWORD not in output
    assert "checked against the env contract carried by" in trip["procs"]["deploy"].stderr


def test_each_sides_history_records_the_signer_and_the_sbom_count(trip):
    pairs, sides = trip["keys"], trip["sides"]
    expected = {
        ("connected", "export"): pairs["connected"].fingerprint,
        ("airgapped", "release"): pairs["dev"].fingerprint,
        ("prod", "deploy"): pairs["dev"].fingerprint,
    }
    for (side, action), signer in expected.items():
        lines = (sides[side] / ".airgapkit" / "history.jsonl").read_text().splitlines()
        entry = json.loads(lines[0])
        assert (entry["action"], entry["outcome"], entry["signer"]) == (action, "ok", signer)
        assert entry["sbom_packages"] >= 2, entry


def test_inspect_shows_the_signer_the_sbom_count_and_the_chain(trip):
    archive, sums, password = trip["release_inbox"]
    proc = inv(
        "-f",
        str(trip["trust"]["prod"]),
        "inspect",
        str(archive),
        "--sums",
        str(sums),
        "--password-file",
        str(password),
        cwd=trip["sides"]["prod"],
        check=True,
    )
    text = " ".join(proc.stdout.split())  # the table may wrap long lines
    pairs = trip["keys"]
    assert f"signature: signed by {pairs['dev'].fingerprint} (trusted: " in text
    assert f"SBOM: {len(npm_ls_packages(trip['app']))} npm packages" in text
    assert (
        f"made from: {trip['base_inbox'][0].name}, signed by {pairs['connected'].fingerprint}"
        in text
    )
    assert "env contract: 6 keys: PORT, APP_ENV, GREETING, DB_HOST, DB_USER, DB_PASSWORD" in text


def test_inv_sbom_writes_the_release_sbom_with_the_pulled_base_image(trip, tmp_path):
    archive, sums, password = trip["release_inbox"]
    common = ["-f", str(trip["trust"]["prod"]), "sbom", str(archive), "--sums", str(sums)]
    common += ["--password-file", str(password)]
    out = tmp_path / "release-sbom.json"
    inv(*common, "--output", str(out), cwd=trip["sides"]["prod"], check=True)
    bom = sbom.read(out)
    assert sbom.package_count(bom) == len(npm_ls_packages(trip["app"]))
    image = sbom.base_image(bom)
    assert image.ref == trip["base"]
    assert image.repo_digest.startswith(trip["base"].rsplit(":", 1)[0] + "@sha256:")
    table = inv(*common, cwd=trip["sides"]["prod"], check=True).stdout
    assert "express" in table and f"{sbom.package_count(bom)} packages" in " ".join(table.split())


def test_inv_sbom_output_replaces_no_special_file_and_makes_no_folder(trip, tmp_path):
    archive, sums, password = trip["release_inbox"]
    common = ["-f", str(trip["trust"]["prod"]), "sbom", str(archive), "--sums", str(sums)]
    common += ["--password-file", str(password)]
    device, fifo, link = tmp_path / "full", tmp_path / "fifo", tmp_path / "link"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # /dev/full's numbers, made here
    os.mkfifo(fifo)
    (tmp_path / "kept.json").write_text("kept")
    link.symlink_to(tmp_path / "kept.json")
    for dest, kind in ((device, "device"), (fifo, "FIFO"), (link, "symbolic link")):
        before = os.lstat(dest)
        proc = inv(*common, "--output", str(dest), cwd=trip["sides"]["prod"])
        assert_one_line_error(proc, rf"{dest} is a {kind}, not a regular file")
        assert (os.lstat(dest).st_mode, os.lstat(dest).st_ino) == (before.st_mode, before.st_ino)
    assert (tmp_path / "kept.json").read_text() == "kept"
    missing = tmp_path / "nonexistent" / "dir" / "x.json"
    proc = inv(*common, "--output", str(missing), cwd=trip["sides"]["prod"])
    assert_one_line_error(proc, rf"--output {missing}: {missing.parent} does not exist")
    assert not (tmp_path / "nonexistent").exists()


def remade(archive: Path, dest: Path, change) -> tuple[Path, Path, Path]:
    """The base bundle re-encrypted with its own password after ``change(members)``, its hash file
    made anew: what someone holding the password and both channels could send."""
    password_file = archive.parent / f"{archive.name}.password"
    password = password_file.read_text().strip()
    with ArchiveReader(archive, password) as reader:
        members = {name: reader.read_bytes(name, limit=1 << 30) for name in reader.names()}
    dest.mkdir()
    path = write_archive(dest / archive.name, change(members), password=password)
    sums = bundle.deliver(path, hashlib.sha256(path.read_bytes()).hexdigest(), dest)
    return path, sums, Path(shutil.copy2(password_file, dest / password_file.name))


def base_absent(docker_client, ref: str) -> bool:
    try:
        docker_client.images.get(ref)
    except docker.errors.ImageNotFound:
        return True
    return False


def test_a_tampered_or_stripped_base_bundle_is_refused_before_its_image_is_loaded(
    docker_client, trip, tmp_path
):
    docker_client.images.remove(trip["base"], force=True)

    def tamper(members: dict) -> dict:
        body = json.loads(members[MANIFEST])
        # The failed rules hidden, the manifest still well formed: only the signature tells.
        body["gate"] = {**body["gate"], "passed": True, "failures": [], "accepted_risk": ""}
        return {**members, MANIFEST: json.dumps(body, indent=2).encode()}

    def strip(members: dict) -> dict:
        return {k: v for k, v in members.items() if k != signing.SIGNATURE_MEMBER}

    cases = [
        (tamper, "tampered", ("made over another manifest",)),
        (strip, "stripped", ("is unsigned", "trusts only signed bundles")),
    ]
    for change, name, words in cases:
        inbox = remade(trip["base_inbox"][0], tmp_path / name, change)
        proc = inv(
            "-f",
            str(trip["trust"]["airgapped"]),
            *release_flags(*inbox),
            cwd=trip["sides"]["airgapped"],
            env=trip["env"],
        )
        assert_refusal(proc, *words)
        assert base_absent(docker_client, trip["base"]), f"{name}: the base image was loaded"


def test_a_forged_signer_is_never_recorded_as_a_fact(trip, tmp_path):
    """No trust.keys on the dev side: a base bundle whose signature is random bytes naming the
    connected side's fingerprint is accepted, "not checked" (as designed); the release made from it
    must not then say "signed by" that key as if it had been checked."""
    fingerprint = trip["keys"]["connected"].fingerprint

    def forge(members: dict) -> dict:
        document = json.loads(members[signing.SIGNATURE_MEMBER])
        document["signature"] = base64.b64encode(os.urandom(signing.SIGNATURE_BYTES)).decode()
        return {**members, signing.SIGNATURE_MEMBER: json.dumps(document).encode()}

    inbox = remade(trip["base_inbox"][0], tmp_path / "forged", forge)
    dev = tmp_path / "dev"
    dev.mkdir()
    smoke = ["--smoke-env", str(trip["app"] / ".env.example")]
    proc = inv(*release_flags(*inbox), *smoke, cwd=dev, env=trip["env"], check=True)
    assert f"is signed by {fingerprint}, not checked" in proc.stderr
    released = carried(dev, "release", trip["app_name"])
    shown = inv("inspect", str(released[0]), "--password-file", str(released[2]), cwd=dev)
    text = " ".join(shown.stdout.split())  # the console may wrap long lines
    assert f"made from: {inbox[0].name}, signed by {fingerprint} (not checked" in text, text
    manifest = json.loads(
        inv(
            "inspect", str(released[0]), "--password-file", str(released[2]), "--json", cwd=dev
        ).stdout
    )
    assert manifest["base_bundle"]["signer"] is None
    assert manifest["base_bundle"]["unchecked_signer"] == fingerprint


def test_a_wrong_password_is_a_password_error_not_a_signature_error(trip, tmp_path):
    archive, sums, _ = trip["base_inbox"]
    wrong = tmp_path / "wrong.password"
    wrong.write_text("Not-The-Password-42!\n")
    proc = inv(
        "-f",
        str(trip["trust"]["airgapped"]),
        *release_flags(archive, sums, wrong),
        cwd=trip["sides"]["airgapped"],
        env=trip["env"],
    )
    line = assert_refusal(proc, "wrong password")
    assert "signature" not in line


def test_a_release_whose_contract_gained_a_key_is_refused_and_the_old_container_keeps_running(
    docker_client, trip, tmp_path
):
    """Version 1.1.0 reads FEATURE_FLAGS_URL; prod's .env.prod does not set it yet."""
    name = trip["app_name"]
    ref = f"{name}:1.1.0"
    docker_client.images.get(f"{name}:1.0.0").tag(ref)
    example = tmp_path / ".env.example"
    example.write_text(
        (trip["app"] / ".env.example").read_text() + "# Where the flags live.\nFEATURE_FLAGS_URL=\n"
    )
    made = contract.from_example(example, f"{name} 1.1.0")
    manifest = Manifest(
        kind="release",
        app={"name": name, "version": "1.1.0", "image_name": name, "tgz": ""},
        contract={"member": seal.CONTRACT_MEMBER, "keys": list(made.keys)},
    )
    places = {k: tmp_path / k for k in ("out_dir", "hashes_dir", "password_dir")}
    dev_key = keys.load_signing_key(trip["keys"]["dev"].private, PASSPHRASE)
    delivery = bundles.make_bundle(
        docker_client,
        manifest,
        Crossing.from_config({"compression": 1}, **places),
        images=[ref],
        files=[(contract.write(made, tmp_path / "contract.env"), seal.CONTRACT_MEMBER)],
        sign=seal.signer(dev_key),
    )
    docker_client.images.remove(ref)
    before = docker_client.containers.get(trip["container"])
    proc = inv(
        "-f",
        str(trip["trust"]["prod"]),
        *deploy_flags(
            delivery.archive,
            delivery.sums,
            delivery.password,
            name=trip["container"],
            ports=trip["ports"],
        ),
        cwd=trip["sides"]["prod"],
        env=trip["env"],
    )
    assert_refusal(proc, "lacks keys that the env contract carried by", "FEATURE_FLAGS_URL")
    assert DB_PASSWORD not in proc.stdout + proc.stderr
    assert base_absent(docker_client, ref), "the new version's image was loaded"
    after = docker_client.containers.get(trip["container"])
    assert after.id == before.id and after.status == "running"
    assert health(trip["ports"])["greeting"] == GREETING


def test_extract_of_a_bundle_checks_its_signer(trip, tmp_path):
    archive, sums, password = trip["base_inbox"]
    flags = ["extract", str(archive), "--sums", str(sums), "--password-file", str(password)]
    trusted = ["-f", str(trip["trust"]["airgapped"])]
    proc = inv(*trusted, *flags, "--dest", str(tmp_path / "ok"), cwd=tmp_path, check=True)
    assert (tmp_path / "ok" / "sbom" / "cyclonedx.json").is_file(), proc.stdout
    other = ["-f", str(trip["trust"]["prod"])]  # trusts the dev side's key only
    proc = inv(*other, *flags, "--dest", str(tmp_path / "refused"), cwd=tmp_path)
    assert_refusal(proc, "not among the trusted keys", trip["keys"]["connected"].fingerprint)
    assert not (tmp_path / "refused").exists()
