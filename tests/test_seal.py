"""seal: bundles signed by bundle.create, checked when opened, read and extracted; the SBOM and the
env contract carried from the base bundle into the release; the contract a deploy uses.

Bundles of files only (no image): what is checked here never needs the engine.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from archives import PW, write_archive
from rich.console import Console

from airgapkit.config import DEFAULTS
from airgapkit.crossing import bundle, channels
from airgapkit.crossing.archive import ArchiveReader
from airgapkit.crossing.manifest import MANIFEST, Manifest
from airgapkit.errors import IntegrityError, PasswordError
from airgapkit.settings import Trust
from airgapkit.trust import contract, keys, sbom, seal, signing
from airgapkit.trust.contract import ContractError
from airgapkit.trust.signing import SignatureError

PASSPHRASE = "amber kettle orbit 47 lantern fjord"  # noqa: S105 - a test key's passphrase
APP = {"name": "tms-api", "version": "1.0.0", "image_name": "tms-api", "tgz": "tms-api-1.0.0.tgz"}
IMAGE = sbom.ImageIdentity("node:20-alpine", "sha256:" + "a" * 64, "node@sha256:" + "b" * 64)
BOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "components": [
        {"type": "library", "name": "express", "version": "5.1.0", "purl": "pkg:npm/express@5.1.0"},
        {"type": "library", "name": "ms", "version": "2.1.3", "purl": "pkg:npm/ms@2.1.3"},
    ],
}


@pytest.fixture(autouse=True)
def no_env_passphrase(monkeypatch):
    monkeypatch.delenv(keys.PASSPHRASE_VAR, raising=False)


@pytest.fixture
def pairs(tmp_path) -> dict:
    """Two key pairs: the connected side's and the dev side's, and a passphrase file."""
    (tmp_path / "pp").write_text(PASSPHRASE + "\n")
    return {
        "connected": keys.keygen(tmp_path / "keys" / "connected", PASSPHRASE),
        "dev": keys.keygen(tmp_path / "keys" / "dev", PASSPHRASE),
        "passphrase": tmp_path / "pp",
    }


def trust(pairs, *trusted: str, sign: str = "") -> Trust:
    return Trust(
        keys=tuple(str(pairs[name].public) for name in trusted),
        sign_key=pairs[sign].private if sign else None,
        passphrase_file=pairs["passphrase"],
    )


def base_bundle(tmp_path: Path, sign=None, *, example: str | None = "PORT=8080\nDB_PASSWORD=x\n"):
    """A base bundle as export makes it, minus the image: .tgz, SBOM, contract, signed by ``sign``."""
    work = tmp_path / "connected"
    work.mkdir(parents=True, exist_ok=True)
    (work / APP["tgz"]).write_bytes(b"packed app")
    files = [(work / APP["tgz"], f"app/{APP['tgz']}")]
    extras = seal.Extras(
        [(sbom.write(BOM, work / "sbom.json"), seal.SBOM_MEMBER)],
        {"sbom": seal._sbom_field(BOM, IMAGE)},
    )
    if example is not None:
        (work / ".env.example").write_text(example)
        made = contract.from_example(work / ".env.example", "tms-api 1.0.0")
        extras.files.append((contract.write(made, work / "contract.env"), seal.CONTRACT_MEMBER))
        extras.fields["contract"] = seal._contract_field(made)
    dest = tmp_path / "media" / bundle.archive_name(APP, "base")
    manifest = extras.apply(Manifest(kind="base", app=dict(APP)))
    sha = bundle.create(
        dest,
        manifest,
        images=[],
        files=files + extras.files,
        password=PW,
        level=6,
        sign=seal.signer(sign),
    ).sha256  # the writer: its hash was taken as it wrote
    bundle.deliver(dest, sha, dest.parent)
    return dest


def opened(path: Path, kind: str, trusted, password: str = PW):
    """What flows.bundles.open_incoming does, without the flows' password sources."""
    result = bundle.open_verified(path, None, password, kind=kind)
    result.signature = seal.check(result.reader, str(path), trusted)
    return result


def members(path: Path) -> dict[str, bytes]:
    with ArchiveReader(path, PW) as reader:
        return {name: reader.read_bytes(name, limit=1 << 24) for name in reader.names()}


def remade(path: Path, replace: dict[str, bytes | None]) -> Path:
    """The same bundle re-encrypted with the same password, members replaced or dropped, and its
    hash file made anew: what someone who has the password and both channels could do."""
    kept = {**members(path), **replace}
    write_archive(path, {k: v for k, v in kept.items() if v is not None})
    bundle.deliver(path, hashlib.sha256(path.read_bytes()).hexdigest(), path.parent)
    return path


