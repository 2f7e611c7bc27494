"""keys: Ed25519 key pairs made, read back and refused in one line; the passphrase's sources."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from invoking import assert_one_line_error, inv
from terminal import converse

from airgapkit.errors import PasswordError
from airgapkit.trust import keys
from airgapkit.trust.keys import KeyFileError
from conftest import REPO_ROOT

PASSPHRASE = "amber kettle orbit 47 lantern fjord"  # noqa: S105 - a test key's passphrase


@pytest.fixture(autouse=True)
def no_env_passphrase(monkeypatch):
    monkeypatch.delenv(keys.PASSPHRASE_VAR, raising=False)


@pytest.fixture
def pair(tmp_path) -> keys.KeyPair:
    return keys.keygen(tmp_path / "keys" / "connected", PASSPHRASE)


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
    assert keys.load_public_key(pair.public).fingerprint == pair.fingerprint
    assert keys.load_signing_key(pair.private, PASSPHRASE).fingerprint == pair.fingerprint


def test_keygen_never_replaces_a_key_and_leaves_nothing_half_made(pair, tmp_path):
    before = pair.private.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        keys.keygen(pair.public, PASSPHRASE)  # NAME.pub given: NAME is the pair's name
    assert pair.private.read_bytes() == before
    lone = tmp_path / "keys" / "lone.pub"
    lone.write_text("someone else's key\n")
    with pytest.raises(KeyFileError, match="lone.pub already exists"):
        keys.keygen(tmp_path / "keys" / "lone", PASSPHRASE)
    assert not (tmp_path / "keys" / "lone.key").exists()
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "connected.key",
        "connected.pub",
        "lone.pub",
    ]


def test_keygen_refuses_a_weak_passphrase_without_printing_it(tmp_path):
    with pytest.raises(KeyFileError, match="passphrase is weak") as exc:
        keys.keygen(tmp_path / "k", "summer2024")
    assert "summer2024" not in str(exc.value)
    assert not list(tmp_path.iterdir())
    assert keys.keygen(tmp_path / "k", "summer2024", allow_weak=True).private.exists()


def test_wrong_passphrase_is_one_line_naming_the_key(pair):
    # A wrong passphrase mostly fails AES-CBC's padding, about once in 256 tries the DER after it:
    # three hundred tries meet both ways (the second more often than not) with the same message.
    for attempt in range(300):
        with pytest.raises(KeyFileError) as exc:
            keys.load_signing_key(pair.private, f"{PASSPHRASE} {attempt}")
        message = str(exc.value)
        assert message.startswith(f"wrong passphrase for signing key {pair.private} ")
        assert "\n" not in message and PASSPHRASE not in message


def test_a_loose_private_key_mode_is_warned_about(pair, capsys):
    pair.private.chmod(0o644)
    keys.load_signing_key(pair.private, PASSPHRASE)
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
        (lambda: keys.load_signing_key(rsa_private, PASSPHRASE), "holds an RSA private key"),
        (lambda: keys.load_signing_key(pair.public, PASSPHRASE), "is a public key"),
        (lambda: keys.load_signing_key(unencrypted, PASSPHRASE), "is not encrypted"),
        (lambda: keys.load_signing_key(openssh, PASSPHRASE), "holds a PEM OPENSSH PRIVATE"),
        (lambda: keys.load_signing_key(garbage, PASSPHRASE), "holds no PEM private key"),
        (lambda: keys.load_public_key(rsa_public), "holds an RSA public key"),
        (lambda: keys.load_public_key(pair.private), "holds a private key"),
        (lambda: keys.load_public_key(unencrypted), "holds a private key"),
        (lambda: keys.load_public_key(garbage), "holds no PEM public key"),
    ]
    for load, expected in cases:
        with pytest.raises(KeyFileError, match=expected) as exc:
            load()
        assert "\n" not in str(exc.value)
        assert "BEGIN" not in str(exc.value)  # no key material quoted back


def test_a_public_key_whose_fingerprint_line_was_edited_is_refused(pair):
    other = keys.fingerprint(ed25519.Ed25519PrivateKey.generate().public_key())
    text = pair.public.read_text().replace(pair.fingerprint, other)
    pair.public.write_text(text)
    with pytest.raises(KeyFileError, match="the file was altered"):
        keys.load_public_key(pair.public)


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
    loaded = keys.load_signing_key(key, PASSPHRASE)
    assert loaded.fingerprint.startswith("SHA256:")


# --- the passphrase -------------------------------------------------------------------------------


def test_passphrase_sources_in_order(tmp_path, monkeypatch):
    f = tmp_path / "pp"
    f.write_text(PASSPHRASE + "\n")
    assert keys.passphrase(passphrase_file=f, confirm=False) == PASSPHRASE
    monkeypatch.setenv(keys.PASSPHRASE_VAR, PASSPHRASE + "2")
    assert keys.passphrase(passphrase_file=None, confirm=True) == PASSPHRASE + "2"
    with pytest.raises(PasswordError, match="unset one") as exc:
        keys.passphrase(passphrase_file=f, confirm=False)
    assert PASSPHRASE not in str(exc.value)


def test_bad_passphrase_files(tmp_path):
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "two").write_text("first-line\nsecond\n")
    for name, expected in (("nope", "does not exist"), ("empty", "is empty"), ("two", "one line")):
        with pytest.raises(PasswordError, match=expected) as exc:
            keys.passphrase(passphrase_file=tmp_path / name, confirm=False)
        assert str(tmp_path / name) in str(exc.value) and "first-line" not in str(exc.value)


def test_no_terminal_and_nothing_given_says_how_to_give_one():
    code = "from airgapkit.trust import keys; keys.passphrase(passphrase_file=None, confirm=False)"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop(keys.PASSPHRASE_VAR, None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode != 0 and keys.PASSPHRASE_VAR in proc.stderr


def test_a_passphrase_typed_twice_on_a_terminal_makes_a_key_it_opens(tmp_path):
    code = (
        "from airgapkit.trust import keys\n"
        "p = keys.passphrase(passphrase_file=None, confirm=True)\n"
        "print(keys.keygen('typed', p).fingerprint)\n"
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
    loaded = keys.load_signing_key(tmp_path / "typed.key", PASSPHRASE)
    assert loaded.fingerprint in output
    status, output = converse(
        argv,
        tmp_path / "..",
        [(b"Signing key passphrase:", answer), (b"Same passphrase again:", b"other\n")],
    )
    assert status != 0 and "the two passphrases differ" in output


def test_inv_keygen_into_a_folder_it_cannot_write_is_one_line(immutable):
    proc = inv(
        "keygen", "--out", str(immutable / "team"), cwd=immutable.parent,
        env={keys.PASSPHRASE_VAR: PASSPHRASE},
    )  # fmt: skip
    assert_one_line_error(
        proc, rf"cannot write team\.key in {immutable} \(Operation not permitted\)"
    )
    assert list(immutable.iterdir()) == []
