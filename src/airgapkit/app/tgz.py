"""An npm pack file (``.tgz``) read as a stream: its members under ``package/``, by one name rule.

``members`` gives each member with its path inside ``package/``: a name that could land outside a
folder (absolute, a drive letter, ``..``) is refused by the same rule as a zip member's
(``crossing.archive.safe_member_name``), and so is a member outside ``package/``, which npm pack
never writes. ``opened`` turns what cannot be read into one line of the caller's.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..crossing.archive import safe_member_name
from ..errors import AirgapError, UnsafeArchive


@contextmanager
def opened(tgz: Path, failed: str) -> Iterator[tarfile.TarFile]:
    """The .tgz open for one pass; a read error anywhere in the block is ``AirgapError`` of
    ``failed`` (``{tgz}`` and ``{exc}`` filled in), its cause kept."""
    try:
        with tarfile.open(tgz, mode="r|gz") as tar:
            yield tar
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise AirgapError(failed.format(tgz=tgz, exc=exc)) from exc


def members(tar: tarfile.TarFile, tgz: Path) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """Each member with its path inside ``package/`` (the folder itself left out)."""
    for member in tar:
        rel = member_path(member, tgz)
        if rel is not None:
            yield rel, member


def member_path(member: tarfile.TarInfo, tgz: Path) -> str | None:
    """The member's path inside ``package/`` (normalised), None for the folder itself."""
    try:
        parts = safe_member_name(member.name).rstrip("/").split("/")
    except UnsafeArchive as exc:
        raise UnsafeArchive(f"{tgz}: {exc}; make the .tgz again with npm pack") from exc
    if parts[0] != "package":
        raise UnsafeArchive(
            f"{tgz}: member {member.name!r} lies outside package/; "
            "not a file made by npm pack, refusing it"
        )
    return "/".join(parts[1:]) or None
