"""signing: key pairs, signatures over the manifest's bytes, trusted and revoked keys, bad input."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from terminal import converse

from airgapkit.crossing import archive
from airgapkit.errors import PasswordError
from airgapkit.trust import signing
from airgapkit.trust.signing import KeyFileError, SignatureError
from conftest import REPO_ROOT

PASSPHRASE = "amber kettle orbit 47 lantern fjord"  # noqa: S105 - a test key's passphrase
ARCHIVE_PASSWORD = "Zt8#pQ2!vLm4@xRe7$Nc"  # noqa: S105 - a test archive's password
MANIFEST = json.dumps(
    {"kind": "base", "files": [{"path": "app/x.tgz", "sha256": "ab" * 32}]}, indent=2
).encode()


@pytest.fixture(autouse=True)
def no_env_passphrase(monkeypatch):
    monkeypatch.delenv(signing.PASSPHRASE_VAR, raising=False)


@pytest.fixture
def pair(tmp_path) -> signing.KeyPair:
    return signing.keygen(tmp_path / "keys" / "connected", PASSPHRASE)


@pytest.fixture
def signer(pair) -> signing.SigningKey:
    return signing.load_signing_key(pair.private, PASSPHRASE)


def trusting(*entries, base=Path("/")) -> signing.TrustedKeys:
    return signing.load_trusted(list(entries), base)


# --- keys -----------------------------------------------------------------------------------------


def test_keygen_writes_an_encrypted_private_key_0600_and_a_public_key_with_its_fingerprint(pair):
    assert pair.private.name == "connected.key" and pair.public.name == "connected.pub"
    assert stat.S_IMODE(pair.private.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.public.stat().st_mode) == 0o644
    assert pair.private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSPHRASE.encode() not in pair.private.read_bytes()
    public_text = pair.public.read_text()
    assert f"# fingerprint {pair.fingerprint}\n" in public_text
    assert pair.fingerprint.startswith("SHA256:") and len(pair.fingerprint) == 7 + 43
    assert signing.load_public_key(pair.public).fingerprint == pair.fingerprint
    assert signing.load_signing_key(pair.private, PASSPHRASE).fingerprint == pair.fingerprint


def test_keygen_never_replaces_a_key_and_leaves_nothing_half_made(pair, tmp_path):
    before = pair.private.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        signing.keygen(pair.public, PASSPHRASE)  # NAME.pub given: NAME is the pair's name
    assert pair.private.read_bytes() == before
    lone = tmp_path / "keys" / "lone.pub"
    lone.write_text("someone else's key\n")
    with pytest.raises(KeyFileError, match="lone.pub already exists"):
        signing.keygen(tmp_path / "keys" / "lone", PASSPHRASE)
    assert not (tmp_path / "keys" / "lone.key").exists()
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "connected.key",
        "connected.pub",
        "lone.pub",
    ]


def test_keygen_refuses_a_weak_passphrase_without_printing_it(tmp_path):
    with pytest.raises(KeyFileError, match="passphrase is weak") as exc:
        signing.keygen(tmp_path / "k", "summer2024")
    assert "summer2024" not in str(exc.value)
    assert not list(tmp_path.iterdir())
    assert signing.keygen(tmp_path / "k", "summer2024", allow_weak=True).private.exists()


def test_wrong_passphrase_is_one_line_naming_the_key(pair):
    with pytest.raises(KeyFileError) as exc:
        signing.load_signing_key(pair.private, PASSPHRASE + "x")
    message = str(exc.value)
    assert message.startswith(f"wrong passphrase for signing key {pair.private};")
    assert "\n" not in message and PASSPHRASE not in message


def test_a_loose_private_key_mode_is_warned_about(pair, capsys):
    pair.private.chmod(0o644)
    signing.load_signing_key(pair.private, PASSPHRASE)
    assert f"chmod 600 {pair.private}" in capsys.readouterr().err


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_key_files_of_another_type_are_named(tmp_path, pair):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = serialization.BestAvailableEncryption(PASSPHRASE.encode())
    rsa_private = _write_pem(
        tmp_path / "rsa.key",
        rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc),
    )
    rsa_public = _write_pem(
        tmp_path / "rsa.pub",
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    plain = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    unencrypted = _write_pem(tmp_path / "plain.key", plain)
    openssh = _write_pem(
        tmp_path / "id_ed25519",
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
    )
    garbage = _write_pem(tmp_path / "notes.txt", b"not a key at all\n")
    cases = [
        (lambda: signing.load_signing_key(rsa_private, PASSPHRASE), "holds an RSA private key"),
        (lambda: signing.load_signing_key(pair.public, PASSPHRASE), "is a public key"),
        (lambda: signing.load_signing_key(unencrypted, PASSPHRASE), "is not encrypted"),
        (lambda: signing.load_signing_key(openssh, PASSPHRASE), "holds a PEM OPENSSH PRIVATE"),
        (lambda: signing.load_signing_key(garbage, PASSPHRASE), "holds no PEM private key"),
        (lambda: signing.load_public_key(rsa_public), "holds an RSA public key"),
        (lambda: signing.load_public_key(pair.private), "holds a private key"),
        (lambda: signing.load_public_key(unencrypted), "holds a private key"),
        (lambda: signing.load_public_key(garbage), "holds no PEM public key"),
    ]
    for load, expected in cases:
        with pytest.raises(KeyFileError, match=expected) as exc:
            load()
        assert "\n" not in str(exc.value)
        assert "BEGIN" not in str(exc.value)  # no key material quoted back


def test_a_public_key_whose_fingerprint_line_was_edited_is_refused(pair):
    other = signing.fingerprint(ed25519.Ed25519PrivateKey.generate().public_key())
    text = pair.public.read_text().replace(pair.fingerprint, other)
    pair.public.write_text(text)
    with pytest.raises(KeyFileError, match="the file was altered"):
        signing.load_public_key(pair.public)


def test_a_key_made_by_openssl_with_more_iterations_signs_too(tmp_path, monkeypatch):
    """Teams that want a slower key derivation than cryptography's can make the key themselves."""
    key = tmp_path / "hardened.key"
    monkeypatch.setenv("TEST_KEY_PASS", PASSPHRASE)
    made = subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes-256-cbc",
            "-pass",
            "env:TEST_KEY_PASS",
        ],
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "plain.pem").write_bytes(made)
    subprocess.run(
        [
            "openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", "600000",
            "-in", str(tmp_path / "plain.pem"), "-passin", "env:TEST_KEY_PASS",
            "-out", str(key), "-passout", "env:TEST_KEY_PASS",
        ],
        check=True,
    )  # fmt: skip
    loaded = signing.load_signing_key(key, PASSPHRASE)
    assert loaded.fingerprint.startswith("SHA256:")