def test_signing_key_loads_once_from_the_settings_and_refuses_a_wrong_passphrase(pairs, tmp_path):
    assert seal.signing_key(None) is None and seal.signer(None) is None
    assert seal.signing_key(Trust()) is None
    key = seal.signing_key(trust(pairs, sign="connected"))
    assert key.fingerprint == pairs["connected"].fingerprint
    (tmp_path / "wrong").write_text("not the passphrase\n")
    wrong = Trust(sign_key=pairs["connected"].private, passphrase_file=tmp_path / "wrong")
    with pytest.raises(keys.KeyFileError, match="wrong passphrase for signing key"):
        seal.signing_key(wrong)


def test_trust_settings_from_the_configuration(tmp_path):
    cfg = json.loads(json.dumps(DEFAULTS["airgapkit"]))
    assert Trust.from_config(cfg, base_dir=tmp_path) == Trust(base_dir=tmp_path)
    cfg["trust"] = {"sign_key": "keys/dev.key", "keys": "keys/connected.pub"}
    made = Trust.from_config(cfg, passphrase_file="pp", base_dir=tmp_path)  # noqa: S106 - a path
    assert made.keys == ("keys/connected.pub",) and made.sign_key == Path("keys/dev.key")
    assert Trust.from_config(cfg, sign_key="other.key").sign_key == Path("other.key")


def test_a_signed_bundle_opens_under_trust_and_says_who_signed_it(pairs, tmp_path):
    key = seal.signing_key(trust(pairs, sign="connected"))
    path = base_bundle(tmp_path, key)
    assert signing.SIGNATURE_MEMBER in members(path)
    with opened(path, "base", seal.trusted_keys(trust(pairs, "connected"))) as result:
        assert result.signature.trusted
        assert result.signature.signer == pairs["connected"].fingerprint
    # The manifest does not list the signature: it cannot list what is made over it.
    assert all(f["path"] != signing.SIGNATURE_MEMBER for f in result.manifest.files)


def test_unsigned_another_key_and_a_tampered_manifest_are_refused_before_anything_is_used(
    pairs, tmp_path
):
    key = seal.signing_key(trust(pairs, sign="connected"))
    trusted_dev = seal.trusted_keys(trust(pairs, "dev"))
    trusted_connected = seal.trusted_keys(trust(pairs, "connected"))
    unsigned = base_bundle(tmp_path / "u")
    with pytest.raises(SignatureError, match="is unsigned"):
        opened(unsigned, "base", trusted_connected)
    signed = base_bundle(tmp_path / "s", key)
    with pytest.raises(SignatureError, match="not among the trusted keys"):
        opened(signed, "base", trusted_dev)
    body = json.loads(members(signed)[MANIFEST])
    body["app"]["version"] = "6.6.6"
    remade(signed, {MANIFEST: json.dumps(body, indent=2).encode()})
    with pytest.raises(SignatureError, match="made over another manifest"):
        opened(signed, "base", trusted_connected)
    stripped = remade(base_bundle(tmp_path / "x", key), {signing.SIGNATURE_MEMBER: None})
    with pytest.raises(SignatureError, match="is unsigned"):
        opened(stripped, "base", trusted_connected)


def test_a_wrong_password_is_told_apart_from_a_bad_signature(pairs, tmp_path):
    path = base_bundle(tmp_path, seal.signing_key(trust(pairs, sign="connected")))
    with pytest.raises(PasswordError, match="wrong password"):
        opened(path, "base", seal.trusted_keys(trust(pairs, "dev")), password=PW[::-1])


def test_the_release_carries_the_sbom_with_the_base_image_the_contract_and_the_chain(
    pairs, tmp_path
):
    path = base_bundle(tmp_path, seal.signing_key(trust(pairs, sign="connected")))
    work = tmp_path / "work"
    with opened(path, "base", seal.trusted_keys(trust(pairs, "connected"))) as base:
        carried = seal.carried(base, work)
        base_sha = base.signature.manifest_sha256
    extras = seal.release_extras(carried, work)
    assert extras.fields["base_bundle"] == {
        "archive": path.name,
        "manifest_sha256": base_sha,
        "signer": pairs["connected"].fingerprint,
    }
    assert extras.fields["sbom"]["packages"] == 2
    assert extras.fields["contract"]["keys"] == ["PORT", "DB_PASSWORD"]
    files = dict((arcname, path) for path, arcname in extras.files)
    bom = sbom.read(files[seal.SBOM_MEMBER])
    assert sbom.base_image(bom) == IMAGE and sbom.package_count(bom) == 2
    assert b"DB_PASSWORD=\n" in files[seal.CONTRACT_MEMBER].read_bytes()


