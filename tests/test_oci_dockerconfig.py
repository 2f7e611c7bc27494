"""Docker's own login read through the docker SDK's auth modules (their upgrade check lives here).

The SDK's ``docker.auth`` and ``docker.credentials`` are not documented API; these tests exercise
exactly what ``dockerconfig`` calls, with a real config file and a real credential helper program
(a script that speaks the helper protocol: ``get`` reads a server name, prints JSON).
"""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from airgapkit.oci import dockerconfig
from airgapkit.oci.errors import CredentialsError

REGISTRY = "127.0.0.1:5443"


@pytest.fixture
def config_dir(monkeypatch, tmp_path):
    folder = tmp_path / "docker-config"
    folder.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


def write_config(folder, data):
    (folder / "config.json").write_text(json.dumps(data))


def helper(tmp_path, monkeypatch, name, answers: dict[str, tuple[str, str]], log=None):
    """A docker-credential-NAME program on PATH answering ``get`` for ``answers``' servers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    table = {server: {"Username": u, "Secret": s} for server, (u, s) in answers.items()}
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"table = {json.dumps(table)!r}\n"
        f"log = {str(log) if log else ''!r}\n"
        "server = sys.stdin.read().strip()\n"
        "if log: open(log, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        "entry = json.loads(table).get(server)\n"
        "if entry is None:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps({'ServerURL': server, **entry}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_no_config_file_is_no_login(config_dir):
    assert dockerconfig.lookup(REGISTRY) is None


def test_an_inline_login_is_read(config_dir):
    auth = base64.b64encode(b"release:pa:ss").decode()
    write_config(config_dir, {"auths": {REGISTRY: {"auth": auth}, "other:5000": {}}})
    login = dockerconfig.lookup(REGISTRY)
    assert (login.username, login.password) == ("release", "pa:ss")
    assert str(config_dir / "config.json") in login.source
    assert "pa:ss" not in repr(login)
    assert dockerconfig.lookup("other:5000") is None  # logged out: an empty entry


def test_a_registry_specific_helper_is_asked(config_dir, tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    helper(tmp_path, monkeypatch, "agktest", {REGISTRY: ("ci", "from-helper")}, log=calls)
    write_config(config_dir, {"auths": {REGISTRY: {}}, "credHelpers": {REGISTRY: "agktest"}})
    login = dockerconfig.lookup(REGISTRY)
    assert (login.username, login.password) == ("ci", "from-helper")
    assert "docker-credential-agktest" in login.source
    assert calls.read_text() == f"get {REGISTRY}\n"


def test_the_default_store_is_asked_and_may_have_nothing(config_dir, tmp_path, monkeypatch):
    helper(tmp_path, monkeypatch, "agkstore", {REGISTRY: ("ci", "from-store")})
    write_config(config_dir, {"credsStore": "agkstore"})
    assert dockerconfig.lookup(REGISTRY).password == "from-store"  # noqa: S105 - a test value
    assert dockerconfig.lookup("unknown.example:5000") is None


def test_a_named_helper_that_is_missing_is_one_clear_error(config_dir):
    write_config(config_dir, {"credHelpers": {REGISTRY: "agk-not-installed"}})
    with pytest.raises(CredentialsError) as info:
        dockerconfig.lookup(REGISTRY)
    message = str(info.value)
    assert "docker-credential-agk-not-installed" in message and "\n" not in message


def test_an_identity_token_login_is_refused_with_what_to_do(config_dir):
    write_config(config_dir, {"auths": {REGISTRY: {"identitytoken": "opaque-token"}}})
    with pytest.raises(CredentialsError, match="identity token") as info:
        dockerconfig.lookup(REGISTRY)
    assert "opaque-token" not in str(info.value)


def test_a_malformed_auth_entry_is_one_clear_error(config_dir):
    write_config(config_dir, {"auths": {REGISTRY: {"auth": "bm8tY29sb24="}}})  # "no-colon"
    with pytest.raises(CredentialsError, match="cannot be read"):
        dockerconfig.lookup(REGISTRY)
