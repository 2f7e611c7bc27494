"""The Docker Engine connection: connect, the one translation of SDK errors, container names.

Every engine call in airgapkit runs inside ``engine_errors``, which turns what the docker SDK or its
transport raises into an ``AirgapError`` whose one-line message names the thing and says what to do,
keeping the original exception as its cause. Container names are checked here before the engine
sees them; image references are checked by ``oci.reference`` (its own messages for a bad one are
cryptic).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from contextlib import contextmanager

import docker
import requests
import urllib3

from .. import display
from ..errors import AirgapError, EngineUnavailable, chain

# Progress and notices on stderr; stdout carries logs only.
# One notice, one line, even in a CI log; no markup or highlighting: names and paths print as is.
console = display.plain(stderr=True)

START_HINT = "start the engine (systemctl start docker, or dockerd &)"
PROBE_TIMEOUT = 15  # seconds to wait for the first answer before declaring the engine unreachable

CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


# --- connection and error translation -------------------------------------------------------------


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout: int = 3600) -> docker.DockerClient:
    """A client that answered a ping, with a per-call timeout fit for multi-GB saves and loads."""
    try:
        # Probe with a short timeout: an unreachable TCP engine must not hang for the long one.
        client = docker.from_env(timeout=min(timeout, PROBE_TIMEOUT))
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineUnavailable(
            f"no Docker Engine answers at {engine_address()} (DOCKER_HOST or the default socket); "
            f"{START_HINT} or point DOCKER_HOST at a running one"
        ) from exc
    client.api.timeout = timeout  # the SDK's default 60 s breaks saves and loads of large images
    return client


def explain(exc: Exception) -> str:
    """The engine's own words for an APIError, on one line."""
    text = getattr(exc, "explanation", None) or str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " ".join(str(text).split())


@contextmanager
def engine_errors(doing: str, hide: Mapping[str, str] | None = None):
    """Turn SDK and transport exceptions escaping from ``doing`` into one-line AirgapErrors.

    ``hide`` is the environment ``doing`` hands the engine (key to value): the engine may quote
    ``KEY=VALUE`` in its refusal, so no value of it stays in the line (``scrub``), and a cause
    that quotes one is dropped, even for AIRGAPKIT_DEBUG.
    """
    try:
        yield
    except AirgapError as exc:
        if hide:
            _scrubbed(exc, hide, exc.__cause__)
        raise
    except requests.exceptions.ReadTimeout as exc:
        raise AirgapError(
            f"the Docker Engine did not answer in time while trying to {doing}; "
            "raise airgapkit.engine_timeout in invoke.yaml"
        ) from exc
    except docker.errors.APIError as exc:  # the engine's refusal (also a requests HTTPError)
        raise _scrubbed(AirgapError(f"could not {doing}: {explain(exc)}"), hide, exc)  # noqa: B904
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
        # A stopped or restarting engine: a refused connection, or a stream cut mid-way
        # (requests' ChunkedEncodingError, urllib3's ProtocolError while a body is read).
        raise lost(doing) from exc
    except docker.errors.DockerException as exc:
        raise _scrubbed(AirgapError(f"could not {doing}: {explain(exc)}"), hide, exc)  # noqa: B904


SCRUBBED = "***"
MIN_SCRUBBED = 4  # a shorter value is scrubbed only after its KEY=: alone it would erase words
_GO_ESCAPES = {
    "\\": "\\\\", '"': '\\"', "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
    "\t": "\\t", "\v": "\\v",
}  # fmt: skip


def scrub(text: str, hide: Mapping[str, str] | None) -> str:
    """``text`` with every value of ``hide`` replaced by ``***``: as written, and as the engine
    quotes it (Go's ``%q``, JSON)."""
    for key, value in sorted((hide or {}).items(), key=lambda item: -len(item[1] or "")):
        for form in _quoted_forms(value or ""):
            text = text.replace(f"{key}={form}", f"{key}={SCRUBBED}")
            if len(value) >= MIN_SCRUBBED:
                text = text.replace(form, SCRUBBED)
    return text


def _quoted_forms(value: str) -> set[str]:
    if not value:
        return set()
    go = "".join(_GO_ESCAPES.get(ch) or _go_byte(ch) for ch in value)
    return {value, go, json.dumps(value)[1:-1]}


def _go_byte(ch: str) -> str:
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch


def _scrubbed(error: AirgapError, hide, cause: BaseException | None) -> AirgapError:
    """``error`` (raised from ``cause``) with no value of ``hide`` in its line; the cause dropped
    when it quotes one."""
    if hide:
        error.args = (scrub(str(error), hide),)
        if cause is not None and scrub(chain(cause), hide) != chain(cause):
            cause = None
    error.__cause__, error.__suppress_context__ = cause, True
    return error


def lost(doing: str) -> EngineUnavailable:
    """The one line for an engine that went away while airgapkit was using it."""
    return EngineUnavailable(
        f"lost the Docker Engine at {engine_address()} while trying to {doing}; {START_HINT}, "
        "then run the command again"
    )


def answers(client: docker.DockerClient) -> bool:
    """Whether the engine still answers a ping (within PROBE_TIMEOUT)."""
    api = client.api
    try:
        return api.get(f"{api.base_url}/_ping", timeout=PROBE_TIMEOUT).ok
    except requests.exceptions.RequestException:
        return False


def stream_error(event: dict) -> str | None:
    """The error message of one JSON event of a pull, load or build stream, if it carries one."""
    detail = event.get("errorDetail") or {}
    message = event.get("error") or detail.get("message")
    return " ".join(str(message).split()) if message else None


# --- container names -------------------------------------------------------------------------


def validate_container_name(name: str) -> str:
    """``name`` if the engine takes it as a container name, else a clear AirgapError."""
    if not CONTAINER_NAME.match(name or ""):
        raise AirgapError(
            f"container name {name!r} is invalid; use letters, digits, '_', '.' or '-'"
        )
    return name


def shell_flags() -> str:
    """``docker exec``/``run``'s flags for a shell on this stdin: ``-t`` only on a terminal.

    The docker CLI refuses ``-t`` when stdin is a pipe ("the input device is not a TTY"), and
    commands piped into ``debug-shell`` are a shell's normal input.
    """
    return "-it" if sys.stdin is not None and sys.stdin.isatty() else "-i"