def test_an_unsigned_base_without_sbom_or_contract_still_releases_with_warnings(tmp_path, capsys):
    path = base_bundle(tmp_path, example=None)
    with opened(path, "base", signing.TrustedKeys()) as base:
        base.manifest.sbom = None  # an older export
        carried = seal.carried(base, tmp_path / "work")
    extras = seal.release_extras(carried, tmp_path / "work")
    assert extras.files == [] and extras.fields["base_bundle"]["signer"] is None
    err = capsys.readouterr().err
    assert "is unsigned; accepted" in err and "carries no SBOM" in err


def test_inspect_lines(pairs, tmp_path):
    path = base_bundle(tmp_path, seal.signing_key(trust(pairs, sign="connected")))
    with opened(path, "base", seal.trusted_keys(trust(pairs, "connected"))) as base:
        manifest, verdict = base.manifest, base.signature
    console = Console(record=True, width=300)
    seal.print_trust(manifest, verdict, console)
    text = console.export_text()
    assert f"signature: signed by {pairs['connected'].fingerprint} (trusted: " in text
    assert (
        "SBOM: 2 npm packages (sbom/cyclonedx.json), base image node:20-alpine node@sha256:" in text
    )
    assert "env contract: 2 keys: PORT, DB_PASSWORD" in text


def test_read_sbom_checks_the_member_against_the_manifest(tmp_path):
    path = base_bundle(tmp_path)
    with opened(path, "base", None) as result:
        assert sbom.rows(seal.read_sbom(result)) == sbom.rows(BOM)
    # The same size, other bytes: the archive's own checks pass, the manifest's SHA-256 does not.
    member = members(path)[seal.SBOM_MEMBER]
    remade(path, {seal.SBOM_MEMBER: member.replace(b"express", b"exprexx")})
    with opened(path, "base", None) as result, pytest.raises(IntegrityError):
        seal.read_sbom(result)


def test_extract_checks_the_signature_and_every_member_against_the_manifest(pairs, tmp_path):
    key = seal.signing_key(trust(pairs, sign="connected"))
    trusted = seal.trusted_keys(trust(pairs, "connected"))
    path = base_bundle(tmp_path, key)
    sums = path.parent / f"{path.name}.sha256"
    vouch = seal.vouch(trusted, str(path))
    out = channels.extract(path, tmp_path / "out", PW, sums, vouch=vouch)
    assert sorted(p.name for p in out) == sorted(
        [APP["tgz"], "cyclonedx.json", ".env.example", MANIFEST, signing.SIGNATURE_MEMBER]
    )
    # A member changed with the manifest left alone: the archive hash (made anew) passes, the
    # member does not.
    remade(path, {f"app/{APP['tgz']}": b"something else"})
    with pytest.raises(IntegrityError):
        channels.extract(path, tmp_path / "out2", PW, sums, vouch=vouch)
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").rglob("*.tgz"))
    unsigned = base_bundle(tmp_path / "u")
    with pytest.raises(SignatureError, match="is unsigned"):
        channels.extract(
            unsigned,
            tmp_path / "out3",
            PW,
            unsigned.parent / f"{unsigned.name}.sha256",
            vouch=vouch,
        )
    assert not (tmp_path / "out3").exists()


def test_a_plain_archive_extracts_as_before_with_a_warning_under_trust(pairs, tmp_path, capsys):
    plain = write_archive(tmp_path / "media" / "notes.zip", {"notes.txt": b"hello"})
    bundle.deliver(plain, hashlib.sha256(plain.read_bytes()).hexdigest(), plain.parent)
    vouch = seal.vouch(seal.trusted_keys(trust(pairs, "connected")), str(plain))
    channels.extract(plain, tmp_path / "out", PW, plain.parent / "notes.zip.sha256", vouch=vouch)
    assert (tmp_path / "out" / "notes.txt").read_bytes() == b"hello"
    assert "holds no manifest.json" in capsys.readouterr().err


def test_deploy_uses_the_carried_contract_else_the_local_example(pairs, tmp_path, capsys):
    carrying = base_bundle(tmp_path / "a", example="PORT=8080\nNEW_FLAG=on\n")
    bare = base_bundle(tmp_path / "b", example=None)
    env = tmp_path / ".env.prod"
    env.write_text("PORT=8080\n")
    env.chmod(0o600)
    local = tmp_path / ".env.example"
    local.write_text("PORT=1\n")
    with opened(carrying, "base", None) as result:
        with pytest.raises(ContractError, match=r"lacks keys that the env contract carried by "):
            seal.checked_env(result, env, local)
    assert "checked against the env contract carried by" in capsys.readouterr().err
    with opened(bare, "base", None) as result:
        assert seal.checked_env(result, env, local) == {"PORT": "8080"}
    assert f"checked against the local {local} (" in capsys.readouterr().err
