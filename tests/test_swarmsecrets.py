"""swarmsecrets: the wrapper that hands Swarm secrets to the app, file owners, old secrets removed."""

from __future__ import annotations

import subprocess

import pytest
from docker.types import SecretReference

from airgapkit.engine import swarmsecrets
from airgapkit.errors import AirgapError


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
