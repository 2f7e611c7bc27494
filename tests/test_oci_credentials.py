"""Registry credentials: variables, then a file, then Docker's login; never a flag's value."""

from __future__ import annotations

import base64
import json

import pytest

from airgapkit.oci import credentials
from airgapkit.oci.errors import CredentialsError

REGISTRY = "127.0.0.1:5443"
SECRET = "s3cr:et pass"  # noqa: S105 - a test value, with a colon and a space


@pytest.fixture(autouse=True)
def no_ambient_login(monkeypatch, tmp_path):
    """Neither the machine's variables nor its ~/.docker login reach these tests."""
    monkeypatch.delenv(credentials.USER_VAR, raising=False)
    monkeypatch.delenv(credentials.PASSWORD_VAR, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


def docker_login(tmp_path, registry, user, password):
    folder = tmp_path / "docker-config"
    folder.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))


def test_nothing_anywhere_is_no_login():
    assert credentials.resolve(REGISTRY) is None


def test_variables_come_first(monkeypatch, tmp_path):
    docker_login(tmp_path, REGISTRY, "docker-user", "docker-pass")
    monkeypatch.setenv(credentials.USER_VAR, "ci")
    monkeypatch.setenv(credentials.PASSWORD_VAR, SECRET)
    login = credentials.resolve(REGISTRY)
    assert (login.username, login.password) == ("ci", SECRET)
    assert credentials.USER_VAR in login.source
    assert SECRET not in repr(login)


@pytest.mark.parametrize("var", [credentials.USER_VAR, credentials.PASSWORD_VAR])
def test_half_a_login_in_variables_says_which_is_missing(monkeypatch, var):
    monkeypatch.setenv(var, "x")
    with pytest.raises(CredentialsError) as info:
        credentials.resolve(REGISTRY)
    other = credentials.PASSWORD_VAR if var == credentials.USER_VAR else credentials.USER_VAR
    assert str(info.value).startswith(f"{other} is not set")


def test_a_file_gives_user_and_password(tmp_path):
    path = tmp_path / "registry-login"
    path.write_text(f"\ufeffrelease:{SECRET}\r\n\n")
    login = credentials.resolve(REGISTRY, path)
    assert (login.username, login.password) == ("release", SECRET)
    assert str(path) in login.source


def test_a_file_beats_dockers_login(tmp_path):
    docker_login(tmp_path, REGISTRY, "docker-user", "docker-pass")
    path = tmp_path / "login"
    path.write_text("release:pw\n")
    assert credentials.resolve(REGISTRY, path).username == "release"


def test_variables_and_a_file_together_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(credentials.USER_VAR, "ci")
    monkeypatch.setenv(credentials.PASSWORD_VAR, SECRET)
    path = tmp_path / "login"
    path.write_text("release:pw\n")
    with pytest.raises(CredentialsError, match="given twice"):
        credentials.resolve(REGISTRY, path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        (b"", "exactly one line"),
        (b"a:b\nc:d\n", "exactly one line"),
        (b"no-colon\n", "USER:PASSWORD"),
        (b":password\n", "USER:PASSWORD"),
        (b"user:\n", "USER:PASSWORD"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_file_that_holds_no_login_says_why_without_its_content(tmp_path, content, words):
    path = tmp_path / "login"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CredentialsError) as info:
        credentials.resolve(REGISTRY, path)
    message = str(info.value)
    assert words in message and str(path) in message and "\n" not in message
    assert "password\n" not in message and "c:d" not in message


def test_a_folder_is_not_a_credentials_file(tmp_path):
    with pytest.raises(CredentialsError, match="cannot be read"):
        credentials.resolve(REGISTRY, tmp_path)


def test_dockers_login_is_the_last_resort(tmp_path):
    docker_login(tmp_path, REGISTRY, "docker-user", SECRET)
    login = credentials.resolve(REGISTRY)
    assert (login.username, login.password) == ("docker-user", SECRET)
    assert "config.json" in login.source
    assert credentials.resolve("other.example:5000") is None  # only the registry it is for
