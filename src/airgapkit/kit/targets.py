"""The machines a kit is made for: a platform (``linux/amd64``) and a Python (``3.12``).

Each target is named once here, with what the two resolving tools call it: pip's wheel platform
tags (which files fit) and uv's ``--python-platform`` (which environment markers hold there). The
names and this machine's own target come from ``installer.py``, which the far side runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import AirgapError
from . import installer


class TargetError(AirgapError):
    """A platform or Python that no kit can be made for."""


# platform -> (pip --platform tags, oldest first accepted by pip's own expansion; uv's name).
# Linux wheels are taken for glibc 2.17 (manylinux2014): RHEL 7 and every later distribution.
TAGS = {
    "linux/amd64": (
        [
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
            "manylinux2010_x86_64",
            "manylinux1_x86_64",
        ],
        "x86_64-manylinux_2_17",
    ),
    "linux/arm64": (["manylinux_2_17_aarch64", "manylinux2014_aarch64"], "aarch64-manylinux_2_17"),
    "windows/amd64": (["win_amd64"], "x86_64-pc-windows-msvc"),
    "darwin/amd64": (["macosx_10_12_x86_64"], "x86_64-apple-darwin"),
    "darwin/arm64": (["macosx_11_0_arm64"], "aarch64-apple-darwin"),
}
assert set(TAGS) == set(installer.PLATFORMS)


@dataclass(frozen=True)
class Target:
    platform: str
    python: str

    @property
    def id(self) -> str:
        return installer.target_id(self.platform, self.python)

    def __str__(self) -> str:
        return f"{self.platform} Python {self.python}"

    def pip_options(self) -> list[str]:
        """``pip download`` options that pick this target's files (not this machine's)."""
        nodot = self.python.replace(".", "")
        options = ["--implementation", "cp", "--python-version", self.python]
        for abi in (f"cp{nodot}", "abi3", "none"):
            options += ["--abi", abi]
        for tag in TAGS[self.platform][0]:
            options += ["--platform", tag]
        return options

    def uv_options(self) -> list[str]:
        """``uv pip compile`` options that evaluate environment markers for this target."""
        return ["--python-platform", TAGS[self.platform][1], "--python-version", self.python]


def here() -> Target:
    """This machine with the Python running airgapkit."""
    return Target(installer.this_platform(), installer.this_python())


def _names(value: str | Iterable[str]) -> list[str]:
    """A comma-separated flag or a configured list, as clean names."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip().lower() for item in items if str(item).strip()]


def parse(platforms: str | Iterable[str], pythons: str | Iterable[str]) -> list[Target]:
    """Every platform with every Python; empty means this machine's. Unknown names refused."""
    mine = here()
    chosen_platforms = _names(platforms) or [mine.platform]
    chosen_pythons = _names(pythons) or [mine.python]
    for name in chosen_platforms:
        if name not in TAGS:
            raise TargetError(
                f"platform {name!r} is not one a kit is made for; name some of "
                f"{', '.join(TAGS)} (--platform, kit.platforms)"
            )
    for name in chosen_pythons:
        if name not in installer.PYTHONS:
            raise TargetError(
                f"Python {name!r} is not one airgapkit runs on; name some of "
                f"{', '.join(installer.PYTHONS)} (--python, kit.python)"
            )
    return [
        Target(p, v) for p in dict.fromkeys(chosen_platforms) for v in dict.fromkeys(chosen_pythons)
    ]
