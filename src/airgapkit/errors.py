"""One base error for everything airgapkit refuses to do.

Every message is one line that names the thing (file, image, value) and says what to do.
The task layer turns an AirgapError into ``invoke.Exit`` once, so users never see a traceback.
Errors keep their cause (``raise ... from exc``): with ``AIRGAPKIT_DEBUG=1`` (or Invoke's
``--debug``) the task layer prints the whole chain before the one line.
"""

import logging
import os
import traceback

DEBUG_VAR = "AIRGAPKIT_DEBUG"


def debug_enabled() -> bool:
    """Whether the user asked for the full chain of causes behind a one-line error."""
    if os.environ.get(DEBUG_VAR, "").strip().lower() not in ("", "0", "false", "no"):
        return True
    return logging.getLogger("invoke").isEnabledFor(logging.DEBUG)  # inv --debug


def chain(exc: BaseException) -> str:
    """The exception with every cause before it, as Python prints them."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class AirgapError(Exception):
    """A problem the user can fix; the message says how."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C in a step that changes what runs: the message says in what state it was left and
    how to finish or undo it (plain Ctrl-C leaves nothing under a final name, and says so)."""


class EngineUnavailable(AirgapError):
    """The Docker Engine did not answer."""


class ImageMissing(AirgapError):
    """An image is not in the local engine (and must not be pulled)."""


class IntegrityError(AirgapError):
    """A file's SHA-256 does not match what was delivered for it."""


class PasswordError(AirgapError):
    """A password is missing, weak, or wrong."""


class RolledBack(AirgapError):
    """A new version was not healthy and the previous one was put back in its place: a container
    set aside and restored, or a Swarm service rolled back (or its update paused)."""


class UnsafeArchive(AirgapError):
    """An archive member would escape, overwrite, or expand beyond bounds."""


# --- base-image and application-image rules (gate/) --------------------------


class PolicyViolation(AirgapError):
    """An image breaks a selection rule (size, Node LTS, vulnerabilities, non-root, secrets)."""


class ScanReportError(AirgapError):
    """A vulnerability report is missing, unreadable, or in a format airgapkit does not know."""