# --- the passphrase -------------------------------------------------------------------------------


def test_passphrase_sources_in_order(tmp_path, monkeypatch):
    f = tmp_path / "pp"
    f.write_text(PASSPHRASE + "\n")
    assert signing.passphrase(passphrase_file=f, confirm=False) == PASSPHRASE
    monkeypatch.setenv(signing.PASSPHRASE_VAR, PASSPHRASE + "2")
    assert signing.passphrase(passphrase_file=None, confirm=True) == PASSPHRASE + "2"
    with pytest.raises(PasswordError, match="unset one") as exc:
        signing.passphrase(passphrase_file=f, confirm=False)
    assert PASSPHRASE not in str(exc.value)


def test_bad_passphrase_files(tmp_path):
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "two").write_text("first-line\nsecond\n")
    for name, expected in (("nope", "does not exist"), ("empty", "is empty"), ("two", "one line")):
        with pytest.raises(PasswordError, match=expected) as exc:
            signing.passphrase(passphrase_file=tmp_path / name, confirm=False)
        assert str(tmp_path / name) in str(exc.value) and "first-line" not in str(exc.value)


def test_no_terminal_and_nothing_given_says_how_to_give_one():
    code = "from airgapkit.trust import signing; signing.passphrase(passphrase_file=None, confirm=False)"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop(signing.PASSPHRASE_VAR, None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode != 0 and signing.PASSPHRASE_VAR in proc.stderr


def test_a_passphrase_typed_twice_on_a_terminal_makes_a_key_it_opens(tmp_path):
    code = (
        "from airgapkit.trust import signing\n"
        "p = signing.passphrase(passphrase_file=None, confirm=True)\n"
        "print(signing.keygen('typed', p).fingerprint)\n"
    )
    env_path = str(REPO_ROOT / "src")
    argv = [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r})\n{code}"]
    answer = PASSPHRASE.encode() + b"\n"
    status, output = converse(
        argv,
        tmp_path,
        [(b"Signing key passphrase:", answer), (b"Same passphrase again:", answer)],
    )
    assert status == 0, output
    assert PASSPHRASE not in output  # getpass does not echo it
    loaded = signing.load_signing_key(tmp_path / "typed.key", PASSPHRASE)
    assert loaded.fingerprint in output
    status, output = converse(
        argv,
        tmp_path / "..",
        [(b"Signing key passphrase:", answer), (b"Same passphrase again:", b"other\n")],
    )
    assert status != 0 and "the two passphrases differ" in output


