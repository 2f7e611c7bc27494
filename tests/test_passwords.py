"""passwords: sources in order, strength rule, generated files of mode 0600 outside the archive folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from terminal import converse

from airgapkit.crossing import passwords
from airgapkit.errors import AirgapError, PasswordError
from conftest import REPO_ROOT

STRONG = "vX7#qLp2!Rt9@wZe4$Nb"


@pytest.fixture(autouse=True)
def no_env_password(monkeypatch):
    monkeypatch.delenv(passwords.ENV_VAR, raising=False)


def test_env_var_first(monkeypatch):
    monkeypatch.setenv(passwords.ENV_VAR, STRONG)
    assert passwords.resolve(password_file=None, confirm=True, allow_weak=False) == STRONG


def test_file_second_with_trailing_newline_removed(tmp_path):
    f = tmp_path / "pw"
    f.write_text(STRONG + "\r\n")
    assert passwords.resolve(password_file=f, confirm=False, allow_weak=False) == STRONG


def test_env_and_file_together_is_an_error_not_a_guess(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    f.write_text(STRONG)
    monkeypatch.setenv(passwords.ENV_VAR, STRONG + "x")
    with pytest.raises(PasswordError, match="unset one") as exc:
        passwords.resolve(password_file=f, confirm=False, allow_weak=True)
    assert STRONG not in str(exc.value)


def test_bad_password_files(tmp_path):
    with pytest.raises(PasswordError, match="does not exist"):
        passwords.resolve(password_file=tmp_path / "nope", confirm=False, allow_weak=True)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(PasswordError, match="is empty"):
        passwords.resolve(password_file=tmp_path / "empty", confirm=False, allow_weak=True)
    (tmp_path / "two").write_text("a-first-line\nsecond\n")
    with pytest.raises(PasswordError, match="more than one line") as exc:
        passwords.resolve(password_file=tmp_path / "two", confirm=False, allow_weak=True)
    assert "a-first-line" not in str(exc.value)


def test_no_tty_and_nothing_given_says_how_to_give_one():
    code = (
        "from airgapkit.crossing import passwords\n"
        "passwords.resolve(password_file=None, confirm=True, allow_weak=False)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != passwords.ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode != 0
    assert "AIRGAPKIT_PASSWORD" in result.stderr and "--password-file" in result.stderr


@pytest.mark.parametrize(
    "weak", ["letmein99", "Summer2024!", "correcthorse", "a" * 40, "abcabcabcabcabcabcabc"]
)
def test_weak_passwords_refused_with_the_reason(weak, tmp_path):
    f = tmp_path / "pw"
    f.write_text(weak)
    with pytest.raises(PasswordError) as exc:
        passwords.resolve(password_file=f, confirm=False, allow_weak=False)
    message = str(exc.value)
    assert "PBKDF2-HMAC-SHA1" in message and "--allow-weak-password" in message
    assert weak not in message
    assert passwords.resolve(password_file=f, confirm=False, allow_weak=True) == weak


@pytest.mark.parametrize("strong", [STRONG, "qwhvzmkdptrxnbsjfgla", passwords.new_password()])
def test_strong_passwords_pass(strong):
    assert passwords.seconds_to_find(strong) >= passwords.MIN_YEARS * 31_557_600
    passwords.check_strength(strong)


@pytest.mark.parametrize(
    "candidate, accepted",
    [("password1", False), ("Tr0ub4dor&3xyzab", False), ("correct horse battery staple", True)],
)
def test_the_guess_model_judges_against_a_gpu_rig(candidate, accepted):
    """The rule follows the model: password1 falls at once, the xkcd password with a suffix in
    months, four common words take tens of thousands of years on 2e8 guesses/s."""
    years = passwords.seconds_to_find(candidate) / 31_557_600
    assert (years >= passwords.MIN_YEARS) is accepted
    if accepted:
        passwords.check_strength(candidate)
    else:
        with pytest.raises(PasswordError) as exc:
            passwords.check_strength(candidate)
        message = str(exc.value)
        assert "200 million guesses/s" in message and candidate not in message
        assert " in under a second," in message or "months" in message


def test_durations_read_like_a_person_would_say_them():
    assert passwords.duration(0.2) == "under a second"
    assert passwords.duration(3 * 3600) == "about 3.0 hours"
    assert passwords.duration(4.4 * 2_629_800) == "about 4.4 months"
    assert passwords.duration(2100 * 31_557_600) == "about 2,100 years"
    assert passwords.duration(1e20) == "more than a million years"


def test_a_password_variable_that_is_not_utf8_is_one_line(monkeypatch):
    monkeypatch.setitem(os.environb, passwords.ENV_VAR.encode(), b"caf\xe9-" + STRONG.encode())
    with pytest.raises(PasswordError, match="is not valid UTF-8") as exc:
        passwords.resolve(password_file=None, confirm=False, allow_weak=True)
    assert "\n" not in str(exc.value)


def test_guess_rate_is_guesses_tried_over_the_time_taken(monkeypatch):
    # counted, not compared with a speed: a loaded machine may try only a few guesses in the window
    tried = []
    real = hashlib.pbkdf2_hmac

    def counting(name, password, salt, iterations, dklen=None):
        tried.append((name, iterations, dklen))
        return real(name, password, salt, iterations, dklen)

    monkeypatch.setattr(passwords.hashlib, "pbkdf2_hmac", counting)
    start = time.perf_counter()
    rate = passwords.guesses_per_second(0.02)
    elapsed = time.perf_counter() - start
    assert tried and set(tried) == {("sha1", passwords.PBKDF2_ITERATIONS, 20)}
    assert len(tried) / elapsed <= rate <= len(tried) / 0.02


def test_generate_writes_0600_file_atomically(tmp_path):
    dest = tmp_path / "pw" / "x.zip.password"
    old = os.umask(0)  # even with a permissive umask the file is 0600
    try:
        password = passwords.generate(dest, forbidden_dir=tmp_path / "dist")
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert dest.read_text() == password + "\n"
    assert len(password) >= 32 and passwords.seconds_to_find(password) > 1e15
    assert [p.name for p in dest.parent.iterdir()] == ["x.zip.password"]
    assert passwords.generate(tmp_path / "other", None) != password


def test_generate_refuses_archive_folder_and_existing_file(tmp_path):
    dist = tmp_path / "dist"
    with pytest.raises(PasswordError, match="carries the archive"):
        passwords.generate(dist / "x.password", forbidden_dir=dist)
    with pytest.raises(PasswordError, match="carries the archive"):
        passwords.generate(dist / "deeper" / "x.password", forbidden_dir=dist)
    assert not dist.exists()
    existing = tmp_path / "old.password"
    existing.write_text("keep me\n")
    with pytest.raises(PasswordError, match="already exists"):
        passwords.generate(existing, forbidden_dir=dist)
    assert existing.read_text() == "keep me\n"


def test_password_file_inside_archive_folder_refused(tmp_path):
    with pytest.raises(AirgapError, match="travels separately"):
        passwords.refuse_inside(tmp_path / "dist" / "pw", tmp_path / "dist")
    passwords.refuse_inside(tmp_path / "elsewhere" / "pw", tmp_path / "dist")


def archive_on_a_terminal(tmp_path: Path, first: str, second: str) -> tuple[int, str, Path]:
    """``inv archive`` with no password given: it asks on the terminal, twice."""
    (tmp_path / "data.bin").write_bytes(os.urandom(4096))
    argv = [
        shutil.which("inv"),
        "--search-root",
        str(REPO_ROOT),
        "archive",
        "--files",
        "data.bin",
        "--output",
        "media/data.zip",
        "--sums",
        "hashes/SHA256SUMS",
    ]
    status, output = converse(
        argv,
        tmp_path,
        [
            (b"Archive password:", first.encode() + b"\n"),
            (b"Same password again:", second.encode() + b"\n"),
        ],
    )
    return status, output, tmp_path / "media" / "data.zip"


def test_a_password_typed_twice_at_the_prompt_protects_the_archive(tmp_path, monkeypatch):
    monkeypatch.delenv(passwords.ENV_VAR, raising=False)
    status, output, archive = archive_on_a_terminal(tmp_path, STRONG, STRONG)
    assert status == 0, output
    assert STRONG not in output  # getpass does not echo it
    opened = subprocess.run(
        ["7z", "t", f"-p{STRONG}", str(archive)], capture_output=True, text=True
    )
    assert opened.returncode == 0, opened.stdout + opened.stderr


def test_two_different_answers_at_the_prompt_make_no_archive(tmp_path, monkeypatch):
    monkeypatch.delenv(passwords.ENV_VAR, raising=False)
    status, output, archive = archive_on_a_terminal(tmp_path, STRONG, STRONG + "typo")
    assert status != 0 and "the two passwords differ" in output and "Traceback" not in output
    assert not archive.exists()


def test_write_password_never_replaces_anything_not_even_a_dangling_link(tmp_path):
    link = tmp_path / "pw"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(PasswordError, match="already exists"):
        passwords.write_password(STRONG, link)
    assert not (tmp_path / "nowhere").exists() and sorted(os.listdir(tmp_path)) == ["pw"]
    written = passwords.write_password(STRONG, tmp_path / "deeper" / "x.password")
    assert written.read_text() == STRONG + "\n"
    assert os.listdir(tmp_path / "deeper") == ["x.password"]  # no temporary file left beside it


def test_another_kind_of_secret_is_named_as_itself(tmp_path, monkeypatch):
    key = passwords.Secret("passphrase", "Key passphrase", "TEST_KEY_PASSPHRASE", "--key-file FILE")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(PasswordError, match=r"^passphrase file .* is empty; put the passphrase"):
        passwords.resolve(
            password_file=tmp_path / "empty",
            env_var=key.env_var,
            confirm=False,
            allow_weak=True,
            secret=key,
        )
    monkeypatch.setenv("TEST_KEY_PASSPHRASE", STRONG)
    assert (
        passwords.resolve(password_file=None, env_var=key.env_var, confirm=False, allow_weak=True)
        == STRONG
    )
