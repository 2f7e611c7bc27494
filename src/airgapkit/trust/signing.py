"""Signed bundles: a detached signature over ``manifest.json``, checked against trusted keys.

What is signed: the exact bytes of a bundle's ``manifest.json``, which lists the size and SHA-256 of
every other member. The signature document (``manifest.json.sig``, JSON: the signer's fingerprint,
the algorithm, the SHA-256 of the manifest it covers and the signature) travels inside the archive
beside the manifest. So the signature vouches for every member through the manifest, and it never
depends on the archive's password: the password only encrypts, and a bundle re-encrypted with
another password keeps a valid signature. The two are told apart by order and by error: a wrong
password fails while ``manifest.json`` is decrypted (``PasswordError``, "wrong password for ...")
before the signature is looked at; a bad signature is a ``SignatureError``, raised only once the
manifest was read with the right password. The keys are ``keys.py``'s.

Trust: a list of public key files (``trust.keys``), each entry a path or ``{file: PATH, revoked:
REASON}``. Once any key is listed, an unsigned bundle, one signed by an unlisted or revoked key, and
one whose manifest does not match its signature are refused. With no key listed, an unsigned bundle
is accepted with a warning, and a signed one is accepted with a warning that its signer was not
checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from .. import __version__
from ..crossing.manifest import SIGNATURE
from ..errors import AirgapError
from .keys import KeyFileError, PublicKey, SigningKey, load_public_key

ALGORITHM = "ed25519"
SIGNATURE_MEMBER = SIGNATURE  # inside the archive, beside manifest.json
SIGNATURE_FORMAT = "airgapkit-signature"
SIGNATURE_FORMAT_VERSION = 1
SIGNATURE_BYTES = 64  # every Ed25519 signature is 64 bytes
TRUST_SETTING = "trust.keys"


class SignatureError(AirgapError):
    """A bundle is refused by its signature: unsigned under trust, bad, or by an untrusted key."""


# --- signatures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """A parsed signature document."""

    signer: str
    algorithm: str
    manifest_sha256: str
    value: bytes = field(repr=False)


def sign(manifest: bytes, key: SigningKey) -> bytes:
    """The signature document over ``manifest``'s exact bytes (to store as SIGNATURE_MEMBER)."""
    body = {
        "format": SIGNATURE_FORMAT,
        "format_version": SIGNATURE_FORMAT_VERSION,
        "algorithm": ALGORITHM,
        "signer": key.fingerprint,
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(key.key.sign(manifest)).decode(),
    }
    return json.dumps(body, indent=2).encode() + b"\n"


