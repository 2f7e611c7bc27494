"""An image reference split the way Docker splits it: registry host, repository, tag, digest.

``node:20-alpine`` is ``docker.io/library/node:20-alpine``; ``127.0.0.1:5000/node:20-alpine`` lives in
the registry at ``127.0.0.1:5000``. The grammar is checked here once (``validate_ref``), for the
engine and the registry alike, before either sees a reference; ``parse`` then applies Docker's
defaults (the first path component names a registry when it holds a dot or a colon or is
``localhost``; otherwise Docker Hub, whose one-word repositories live under ``library/``). The
names made from a reference (a tar file's, a container's) are made here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AirgapError
from ..ports import is_loopback_host

DOCKER_HUB = "docker.io"
DOCKER_HUB_ENDPOINT = "registry-1.docker.io"  # where docker.io's registry API answers
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

# The distribution reference grammar (github.com/distribution/reference), written out because the
# SDK only splits references, never validates them.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")


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


# --- the grammar, and the names made from a reference ---------------------------------------------


def validate_ref(ref: str, *, allow_digest: bool = True) -> str:
    """``ref`` if it is a well-formed image reference (or image id), else a clear AirgapError."""
    ref = (ref or "").strip()
    if IMAGE_ID.match(ref):  # an image id is as good as a name for a local image
        return ref
    match = REFERENCE.match(ref)
    if not match or len(match.group("name")) > 255:
        raise AirgapError(
            f"image reference {ref!r} is malformed; write it as name:tag (lowercase name, "
            "e.g. tms_api:1.0.0 or registry:5000/team/node:20-alpine)"
        )
    if match.group("digest") and not allow_digest:
        raise AirgapError(
            f"image tag {ref!r} holds a digest; tag an image as name:tag, e.g. tms_api:1.0.0"
        )
    return ref


def tar_name(ref: str) -> str:
    """A safe file name for an image's tar: node:20-alpine -> node-20-alpine.tar."""
    name, _, digest = ref.partition("@")
    if digest:  # sha256:<64 hex> is too long for a file name people read
        algo, _, hexpart = digest.partition(":")
        name = f"{name}-{algo}-{hexpart[:12]}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")
    return f"{safe or 'image'}.tar"


def default_container_name(ref: str) -> str:
    """The image's name without registry, path or tag, made valid as a container name."""
    name = ref.partition("@")[0]
    name = name.rsplit("/", 1)[-1].partition(":")[0]
    name = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).lstrip("._-")
    return name or "app"
