"""signing: signatures over the manifest's bytes, trusted and revoked keys, every bad input."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from airgapkit.crossing import archive
from airgapkit.errors import PasswordError
from airgapkit.trust import keys, signing
from airgapkit.trust.keys import KeyFileError
from airgapkit.trust.signing import SignatureError

PASSPHRASE = "amber kettle orbit 47 lantern fjord"  # noqa: S105 - a test key's passphrase
ARCHIVE_PASSWORD = "Zt8#pQ2!vLm4@xRe7$Nc"  # noqa: S105 - a test archive's password
MANIFEST = json.dumps(
    {"kind": "base", "files": [{"path": "app/x.tgz", "sha256": "ab" * 32}]}, indent=2
).encode()


@pytest.fixture
def pair(tmp_path) -> keys.KeyPair:
    return keys.keygen(tmp_path / "keys" / "connected", PASSPHRASE)


@pytest.fixture
def signer(pair) -> keys.SigningKey:
    return keys.load_signing_key(pair.private, PASSPHRASE)


def trusting(*entries, base=Path("/")) -> signing.TrustedKeys:
    return signing.load_trusted(list(entries), base)


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
    body["manifest_sha256"] = hashlib.sha256(other).hexdigest()
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
    other = keys.keygen(tmp_path / "other", PASSPHRASE)
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
    other_doc = signing.sign(MANIFEST, keys.load_signing_key(other.private, PASSPHRASE))
    assert signing.verify(MANIFEST, other_doc, revoked, source="b.zip").trusted


def test_a_revoked_key_is_never_named_among_the_trusted_ones(tmp_path, pair, signer):
    other = keys.keygen(tmp_path / "other", PASSPHRASE)
    lost = {"file": str(pair.public), "revoked": "laptop lost"}
    trusted = trusting(str(other.public), lost)
    document = signing.sign(MANIFEST, keys.load_signing_key(
        keys.keygen(tmp_path / "third", PASSPHRASE).private, PASSPHRASE))  # fmt: skip
    for signature in (None, document):
        with pytest.raises(SignatureError) as exc:
            signing.verify(MANIFEST, signature, trusted, source="b.zip")
        assert str(other.public) in str(exc.value) and str(pair.public) not in str(exc.value)


@pytest.mark.parametrize("revoked", ["", None, True, "stolen"])
def test_a_revoked_entry_is_revoked_whatever_its_reason_says(pair, signer, revoked):
    trusted = trusting({"file": str(pair.public), "revoked": revoked})
    with pytest.raises(SignatureError, match="a revoked key"):
        signing.verify(MANIFEST, signing.sign(MANIFEST, signer), trusted, source="b.zip")


def test_revoked_false_is_not_revoked_and_an_unknown_key_is_refused(pair, signer):
    trusted = trusting({"file": str(pair.public), "revoked": False})
    assert signing.verify(MANIFEST, signing.sign(MANIFEST, signer), trusted, source="b.zip").trusted
    with pytest.raises(KeyFileError, match="unknown key 'revokd'.*{file: PATH, revoked: REASON}"):
        trusting({"file": str(pair.public), "revokd": "stolen"})
    with pytest.raises(KeyFileError, match="revoked: REASON"):
        trusting({"file": str(pair.public), "revoked": ["a list"]})


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


def test_a_signature_of_a_newer_format_says_to_carry_the_newer_airgapkit(signer):
    document = json.loads(signing.sign(MANIFEST, signer))
    document["format_version"] = signing.SIGNATURE_FORMAT_VERSION + 1
    with pytest.raises(
        SignatureError, match="format version 2; this airgapkit .* reads version 1"
    ) as exc:
        signing.read_signature(json.dumps(document).encode(), "b.zip")
    assert "carry the newer airgapkit across" in str(exc.value)