# --- signing and verifying ------------------------------------------------------------------------


def test_sign_and_verify_round_trip(pair, signer):
    document = signing.sign(MANIFEST, signer)
    body = json.loads(document)
    assert body["algorithm"] == "ed25519" and body["signer"] == pair.fingerprint
    verdict = signing.verify(MANIFEST, document, trusting(pair.public), source="b.zip")
    assert verdict.signed and verdict.trusted and verdict.warning is None
    assert verdict.signer == pair.fingerprint and verdict.key_source == pair.public


def test_a_signature_made_over_another_manifest_is_refused(pair, signer):
    document = signing.sign(MANIFEST, signer)
    other = MANIFEST.replace(b"base", b"release")
    with pytest.raises(SignatureError, match="made over another manifest") as exc:
        signing.verify(other, document, trusting(pair.public), source="b.zip")
    assert str(exc.value).startswith("b.zip: the signature manifest.json.sig")


def test_a_manifest_edited_with_its_hash_updated_in_the_signature_is_refused(pair, signer):
    other = MANIFEST.replace(b"ab", b"cd", 1)
    body = json.loads(signing.sign(MANIFEST, signer))
    body["manifest_sha256"] = __import__("hashlib").sha256(other).hexdigest()
    with pytest.raises(SignatureError, match="does not match manifest.json"):
        signing.verify(other, json.dumps(body).encode(), trusting(pair.public), source="b.zip")


