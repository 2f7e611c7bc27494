"""Platforms (``linux/amd64``, ``linux/arm64/v8``) and which entry of a multi-platform index fits one.

The far side's engine runs one platform; a multi-platform image carries one manifest per platform.
Matching follows containerd's normalisation: ``aarch64`` is ``arm64``, ``x86_64`` is ``amd64``, and an
absent variant means the architecture's usual one (``arm64`` is ``v8``, ``arm`` is ``v7``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AirgapError

DEFAULT = "linux/amd64"

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
_PART = re.compile(r"^[a-z0-9_.-]+$")


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def normalized(self) -> Platform:
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant or _DEFAULT_VARIANT.get(arch, "")
        if arch == "amd64" and variant == "v1":  # v1 is plain amd64
            variant = ""
        return Platform(self.os, arch, variant)

    def matches(self, other: Platform) -> bool:
        return self.normalized() == other.normalized()


def parse(text: str) -> Platform:
    """``os/arch[/variant]`` as a Platform, or one AirgapError saying how to write it."""
    parts = (text or "").strip().lower().split("/")
    if not 2 <= len(parts) <= 3 or not all(_PART.match(p) for p in parts):
        raise AirgapError(
            f"platform {text!r} is not os/architecture[/variant]; write e.g. linux/amd64 or linux/arm64"
        )
    return Platform(*parts)


def from_descriptor(entry: dict) -> Platform | None:
    """The platform an index entry declares, if it declares one."""
    platform = entry.get("platform") or {}
    if not platform.get("os") or not platform.get("architecture"):
        return None
    return Platform(platform["os"], platform["architecture"], platform.get("variant") or "")


def from_config(config: dict) -> Platform | None:
    """The platform an image config says its binaries are for (``os``, ``architecture``, ``variant``)."""
    if not config.get("os") or not config.get("architecture"):
        return None
    return Platform(config["os"], config["architecture"], config.get("variant") or "")
