"""Registry credentials: from variables, a file, or Docker's own login; never from a flag's value.

In order, the first that has them:

1. ``AIRGAPKIT_REGISTRY_USER`` and ``AIRGAPKIT_REGISTRY_PASSWORD`` (both, or neither);
2. a credentials file (``registry_auth_file``): one line ``USER:PASSWORD`` (the user has no colon;
   the password may), as ``curl -u`` takes them;
3. Docker's login for that registry: ``config.json`` and its credential helpers (``dockerconfig``).

A variable and a file both given is an error rather than a silent choice. Credentials are looked up
only when a registry asks for them (HTTP 401), so an anonymous registry never runs a credential
helper, and they go only to the registry that asked. Nothing here puts a password in a message.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import dockerconfig
from .dockerconfig import Login
from .errors import CredentialsError

USER_VAR = "AIRGAPKIT_REGISTRY_USER"
PASSWORD_VAR = "AIRGAPKIT_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password


def resolve(registry: str, credentials_file: Path | None = None) -> Login | None:
    """The login for ``registry`` from the first source that has one, or None when none has."""
    from_env = _from_variables()
    if from_env and credentials_file:
        raise CredentialsError(
            f"registry credentials are given twice, by {USER_VAR}/{PASSWORD_VAR} and by the file "
            f"{credentials_file}; keep one"
        )
    if from_env:
        return from_env
    if credentials_file:
        return from_file(Path(credentials_file))
    return dockerconfig.lookup(registry)


def _from_variables() -> Login | None:
    user, password = os.environ.get(USER_VAR), os.environ.get(PASSWORD_VAR)
    if not user and not password:
        return None
    if not user or not password:
        missing = USER_VAR if not user else PASSWORD_VAR
        raise CredentialsError(f"{missing} is not set; set both {USER_VAR} and {PASSWORD_VAR}")
    return Login(user, password, f"{USER_VAR}/{PASSWORD_VAR}")


def from_file(path: Path) -> Login:
    """``USER:PASSWORD`` from the first line of ``path``; a file that cannot hold one says why."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise CredentialsError(
            f"registry credentials file {path} does not exist; check the path"
        ) from exc
    except OSError as exc:
        raise CredentialsError(
            f"registry credentials file {path} cannot be read ({exc.strerror}); check it is a readable file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CredentialsError(
            f"registry credentials file {path} is not UTF-8 text; save it as UTF-8"
        ) from exc
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if len(lines) != 1:
        raise CredentialsError(
            f"registry credentials file {path} must hold exactly one line, USER:PASSWORD"
        )
    user, sep, password = lines[0].partition(":")
    if not sep or not user.strip() or not password:
        raise CredentialsError(
            f"registry credentials file {path} does not read USER:PASSWORD; write it so"
        )
    return Login(user.strip(), password, f"the file {path}")
