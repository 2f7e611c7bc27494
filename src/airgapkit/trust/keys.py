"""Signing keys: Ed25519 key pairs made by ``inv keygen``, read back, and their passphrase.

``keygen`` writes ``NAME.key`` (the private key, PKCS#8 PEM encrypted with a passphrase, mode
0600) and ``NAME.pub`` (the public key, PEM with its fingerprint in a comment line). A fingerprint is
``SHA256:`` and the unpadded base64 of the SHA-256 of the raw 32-byte public key; it is what people
compare by phone and what a signature names. The passphrase comes from ``AIRGAPKIT_KEY_PASSPHRASE``,
a file, or a prompt, never a flag's value. The ``cryptography`` package encrypts PKCS#8 with PBES2
(PBKDF2-HMAC-SHA256 at a fixed 2,048 iterations, AES-256-CBC), about a thousand guesses a second on
one core here: the passphrase, not the iteration count, protects a stolen key file, so keygen holds
it to the archive password rule (``crossing.passwords``: zxcvbn's guess count against a rig of
eight GPUs; a key file's KDF is a few times slower than WinZip AES's, so the rule errs on the safe
side). A key file of any other kind (RSA, a public key where the private one is wanted, an
unencrypted key) is refused in one line naming it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from .. import display, platform
from ..crossing import passwords
from ..errors import AirgapError
from ..fsutil import AtomicFile

PASSPHRASE_VAR = "AIRGAPKIT_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a value
YEAR = 31_557_600  # seconds
PRIVATE_SUFFIX, PUBLIC_SUFFIX = ".key", ".pub"
KEY_FILE_LIMIT = 64 * 1024  # a PEM key is under 1 KiB; anything this big is something else
KEY_PASSPHRASE = passwords.Secret(
    "passphrase", "Signing key passphrase", PASSPHRASE_VAR, "--key-passphrase-file FILE"
)

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_STATED_FINGERPRINT = re.compile(rb"^#\s*fingerprint\s+(SHA256:\S+)\s*$", re.MULTILINE)
_KEY_KINDS = (
    (rsa.RSAPrivateKey, "an RSA"),
    (rsa.RSAPublicKey, "an RSA"),
    (ec.EllipticCurvePrivateKey, "an elliptic-curve (EC)"),
    (ec.EllipticCurvePublicKey, "an elliptic-curve (EC)"),
    (dsa.DSAPrivateKey, "a DSA"),
    (dsa.DSAPublicKey, "a DSA"),
    (ed448.Ed448PrivateKey, "an Ed448"),
    (ed448.Ed448PublicKey, "an Ed448"),
    (x25519.X25519PrivateKey, "an X25519"),
    (x25519.X25519PublicKey, "an X25519"),
    (x448.X448PrivateKey, "an X448"),
    (x448.X448PublicKey, "an X448"),
)


class KeyFileError(AirgapError):
    """A key file is missing, unreadable, of another type, or its passphrase is wrong."""


# --- keys -----------------------------------------------------------------------------------------


def fingerprint(public_key: ed25519.Ed25519PublicKey) -> str:
    """``SHA256:`` and the unpadded base64 of the SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class PublicKey:
    key: ed25519.Ed25519PublicKey = field(repr=False)
    source: Path
    fingerprint: str


@dataclass(frozen=True)
class SigningKey:
    key: ed25519.Ed25519PrivateKey = field(repr=False)
    source: Path
    fingerprint: str


@dataclass(frozen=True)
class KeyPair:
    """Where keygen wrote the two halves."""

    private: Path
    public: Path
    fingerprint: str


def key_paths(out: Path) -> tuple[Path, Path]:
    """``NAME`` -> (``NAME.key``, ``NAME.pub``); a ``.key`` or ``.pub`` given is taken as NAME's."""
    out = Path(out)
    if out.suffix in (PRIVATE_SUFFIX, PUBLIC_SUFFIX):
        out = out.with_suffix("")
    return out.with_name(out.name + PRIVATE_SUFFIX), out.with_name(out.name + PUBLIC_SUFFIX)


def keygen(out: Path, passphrase: str, *, allow_weak: bool = False) -> KeyPair:
    """Make an Ed25519 key pair: ``NAME.key`` (encrypted PKCS#8, 0600) and ``NAME.pub`` (0644).

    Refuses to replace either file, and a passphrase ``check_passphrase`` finds weak unless
    ``allow_weak``. Both files are written under temporary names and appear only when both are done.
    """
    private_path, public_path = key_paths(out)
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise KeyFileError(
                f"{path} already exists; keygen never replaces a key (bundles signed with it "
                "would no longer verify): choose another name"
            )
    if not allow_weak:
        check_passphrase(passphrase)
    key = ed25519.Ed25519PrivateKey.generate()
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )
    public = key.public_key()
    fp = fingerprint(public)
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    public_text = (
        f"# airgapkit signing key {public_path.stem} (Ed25519), made {made}\n# fingerprint {fp}\n"
    ).encode() + public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with (
        AtomicFile(private_path, mode=0o600, overwrite=False) as private_out,
        AtomicFile(public_path, mode=0o644, overwrite=False) as public_out,
    ):
        private_out.file.write(encrypted)
        public_out.file.write(public_text)
        private_out.finish(), public_out.finish()
        private_out.commit()  # the private half first: a .pub alone would promise a key that is lost
        public_out.commit()
    return KeyPair(private_path, public_path, fp)


