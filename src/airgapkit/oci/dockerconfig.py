"""Docker's own login for a registry: ``config.json`` and its credential helpers, read as docker does.

``docker login`` leaves a registry's credentials in ``~/.docker/config.json`` (or ``$DOCKER_CONFIG``):
inline (``auths``), or in a credential helper (``credsStore``, ``credHelpers``: a
``docker-credential-NAME`` program that answers ``get`` on stdin/stdout). The docker SDK, already
airgapkit's, reads both the way the docker CLI does, in ``docker.auth`` and ``docker.credentials``.
Those modules are not part of the SDK's documented API, so this is the one module that calls them;
``tests/test_oci_dockerconfig.py`` breaks loudly if an SDK upgrade changes them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import docker.auth
import docker.errors
from docker.utils.config import find_config_file

from .errors import CredentialsError


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)  # never printed, whatever prints a Login
    source: str  # where it came from, for messages: "Docker's config.json (/root/.docker/...)"


def config_path() -> str:
    """The config file docker would read ($DOCKER_CONFIG/config.json, else ~/.docker/config.json)."""
    return find_config_file() or "~/.docker/config.json (absent)"


def lookup(registry: str) -> Login | None:
    """The login docker would use for ``registry`` (docker.io, host:port), or None when it has none.

    A credential helper that is named but missing or failing, or a token-only login (Docker
    Desktop's identity tokens, which need an OAuth exchange airgapkit does not make), is one
    CredentialsError naming the file and the helper.
    """
    path = config_path()
    try:
        with warnings.catch_warnings():  # the SDK warns about a missing helper; the error says it
            warnings.simplefilter("ignore")
            config = docker.auth.load_config()
            store = config.get_credential_store(registry)
            entry = config.resolve_authconfig(registry)
    except (docker.errors.DockerException, ValueError) as exc:
        raise CredentialsError(
            f"Docker's login for {registry} in {path} cannot be read: {one_line(exc)}; "
            "run docker login again or fix the credential helper"
        ) from exc
    if not entry:
        return None
    if entry.get("IdentityToken"):
        raise CredentialsError(
            f"Docker's login for {registry} in {path} is an identity token, which airgapkit cannot "
            "use; set AIRGAPKIT_REGISTRY_USER and AIRGAPKIT_REGISTRY_PASSWORD or name a credentials file"
        )
    username = entry.get("username") or entry.get("Username")
    password = entry.get("password") or entry.get("Password")
    if not username or password is None:
        return None  # an empty entry: logged out, or the helper has nothing for this registry
    via = f", helper docker-credential-{store}" if store else ""
    return Login(username, password, f"Docker's config.json ({path}{via})")


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