def test_truncated_and_damaged_signatures_are_refused(pair, signer):
    document = signing.sign(MANIFEST, signer)
    body = json.loads(document)
    short = {
        **body,
        "signature": base64.b64encode(base64.b64decode(body["signature"])[:40]).decode(),
    }
    flipped = bytearray(base64.b64decode(body["signature"]))
    flipped[0] ^= 1
    cases = [
        (document[: len(document) // 2], "not complete JSON"),
        (json.dumps(short).encode(), r"is truncated \(40 of 64 bytes\)"),
        (json.dumps({**body, "signature": "!!"}).encode(), "not base64"),
        (json.dumps({**body, "algorithm": "rsa"}).encode(), "uses algorithm 'rsa'"),
        (json.dumps({**body, "signer": ""}).encode(), "lacks signer"),
        (b'{"format": "something else"}', "not an airgapkit signature"),
        (
            json.dumps({**body, "signature": base64.b64encode(bytes(flipped)).decode()}).encode(),
            "does not match manifest.json",
        ),
    ]
    for bad, expected in cases:
        with pytest.raises(SignatureError, match=expected) as exc:
            signing.verify(MANIFEST, bad, trusting(pair.public), source="b.zip")
        assert "\n" not in str(exc.value)


def test_unsigned_is_refused_under_trust_and_accepted_with_a_warning_without(pair):
    with pytest.raises(SignatureError, match="b.zip is unsigned") as exc:
        signing.verify(MANIFEST, None, trusting(pair.public), source="b.zip")
    assert str(pair.public) in str(exc.value)
    verdict = signing.verify(MANIFEST, None, trusting(), source="b.zip")
    assert not verdict.signed and "accepted because no trusted keys" in verdict.warning


def test_signed_without_trust_is_accepted_with_its_signer_named(signer):
    verdict = signing.verify(MANIFEST, signing.sign(MANIFEST, signer), trusting(), source="b.zip")
    assert verdict.signer == signer.fingerprint and not verdict.trusted
    assert "not checked" in verdict.warning


def test_another_key_and_a_revoked_key_are_refused(tmp_path, pair, signer):
    other = signing.keygen(tmp_path / "other", PASSPHRASE)
    document = signing.sign(MANIFEST, signer)
    with pytest.raises(SignatureError, match="not among the trusted keys") as exc:
        signing.verify(MANIFEST, document, trusting(other.public), source="b.zip")
    assert pair.fingerprint in str(exc.value)
    revoked = trusting(
        str(other.public), {"file": str(pair.public), "revoked": "laptop lost 2026-03-02"}
    )
    with pytest.raises(SignatureError, match="a revoked key .*laptop lost 2026-03-02"):
        signing.verify(MANIFEST, document, revoked, source="b.zip")
    # Listed twice, once revoked: revoked wins.
    twice = trusting(str(pair.public), {"file": str(pair.public), "revoked": True})
    with pytest.raises(SignatureError, match="marked revoked"):
        signing.verify(MANIFEST, document, twice, source="b.zip")
    # The other key still verifies its own bundles under the same list.
    other_doc = signing.sign(MANIFEST, signing.load_signing_key(other.private, PASSPHRASE))
    assert signing.verify(MANIFEST, other_doc, revoked, source="b.zip").trusted


def test_trusted_key_files_empty_unreadable_or_missing_refuse_the_whole_list(tmp_path, pair):
    (tmp_path / "empty.pub").write_text("")
    (tmp_path / "folder.pub").mkdir()
    cases = [
        ("empty.pub", "is empty"),
        ("folder.pub", "is a folder"),
        ("missing.pub", "does not exist"),
    ]
    for name, expected in cases:
        with pytest.raises(KeyFileError, match=expected) as exc:
            signing.load_trusted([str(pair.public), name], tmp_path)
        assert str(exc.value).startswith(f"trusted key (trust.keys) {tmp_path / name} ")
    with pytest.raises(KeyFileError, match="names no file"):
        signing.load_trusted([{"revoked": True}], tmp_path)


def test_trust_entries_are_relative_to_the_base_folder(pair):
    keys = signing.load_trusted(f"keys/{pair.public.name}", pair.public.parent.parent)
    assert keys.configured and keys.keys[0].public.fingerprint == pair.fingerprint
    assert not signing.load_trusted(None, Path(".")).configured
    assert not signing.load_trusted([], Path(".")).configured


# --- inside an archive: the password and the signature are told apart ----------------------------


def _bundle(dest: Path, manifest: bytes, signature: bytes, password: str) -> Path:
    with archive.ArchiveWriter(dest, password, 6, progress=False) as out:
        out.add_bytes("app/x.tgz", b"payload")
        out.add_bytes("manifest.json", manifest)
        out.add_bytes(signing.SIGNATURE_MEMBER, signature)
    return dest


def _verify_archive(path: Path, password: str, trusted) -> signing.Verdict:
    """What opening a bundle does: decrypt the manifest first, then look at the signature."""
    with archive.ArchiveReader(path, password) as reader:
        manifest = reader.read_bytes("manifest.json")
        signature = reader.read_bytes(signing.SIGNATURE_MEMBER)
    return signing.verify(manifest, signature, trusted, source=str(path))


def test_signature_survives_a_new_password_and_a_wrong_password_is_no_signature_error(
    tmp_path, pair, signer
):
    document = signing.sign(MANIFEST, signer)
    trusted = trusting(pair.public)
    first = _bundle(tmp_path / "first.zip", MANIFEST, document, ARCHIVE_PASSWORD)
    again = _bundle(tmp_path / "again.zip", MANIFEST, document, ARCHIVE_PASSWORD[::-1])
    assert _verify_archive(first, ARCHIVE_PASSWORD, trusted).trusted
    assert _verify_archive(again, ARCHIVE_PASSWORD[::-1], trusted).trusted
    with pytest.raises(PasswordError, match="wrong password for"):
        _verify_archive(first, ARCHIVE_PASSWORD[::-1], trusted)


def test_a_tampered_manifest_reencrypted_with_the_right_password_is_refused(tmp_path, pair, signer):
    document = signing.sign(MANIFEST, signer)
    tampered = MANIFEST.replace(b"ab" * 32, b"cd" * 32)  # the member's sum "recomputed"
    path = _bundle(tmp_path / "tampered.zip", tampered, document, ARCHIVE_PASSWORD)
    with pytest.raises(SignatureError, match="made over another manifest"):
        _verify_archive(path, ARCHIVE_PASSWORD, trusting(pair.public))
