"""Archive passwords: where they come from, how strong they must be, and where a new one is written.

A password comes from the ``AIRGAPKIT_PASSWORD`` variable, a file (``--password-file``), or a prompt;
never from a flag's value, so it never shows in ``ps`` or ``/proc/*/cmdline``. Nothing here puts a
password into a message, a log line or an exception.

Why strength matters: WinZip AES (the zip encryption 7-Zip and airgapkit use) derives its key with
PBKDF2-HMAC-SHA1 at only 1,000 iterations, so each guess is cheap: a few thousand per second on one
CPU core (``guesses_per_second()`` measures this machine), some 2e8 per second on a rig of eight
GPUs (``RIG_GUESSES_PER_SECOND``, and where the figure comes from). ``check_strength`` asks how many
guesses a real guessing attack needs (zxcvbn: dictionaries, common passwords, patterns, l33t, then
brute force) and refuses a password that rig would find within ``MIN_YEARS`` (100 years): about 18
random characters, or five or more unrelated words, or a generated password (``generate``: 192
bits from ``secrets``). A weaker one is refused unless the user says ``--allow-weak-password``.
The zxcvbn package (the maintained Python port of Dropbox's zxcvbn, 4.5 of 2025) is pure Python,
with its dictionaries inside, so it works offline on either side of the gap.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import fsutil
from ..errors import AirgapError, PasswordError

ENV_VAR = "AIRGAPKIT_PASSWORD"
MIN_YEARS = 100
# The attacker assumed: eight RTX 4090-class GPUs. hashcat's published RTX 4090 figures are about
# 50 GH/s for raw SHA-1 and 2.5 MH/s for WPA (PBKDF2-HMAC-SHA1, 4096 iterations, two blocks); WinZip
# AES needs 1000 iterations of one block to test a guess (the password verifier), so one GPU tries
# about 20-25 million guesses a second and eight about 2e8.
RIG_GUESSES_PER_SECOND = 2e8
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
    "--password-file FILE (inv archive also takes --generate-password)",
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


def _from_env(name: str, secret: Secret = ARCHIVE) -> str | None:
    """The variable's value, read as bytes and decoded strictly: a value that is not UTF-8 is one
    line, not a password that cannot be encoded later."""
    raw = os.environb.get(name.encode()) if hasattr(os, "environb") else None
    if raw is None:
        return os.environ.get(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PasswordError(
            f"{name} is not valid UTF-8 text; set it again from a UTF-8 terminal or pass "
            f"{secret.file_hint}"
        ) from exc


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
    from_env = _from_env(env_var, secret) if env_var else None
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


def guesses_to_find(password: str) -> float:
    """How many guesses a guessing attack needs for ``password``: zxcvbn's estimate (dictionaries,
    common passwords, names, keyboard patterns, l33t, dates, repeats, then brute force). zxcvbn
    reads at most 72 characters; a longer password is judged by its first 72, a lower bound."""
    # Imported here: its word lists take 13 MB, and most runs generate their passwords.
    from zxcvbn import zxcvbn

    return float(zxcvbn(password[:72])["guesses"])


def seconds_to_find(password: str) -> float:
    """How long the GPU rig of ``RIG_GUESSES_PER_SECOND`` takes to find ``password`` (expected)."""
    return guesses_to_find(password) / RIG_GUESSES_PER_SECOND


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


def duration(seconds: float) -> str:
    """A time span in the unit a person reads: ``under a second``, ``about 3.0 hours``,
    ``about 4.4 months``, ``about 2,100 years``, ``more than a million years``."""
    if seconds < 1:
        return "under a second"
    for unit, size in (
        ("years", 31_557_600),
        ("months", 2_629_800),
        ("days", 86_400),
        ("hours", 3600),
        ("minutes", 60),
        ("seconds", 1),
    ):
        if seconds >= size:
            value = seconds / size
            if unit == "years" and value >= 1e6:
                return "more than a million years"
            return f"about {value:,.0f} {unit}" if value >= 10 else f"about {value:.1f} {unit}"
    raise AssertionError("unreachable")


def check_strength(password: str, source: str = "the password") -> None:
    """Refuse a password a GPU rig would find in less than MIN_YEARS, saying how soon."""
    seconds = seconds_to_find(password)
    if seconds >= MIN_YEARS * 31_557_600:
        return
    raise PasswordError(
        f"{source} is weak: a guessing attack on a rig of 8 GPUs ({RIG_GUESSES_PER_SECOND / 1e6:,.0f} "
        f"million guesses/s against WinZip AES's PBKDF2-HMAC-SHA1 x{PBKDF2_ITERATIONS}) finds it "
        f"in {duration(seconds)}, and {MIN_YEARS} years are needed; use a longer passphrase of "
        "unrelated words or a generated password (inv archive --generate-password; export and "
        "release make one when given no file), or --allow-weak-password to accept the risk"
    )


def new_password() -> str:
    """A fresh password of 192 bits from ``secrets`` (32 URL-safe characters)."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def write_password(password: str, dest: Path, forbidden_dir: Path | None = None) -> Path:
    """Write ``password`` to a new file ``dest`` of mode 0600 (on Windows: readable by its owner
    alone, through its ACL), atomically, never overwriting.

    The temporary file is created 0600 (it never exists with a wider mode), filled, synced, then
    given the name ``dest`` only if nothing has that name (``fsutil.AtomicFile``, overwrite=False).
    Refused when ``dest`` lies inside ``forbidden_dir`` (the folder that carries the archive).
    """
    dest = Path(dest)
    _check_destination(dest, forbidden_dir, overwrite=False)
    try:
        return fsutil.write_atomic(
            dest, password.encode("utf-8") + b"\n", mode=0o600, overwrite=False
        )
    except AirgapError as exc:  # it appeared while the password was written
        raise PasswordError(_exists(dest)) from exc


def write_aside(
    password: str, dest: Path, forbidden_dir: Path | None = None, *, overwrite: bool = False
) -> fsutil.AtomicFile:
    """``password`` written to a temporary file of mode 0600 beside ``dest`` and synced; the caller
    commits it when the archive it opens is final too. The checks of ``write_password``."""
    dest = Path(dest)
    _check_destination(dest, forbidden_dir, overwrite)
    return fsutil.write_aside(
        dest, password.encode("utf-8") + b"\n", mode=0o600, overwrite=overwrite
    )


def _check_destination(dest: Path, forbidden_dir: Path | None, overwrite: bool) -> None:
    if forbidden_dir is not None and fsutil.is_inside(dest.parent, forbidden_dir):
        raise PasswordError(
            f"password file {dest} would lie inside {forbidden_dir}, which carries the archive; "
            "write it to a folder that travels separately"
        )
    if not overwrite and (dest.exists() or dest.is_symlink()):
        raise PasswordError(_exists(dest))


def _exists(dest: Path) -> str:
    return f"password file {dest} already exists; move it away or name another file"


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
