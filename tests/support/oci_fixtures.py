"""Registries for the registry-direct tests (a plugin: ``pytest_plugins = ["oci_fixtures"]``).

``oci_registry``: plain HTTP on loopback, no login, for tests that push images of their own.
``secure_registry``: TLS with a CA made here and htpasswd logins, a small image pushed to it.
``token_registry``: TLS and bearer tokens from a token service (``token_service``), as Docker Hub
does: ``tiny/public:1`` for anyone, ``private/app:1`` for a login.
Both are real Debian docker-registry processes; neither needs a Docker Engine. Under CI a missing
docker-registry binary is an error, never a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import registries
import token_service


def _require_binary() -> None:
    if shutil.which("docker-registry"):
        return
    message = "docker-registry is not installed (apt-get install docker-registry)"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must provide it: see .ci/run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory) -> registries.Served:
    _require_binary()
    with registries.serve(tmp_path_factory.mktemp("oci-registry")) as served:
        yield served


@dataclass(frozen=True)
class Secure:
    served: registries.Served
    ca: Path
    user: str
    password: str
    image: str  # addr/tiny/app:1, pushed with the login
    pushed: registries.Pushed

    @property
    def addr(self) -> str:
        return self.served.addr

    @property
    def login(self) -> tuple[str, str]:
        return self.user, self.password


@pytest.fixture(scope="session")
def secure_registry(tmp_path_factory) -> Secure:
    _require_binary()
    root = tmp_path_factory.mktemp("secure-registry")
    ca, cert, key = registries.make_tls(root / "tls")
    user, password = "release", secrets.token_urlsafe(18)
    htpasswd = registries.write_htpasswd(root / "htpasswd", user, password)
    with registries.serve(root / "registry", tls=(cert, key), htpasswd=htpasswd) as served:
        pushed = registries.push(
            served.addr,
            "tiny/app",
            "1",
            [{"app/hello.txt": b"hello\n"}],
            config={"Env": ["NODE_VERSION=20.11.1"], "User": "1001"},
            ca=ca,
            login=(user, password),
        )
        yield Secure(served, ca, user, password, f"{served.addr}/tiny/app:1", pushed)


@dataclass(frozen=True)
class Tokens:
    served: registries.Served
    service: token_service.TokenService
    ca: Path
    login: tuple[str, str]
    public: str  # addr/tiny/public:1
    private: str  # addr/private/app:1

    @property
    def addr(self) -> str:
        return self.served.addr


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory) -> Tokens:
    _require_binary()
    root = tmp_path_factory.mktemp("token-registry")
    ca, cert, key = registries.make_tls(root / "tls")
    login = ("release", secrets.token_urlsafe(18))
    with token_service.serve(root / "tokens", (cert, key), dict([login])) as service:
        with registries.serve(
            root / "registry", tls=(cert, key), auth=service.registry_auth()
        ) as served:
            registries.push(served.addr, "tiny/public", "1", [{"p": b"public"}], ca=ca)
            registries.push(
                served.addr, "private/app", "1", [{"q": b"private"}], ca=ca, login=login
            )
            yield Tokens(
                served,
                service,
                ca,
                login,
                f"{served.addr}/tiny/public:1",
                f"{served.addr}/private/app:1",
            )
