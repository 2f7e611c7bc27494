"""What can go wrong reading an image from its registry, one class per thing the user does about it.

A blob or manifest whose bytes differ from its digest raises the project's ``IntegrityError``: it is
the same fault as a tampered file in a bundle, and the same advice applies.
"""

from __future__ import annotations

from ..errors import AirgapError, IntegrityError

__all__ = [
    "CredentialsError",
    "IntegrityError",
    "PlatformMissing",
    "RegistryError",
    "RegistryUnavailable",
    "UnsupportedManifest",
]


class RegistryError(AirgapError):
    """The registry answered, but not with the image asked for (missing tag, refused request)."""


class RegistryUnavailable(RegistryError):
    """No answer from the registry: down, unreachable, a proxy in the way, TLS not trusted."""


class CredentialsError(RegistryError):
    """The registry asks for credentials that are missing, wrong, or unreadable."""


class UnsupportedManifest(RegistryError):
    """A manifest, index or layer of a media type airgapkit does not carry."""


class PlatformMissing(RegistryError):
    """A multi-platform image has no variant for the configured platform."""