def read_signature(document: bytes, source: str) -> Signature:
    """Parse a signature document, refusing anything malformed in one line naming ``source``."""
    where = f"{source}: the signature {SIGNATURE_MEMBER}"
    try:
        body = json.loads(document)
    except ValueError as exc:
        raise SignatureError(
            f"{where} is not complete JSON (truncated or damaged); make the bundle again"
        ) from exc
    if not isinstance(body, dict) or body.get("format") != SIGNATURE_FORMAT:
        raise SignatureError(f"{where} is not an airgapkit signature; make the bundle again")
    version = body.get("format_version")
    if isinstance(version, int) and version > SIGNATURE_FORMAT_VERSION:
        raise SignatureError(
            f"{where} has format version {version}; this airgapkit {__version__} reads "
            f"version {SIGNATURE_FORMAT_VERSION}: carry the newer airgapkit across (its kit, made "
            "by inv kit where it is installed), install it here, then run this again"
        )
    if version != SIGNATURE_FORMAT_VERSION:
        raise SignatureError(
            f"{where} has format version {version!r}; this airgapkit reads "
            f"version {SIGNATURE_FORMAT_VERSION}"
        )
    if body.get("algorithm") != ALGORITHM:
        raise SignatureError(
            f"{where} uses algorithm {body.get('algorithm')!r}; airgapkit verifies {ALGORITHM}"
        )
    fields = ("signer", "manifest_sha256", "signature")
    absent = [name for name in fields if not isinstance(body.get(name), str) or not body[name]]
    if absent:
        raise SignatureError(f"{where} lacks {', '.join(absent)}; make the bundle again")
    try:
        value = base64.b64decode(body["signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(
            f"{where} is damaged (its signature is not base64); make the bundle again"
        ) from exc
    if len(value) != SIGNATURE_BYTES:
        state = "truncated" if len(value) < SIGNATURE_BYTES else "too long"
        raise SignatureError(
            f"{where} is {state} ({len(value)} of {SIGNATURE_BYTES} bytes); make the bundle again"
        )
    return Signature(body["signer"], body["algorithm"], body["manifest_sha256"], value)


# --- trusted keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    public: PublicKey
    revoked: str | None = None  # the reason, when the key is marked revoked


@dataclass(frozen=True)
class TrustedKeys:
    """The keys ``trust.keys`` lists. Empty: no trust configured (unsigned bundles pass, warned)."""

    keys: tuple[TrustedKey, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.keys)

    def find(self, fp: str) -> TrustedKey | None:
        """The entry for a fingerprint; a key listed twice counts as revoked if either says so."""
        entries = [k for k in self.keys if k.public.fingerprint == fp]
        revoked = [k for k in entries if k.revoked]
        return (revoked or entries or [None])[0]

    def describe(self) -> str:
        """The keys that are trusted (a revoked one is not, whatever else lists it)."""
        revoked = {k.public.fingerprint for k in self.keys if k.revoked}
        trusted = [k for k in self.keys if k.public.fingerprint not in revoked]
        return ", ".join(str(k.public.source) for k in trusted) or "none: every key is revoked"


def load_trusted(entries: Iterable | None, base_dir: Path) -> TrustedKeys:
    """The trusted keys from ``trust.keys`` entries: a path, or ``{file: PATH, revoked: REASON}``.

    Relative paths are taken from ``base_dir``. Any entry that cannot be read refuses them all:
    a trust list that silently lost a key would refuse good bundles, one that lost a revocation
    would accept bad ones.
    """
    if entries is None or isinstance(entries, (str, os.PathLike)):
        entries = [entries] if entries else []
    keys = []
    for entry in entries:
        file, revoked = _entry(entry)
        path = Path(base_dir) / Path(file).expanduser()
        keys.append(TrustedKey(load_public_key(path, f"trusted key ({TRUST_SETTING})"), revoked))
    return TrustedKeys(tuple(keys))


def _entry(entry) -> tuple[str, str | None]:
    if isinstance(entry, (str, os.PathLike)):
        return str(entry), None
    if not isinstance(entry, Mapping):
        try:
            entry = dict(entry)  # Invoke's config proxies read like mappings
        except (TypeError, ValueError) as exc:
            raise KeyFileError(
                f"{TRUST_SETTING} entry {entry!r} is neither a path nor {{file: PATH, revoked: "
                "REASON}"
            ) from exc
    file = entry.get("file")
    if not file:
        raise KeyFileError(
            f"{TRUST_SETTING} entry {dict(entry)!r} names no file; write {{file: PATH}}"
        )
    for key in entry:
        if key not in ENTRY_KEYS:  # a misspelt "revoked" must not leave a key trusted
            raise KeyFileError(
                f"{TRUST_SETTING} entry for {file} has unknown key {key!r}; an entry is a path "
                "or {file: PATH, revoked: REASON}"
            )
    return str(file), _revoked(entry, file)


ENTRY_KEYS = ("file", "revoked")


def _revoked(entry, file) -> str | None:
    """The reason a key is revoked: any ``revoked`` given (empty or null too) but ``false``."""
    if "revoked" not in entry or entry["revoked"] is False:
        return None
    reason = entry["revoked"]
    if reason is None or reason is True or reason == "":
        return "marked revoked"
    if not isinstance(reason, (str, int, float)):
        raise KeyFileError(
            f"{TRUST_SETTING} entry for {file}: revoked is {reason!r}; write revoked: REASON "
            "(or revoked: false)"
        )
    return str(reason)


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: who signed (if anyone), whether that key is trusted here."""

    signer: str | None = None
    key_source: Path | None = None
    warning: str | None = None
    manifest_sha256: str = ""  # of the manifest checked: what a release records of its base

    @property
    def signed(self) -> bool:
        return self.signer is not None

    @property
    def trusted(self) -> bool:
        return self.key_source is not None


def verify(
    manifest: bytes, signature: bytes | None, trusted: TrustedKeys, *, source: str
) -> Verdict:
    """Check a bundle's manifest against its signature document and the trusted keys.

    ``signature`` is the SIGNATURE_MEMBER's bytes, or None when the bundle carries none; ``source``
    names the bundle in messages. Raises ``SignatureError`` (one line) for a bundle to refuse;
    returns a ``Verdict`` whose ``warning``, when set, the caller prints.
    """
    manifest_sha256 = hashlib.sha256(manifest).hexdigest()
    if signature is None:
        if trusted.configured:
            raise SignatureError(
                f"{source} is unsigned, and {TRUST_SETTING} trusts only signed bundles ("
                f"{trusted.describe()}); have it made again with a signing key"
            )
        return Verdict(
            warning=f"{source} is unsigned; accepted because no trusted keys are configured "
            f"({TRUST_SETTING})",
            manifest_sha256=manifest_sha256,
        )
    parsed = read_signature(signature, source)
    if manifest_sha256 != parsed.manifest_sha256:
        raise SignatureError(
            f"{source}: the signature {SIGNATURE_MEMBER} was made over another manifest than "
            "this bundle's manifest.json; the bundle was altered or mixed with another: get it "
            "again from its maker"
        )
    if not trusted.configured:
        return Verdict(
            signer=parsed.signer,
            warning=f"{source} is signed by {parsed.signer}, not checked: no trusted keys are "
            f"configured ({TRUST_SETTING})",
            manifest_sha256=manifest_sha256,
        )
    entry = trusted.find(parsed.signer)
    if entry is None:
        raise SignatureError(
            f"{source} is signed by {parsed.signer}, which is not among the trusted keys "
            f"({trusted.describe()}); get it signed by one of them, or add the signer's .pub to "
            f"{TRUST_SETTING}"
        )
    if entry.revoked:
        raise SignatureError(
            f"{source} is signed by {parsed.signer}, a revoked key ({entry.public.source}: "
            f"{entry.revoked}); ask for the bundle again, signed with a current key"
        )
    try:
        entry.public.key.verify(parsed.value, manifest)
    except InvalidSignature as exc:
        raise SignatureError(
            f"{source}: the signature {SIGNATURE_MEMBER} does not match manifest.json under key "
            f"{parsed.signer}; the manifest or the signature was altered: get the bundle again "
            "from its maker"
        ) from exc
    return Verdict(
        signer=parsed.signer, key_source=entry.public.source, manifest_sha256=manifest_sha256
    )
