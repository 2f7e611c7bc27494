"""An image reference split the way Docker splits it: registry host, repository, tag, digest.

``node:20-alpine`` is ``docker.io/library/node:20-alpine``; ``127.0.0.1:5000/node:20-alpine`` lives in
the registry at ``127.0.0.1:5000``. The grammar itself is checked once, by the engine module's
``validate_ref``; this module only applies Docker's defaults (the first path component names a
registry when it holds a dot or a colon or is ``localhost``; otherwise Docker Hub, whose one-word
repositories live under ``library/``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.client import IMAGE_ID, REFERENCE, validate_ref
from ..errors import AirgapError
from ..ports import is_loopback_host

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"  # where docker.io's registry API answers
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class ImageRef:
    registry: str  # as Docker names it: docker.io, 127.0.0.1:5000, registry.example:443
    repository: str  # library/node, team/api
    tag: str | None = None
    digest: str | None = None  # sha256:<hex> when the reference pins one

    @property
    def endpoint(self) -> str:
        """The host (and port) whose /v2/ API serves this repository."""
        return DOCKER_HUB_ENDPOINT if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What the registry's manifests endpoint is asked for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def full_name(self) -> str:
        """docker.io/library/node: the name containerd records."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """node, team/api, 127.0.0.1:5000/node: the name docker prints."""
        if self.registry != DOCKER_HUB:
            return self.full_name
        return self.repository.removeprefix("library/")

    @property
    def familiar(self) -> str:
        """The reference as docker prints it (node:20-alpine); a digest-only one keeps its digest."""
        if self.tag:
            return f"{self.familiar_name}:{self.tag}"
        return (
            f"{self.familiar_name}@{self.digest}" if self.digest else f"{self.familiar_name}:latest"
        )

    def with_digest(self, digest: str) -> str:
        """name@digest, as docker lists it among an image's RepoDigests."""
        return f"{self.familiar_name}@{digest}"

    @property
    def is_loopback(self) -> bool:
        """Whether the registry is on this machine (Docker allows plain HTTP there by default)."""
        return is_loopback_host(self.registry.rsplit(":", 1)[0])  # the grammar has no IPv6 literals


def parse(ref: str) -> ImageRef:
    """``ref`` as an ImageRef; a malformed reference or a bare image ID is one clear AirgapError."""
    ref = validate_ref(ref)
    if IMAGE_ID.match(ref):
        raise AirgapError(
            f"{ref!r} is an image ID, which only a local engine knows; "
            "name the image as it is in its registry, e.g. node:20-alpine"
        )
    match = REFERENCE.match(ref)
    name, tag, digest = match.group("name"), match.group("tag"), match.group("digest")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if digest and not digest.startswith("sha256:"):
        raise AirgapError(f"image reference {ref!r} pins a digest that is not sha256; use sha256")
    if not tag and not digest:
        tag = "latest"
    return ImageRef(registry=registry, repository=repository, tag=tag, digest=digest)
