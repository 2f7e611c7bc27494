"""The document's load step: an image tar checked against its hash file, then loaded
(``inv load``). The tar is hashed and loaded through one open file, so what is loaded is what was
checked."""

from __future__ import annotations

from pathlib import Path

import docker

from .. import display, fsutil
from ..crossing import sumsfile, sumsverify
from ..engine import images
from ..errors import AirgapError, IntegrityError


def load_verified(
    client: docker.DockerClient, tar: Path, sums: Path | None = None, verify: bool = True
) -> list[str]:
    """Check the tar against its SHA256SUMS (given, or the one beside it), then load it."""
    tar = Path(tar)
    if not tar.is_file():
        raise AirgapError(
            f"image tar {tar} does not exist; give the file made by `inv save` with --input"
        )
    with fsutil.PinnedFile(tar) as fileobj:  # hashed and loaded through this one open file
        if verify:
            _verify_tar(fileobj, sums)
        else:
            display.warn(f"loading {tar} without checking its SHA-256 (--no-verify)")
        loaded = images.load(client, fileobj)
        fileobj.check_unchanged()
        return loaded


def _verify_tar(fileobj, sums: Path | None) -> None:
    """Check the open tar's SHA-256 against its hashes file; a mismatch loads nothing."""
    tar = fileobj.path
    sums = sums or sumsfile.find_sums(tar)
    if sums is None:
        raise IntegrityError(
            f"no SHA256SUMS found beside {tar}; pass the hashes file with --sums FILE, "
            "or --no-verify to load it unchecked"
        )
    if not Path(sums).is_file():
        raise AirgapError(
            f"hashes file {sums} does not exist; pass the SHA256SUMS you were sent with --sums"
        )
    sumsverify.verify_open(fileobj, Path(sums))  # raises IntegrityError on a mismatch