def _read_key_file(path: Path, what: str) -> bytes:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > KEY_FILE_LIMIT:
            raise KeyFileError(
                f"{what} {path} is {size} bytes, too big for a key file; give the file inv keygen made"
            )
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{what} {path} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise KeyFileError(f"{what} {path} is a folder; give a key file") from exc
    except PermissionError as exc:
        raise KeyFileError(
            f"{what} {path} cannot be read by this user; fix its owner or mode"
        ) from exc
    except OSError as exc:
        raise KeyFileError(
            f"{what} {path} cannot be read ({exc.strerror}); check the file"
        ) from exc
    if not data.strip():
        raise KeyFileError(f"{what} {path} is empty; give the file inv keygen made")
    return data


def _pem_label(data: bytes) -> str | None:
    found = _PEM_LABEL.search(data)
    return found.group(1).decode() if found else None


def _kind(key) -> str:
    for cls, name in _KEY_KINDS:
        if isinstance(key, cls):
            return name
    return f"a {type(key).__name__}"


def load_public_key(path: Path, what: str = "public key") -> PublicKey:
    """An Ed25519 public key from a PEM file (``NAME.pub``), its fingerprint computed.

    A fingerprint comment that disagrees with the key means the file was altered: refused.
    """
    path = Path(path)
    data = _read_key_file(path, what)
    label = _pem_label(data)
    if label is not None and "PRIVATE KEY" in label:
        raise KeyFileError(
            f"{what} {path} holds a private key; give the public half ({PUBLIC_SUFFIX}) and keep "
            "the private key on the signing machine"
        )
    if label != "PUBLIC KEY":
        found = f"a PEM {label}" if label else "no PEM public key"
        raise KeyFileError(
            f"{what} {path} holds {found}; give the {PUBLIC_SUFFIX} file inv keygen made"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(
            f"{what} {path} is damaged ({exc}); get the key again from its owner"
        ) from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFileError(
            f"{what} {path} holds {_kind(key)} public key; airgapkit signs with Ed25519 keys "
            "made by inv keygen"
        )
    fp = fingerprint(key)
    stated = _STATED_FINGERPRINT.search(data)
    if stated and stated.group(1).decode() != fp:
        raise KeyFileError(
            f"{what} {path} says fingerprint {stated.group(1).decode()} but its key's is "
            f"{fp}; the file was altered: get the key again from its owner"
        )
    return PublicKey(key, path, fp)


def load_signing_key(path: Path, passphrase: str) -> SigningKey:
    """The Ed25519 private key of an encrypted PKCS#8 PEM file (``NAME.key``)."""
    path = Path(path)
    data = _read_key_file(path, "signing key")
    label = _pem_label(data)
    if label == "PUBLIC KEY":
        raise KeyFileError(
            f"signing key {path} is a public key; sign with its private half "
            f"({PRIVATE_SUFFIX}, made by inv keygen)"
        )
    if label == "PRIVATE KEY":
        raise KeyFileError(
            f"signing key {path} is not encrypted; airgapkit signs only with passphrase-protected "
            "keys: make one with inv keygen"
        )
    if label != "ENCRYPTED PRIVATE KEY":
        found = f"a PEM {label}" if label else "no PEM private key"
        raise KeyFileError(
            f"signing key {path} holds {found}, not an encrypted PKCS#8 key; make one with "
            "inv keygen"
        )
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode("utf-8"))
    except ValueError as exc:
        # PBES2 with AES-CBC has no MAC: a wrong passphrase usually fails the padding check, but
        # now and then decrypts to bytes that fail as DER instead, just as a damaged file does.
        raise KeyFileError(
            f"wrong passphrase for signing key {path} (or the key file is damaged); check "
            f"{PASSPHRASE_VAR} or the passphrase file"
        ) from exc
    except UnsupportedAlgorithm as exc:
        raise KeyFileError(
            f"signing key {path} uses an encryption this airgapkit cannot read; make one with "
            "inv keygen"
        ) from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(
            f"signing key {path} holds {_kind(key)} private key; airgapkit signs with Ed25519 "
            "keys made by inv keygen"
        )
    _warn_if_loose(path)
    return SigningKey(key, path, fingerprint(key.public_key()))


def _warn_if_loose(path: Path) -> None:
    if platform.loose_mode(path) is not None:
        display.warn(
            f"signing key {path} is readable by group or others; run: "
            f"{platform.private_command(path)}"
        )


# --- the passphrase -------------------------------------------------------------------------------


def passphrase(*, passphrase_file: Path | None, confirm: bool) -> str:
    """The key's passphrase: ``AIRGAPKIT_KEY_PASSPHRASE``, else ``passphrase_file``, else a prompt
    (asked twice when ``confirm``), read as archive passwords are (``crossing.passwords``)."""
    return passwords.resolve(
        password_file=passphrase_file,
        env_var=PASSPHRASE_VAR,
        confirm=confirm,
        allow_weak=True,  # keygen applies check_passphrase; an existing key's passphrase is a fact
        secret=KEY_PASSPHRASE,
    )


def check_passphrase(text: str) -> None:
    """Refuse a passphrase the archive password rule's guessing attack finds within its
    ``passwords.MIN_YEARS`` (see the module's docstring)."""
    seconds = passwords.seconds_to_find(text)
    if seconds >= passwords.MIN_YEARS * YEAR:
        return
    raise KeyFileError(
        f"the key passphrase is weak: a guessing attack at "
        f"{passwords.RIG_GUESSES_PER_SECOND / 1e6:,.0f} million guesses/s finds it in "
        f"{passwords.duration(seconds)}, and {passwords.MIN_YEARS} years are needed; use five or "
        "more unrelated words or 18 random characters"
    )
