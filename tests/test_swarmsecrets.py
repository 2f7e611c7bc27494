"""swarmsecrets: which env keys are secrets, the wrapper that hands them to the app, file owners."""

from __future__ import annotations

import subprocess

import pytest
from docker.types import SecretReference
from tokens import TOKENS

from airgapkit.engine import swarmsecrets
from airgapkit.errors import AirgapError


@pytest.mark.parametrize(
    "key",
    [
        "DB_PASSWORD",
        "PASSWORD",
        "API_TOKEN",
        "JWT_SECRET",
        "SIGNING_KEY",
        "API_KEY",
        "AWS_SECRET_ACCESS_KEY",
    ],
)
def test_names_that_say_secret(key):
    assert swarmsecrets.looks_secret(key)


@pytest.mark.parametrize(
    "key", ["DB_HOST", "PORT", "CACHE_KEY", "KEYBOARD_LAYOUT", "TOKENIZER_MODEL_PATH"]
)
def test_names_that_do_not(key):
    assert not swarmsecrets.looks_secret(key)


def test_a_comment_marks_a_key_of_the_example(tmp_path):
    example = tmp_path / ".env.example"
    example.write_text(
        "# Where the database is.\nDB_HOST=db\n\n"
        "# secret: the seed of session cookies\n# (rotate yearly)\nSESSION_SEED=change-me\n"
        "# [secret]\nLICENCE=x\n"
        "# Not a secret, and no mark either.\nGREETING=hello\n"
    )
    assert swarmsecrets.marked_in_example(example) == {"SESSION_SEED", "LICENCE"}
    values = {
        "DB_HOST": "db",
        "SESSION_SEED": "s",
        "LICENCE": "l",
        "GREETING": "g",
        "DB_PASSWORD": "p",
    }
    assert swarmsecrets.secret_keys(values, example, configured=["GREETING", "ABSENT"]) == {
        "SESSION_SEED", "LICENCE", "GREETING", "DB_PASSWORD",
    }  # fmt: skip


def test_a_value_in_a_token_format_goes_in_as_a_secret_whatever_its_key(tmp_path):
    example = tmp_path / ".env.example"
    example.write_text("STRIPE=\nGREETING=hello\n")
    values = {"STRIPE": TOKENS["STRIPE"], "GREETING": "hello"}
    assert swarmsecrets.secret_keys(values, example) == {"STRIPE"}


def test_the_wrapper_exports_each_file_then_runs_the_image_command(tmp_path):
    command, args = swarmsecrets.wrapper(
        ["B_TOKEN", "A_PASSWORD"], ["/entry.sh"], ["node", "app.js"]
    )
    assert command[:2] == ["/bin/sh", "-c"] and args == ["/entry.sh", "node", "app.js"]
    # run the script for real against a folder standing in for /run/secrets
    script = command[2].replace(swarmsecrets.SECRETS_DIR, str(tmp_path))
    (tmp_path / "A_PASSWORD").write_text("pa ss $word\n")
    (tmp_path / "B_TOKEN").write_text("tok")
    out = subprocess.run(
        ["sh", "-c", script, "x", "sh", "-c", 'printf "%s|%s" "$A_PASSWORD" "$B_TOKEN"'],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == "pa ss $word|tok"


def test_the_wrapper_refuses_a_key_that_is_no_variable_name():
    with pytest.raises(AirgapError, match="cannot be a variable name"):
        swarmsecrets.wrapper(["A;rm -rf /"], [], ["node"])


def test_secret_files_belong_to_the_image_user():
    def ref():
        return SecretReference("id0123456789", "svc-key-00", filename="KEY")

    assert swarmsecrets.owned_by([ref()], "1001")[0]["File"] == {
        "Name": "KEY", "UID": "1001", "GID": "1001", "Mode": 0o400,
    }  # fmt: skip
    assert swarmsecrets.owned_by([ref()], "1001:2000")[0]["File"]["GID"] == "2000"
    assert swarmsecrets.owned_by([ref()], "")[0]["File"]["UID"] == "0"
    assert swarmsecrets.owned_by([ref()], "node")[0]["File"]["Mode"] == 0o444
