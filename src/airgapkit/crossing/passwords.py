"""Archive passwords: where they come from, how strong they must be, and where a new one is written.

A password comes from the ``AIRGAPKIT_PASSWORD`` variable, a file (``--password-file``), or a prompt;
never from a flag's value, so it never shows in ``ps`` or ``/proc/*/cmdline``. Nothing here puts a
password into a message, a log line or an exception.

Why strength matters: WinZip AES (the zip encryption 7-Zip and airgapkit use) derives its key with
PBKDF2-HMAC-SHA1 at only 1,000 iterations, so each guess is cheap: a few thousand per second on one
CPU core (``guesses_per_second()`` measures this machine), millions per second on a GPU. A password a
person makes up falls quickly. ``check_strength`` therefore asks for an estimated 80 bits or more
(length x log2 of the character classes used, capped by the number of distinct characters): e.g. 14
random characters from all four classes, 18 random lower-case letters, or a generated password
(``generate``: 192 bits from ``secrets``). A weaker one is refused unless the user says
``--allow-weak-password``.
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import secrets
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import fsutil
from ..errors import AirgapError, PasswordError

ENV_VAR = "AIRGAPKIT_PASSWORD"
MIN_BITS = 80
GENERATED_BYTES = 24  # 192 bits; token_urlsafe gives 32 characters
PBKDF2_ITERATIONS = 1000  # fixed by the WinZip AES format


@dataclass(frozen=True)
class Secret:
    """How a kind of secret is named where it is read: an archive password, a key passphrase."""

    noun: str  # "password file X is empty", "the two passwords differ"
    prompt: str  # what the terminal prompt asks for
    env_var: str  # the variable that gives it
    file_hint: str  # how to give it as a file


ARCHIVE = Secret(
    "password",
    "Archive password",
    ENV_VAR,
    "--password-file FILE (or --generate-password when archiving)",
)


def _from_file(path: Path, secret: Secret = ARCHIVE) -> str:
    noun = secret.noun
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise PasswordError(f"{noun} file {path} does not exist; check the path") from exc
    except (PermissionError, IsADirectoryError) as exc:
        raise PasswordError(
            f"{noun} file {path} cannot be read; check it is a readable file"
        ) from exc
    except UnicodeDecodeError as exc:
        # the cause names the offending byte, never the text around it
        raise PasswordError(f"{noun} file {path} is not UTF-8 text; save it as UTF-8") from exc
    password = text.lstrip("\ufeff").rstrip("\r\n")
    if not password:
        raise PasswordError(f"{noun} file {path} is empty; put the {noun} on its first line")
    if "\n" in password or "\r" in password:
        raise PasswordError(f"{noun} file {path} has more than one line; keep only the {noun}")
    return password


def _prompt(confirm: bool, secret: Secret = ARCHIVE) -> str:
    noun = secret.noun
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise PasswordError(
            f"no {noun} given and no terminal to ask on; set {secret.env_var}, or pass "
            f"{secret.file_hint}"
        )
    password = getpass.getpass(f"{secret.prompt}: ")
    if not password:
        raise PasswordError(f"empty {noun}; type one, or pass {secret.file_hint}")
    if confirm and getpass.getpass(f"Same {noun} again: ") != password:
        raise PasswordError(f"the two {noun}s differ; run the command again")
    return password


def resolve(
    *,
    password_file: Path | None,
    env_var: str = ENV_VAR,
    confirm: bool,
    allow_weak: bool,
    secret: Secret = ARCHIVE,
) -> str:
    """The password: from ``env_var``, else ``password_file``, else a prompt (twice when ``confirm``).

    Both a variable and a file given is an error rather than a silent choice. Unless ``allow_weak``,
    a password that ``check_strength`` finds weak is refused. ``secret`` names what is read in
    prompts and messages (``ARCHIVE`` by default; a key passphrase gives its own).
    """
    from_env = os.environ.get(env_var) if env_var else None
    if from_env and password_file:
        raise PasswordError(
            f"both {env_var} and the {secret.noun} file {password_file} give a {secret.noun}; "
            "unset one of them"
        )
    if from_env:
        password, source = from_env, env_var
    elif password_file:
        password = _from_file(Path(password_file), secret)
        source = f"{secret.noun} file {password_file}"
    else:
        password, source = _prompt(confirm, secret), f"the typed {secret.noun}"
    if not allow_weak:
        check_strength(password, source=source)
    return password


def estimate_bits(password: str) -> float:
    """A simple, documented entropy estimate: length x log2(pool of the character classes used).

    The length counted is at most twice the number of distinct characters, so ``aaaa...`` or
    ``abcabc...`` score low. It overrates dictionary phrases; it is a floor for users, not a proof.
    """
    if not password:
        return 0.0
    pool = 0
    pool += 26 if any(ch in string.ascii_lowercase for ch in password) else 0
    pool += 26 if any(ch in string.ascii_uppercase for ch in password) else 0
    pool += 10 if any(ch in string.digits for ch in password) else 0
    pool += 33 if any(ch in string.punctuation or ch == " " for ch in password) else 0
    pool += 100 if any(ord(ch) > 127 for ch in password) else 0
    length = min(len(password), 2 * len(set(password)))
    return length * math.log2(max(pool, 2))


def guesses_per_second(seconds: float = 0.05) -> float:
    """How many WinZip AES-256 password guesses one core of this machine tries per second."""
    salt = b"\0" * 16
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        # one SHA-1 block (1,000 iterations): an attacker derives only the block holding the
        # 2-byte password verifier to reject a guess
        hashlib.pbkdf2_hmac("sha1", b"guess", salt, PBKDF2_ITERATIONS, 20)
        count += 1
    return count / (time.perf_counter() - start)


def _duration(seconds: float) -> str:
    for unit, size in (("years", 31_557_600), ("days", 86_400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.3g} {unit}" if value < 1e6 else f"{value:.1e} {unit}"
    return f"{seconds:.0f} seconds"


def check_strength(password: str, source: str = "the password") -> None:
    """Refuse a password estimated below MIN_BITS bits, saying why and what to do instead."""
    bits = estimate_bits(password)
    if bits >= MIN_BITS:
        return
    rate = guesses_per_second()
    half_space = 2 ** (bits - 1) / rate
    raise PasswordError(
        f"{source} is weak (about {bits:.0f} bits; {MIN_BITS} needed): WinZip AES uses "
        f"PBKDF2-HMAC-SHA1 at {PBKDF2_ITERATIONS} iterations, {rate:,.0f} guesses/s on one core "
        f"here, so one core finds it in about {_duration(half_space)} and a GPU far sooner; "
        "use --generate-password, a longer random password, or --allow-weak-password to accept "
        "the risk"
    )


def new_password() -> str:
    """A fresh password of 192 bits from ``secrets`` (32 URL-safe characters)."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def write_password(password: str, dest: Path, forbidden_dir: Path | None = None) -> Path:
    """Write ``password`` to a new file ``dest`` of mode 0600, atomically, never overwriting.

    The temporary file is created 0600 (it never exists with a wider mode), filled, synced, then
    given the name ``dest`` only if nothing has that name (``fsutil.AtomicFile``, overwrite=False).
    Refused when ``dest`` lies inside ``forbidden_dir`` (the folder that carries the archive).
    """
    dest = Path(dest)
    if forbidden_dir is not None and fsutil.is_inside(dest.parent, forbidden_dir):
        raise PasswordError(
            f"password file {dest} would lie inside {forbidden_dir}, which carries the archive; "
            "write it to a folder that travels separately"
        )
    exists = f"password file {dest} already exists; move it away or name another file"
    if dest.exists() or dest.is_symlink():
        raise PasswordError(exists)
    try:
        return fsutil.write_atomic(
            dest, password.encode("utf-8") + b"\n", mode=0o600, overwrite=False
        )
    except AirgapError as exc:  # it appeared while the password was written
        raise PasswordError(exists) from exc


def generate(dest: Path, forbidden_dir: Path | None = None) -> str:
    """Make a new 192-bit password, write it to ``dest`` (mode 0600) and return it."""
    password = new_password()
    write_password(password, dest, forbidden_dir)
    return password


def refuse_inside(password_file: Path | None, archive_dir: Path) -> None:
    """A password file inside the folder that carries the archive would travel with it: refuse."""
    if password_file and fsutil.is_inside(Path(password_file), archive_dir):
        raise AirgapError(
            f"password file {password_file} lies inside {archive_dir}, which carries the archive; "
            "keep the password in a folder that travels separately"
        )
