"""Hand-made npm packages (.tgz) with exactly the members a test names."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


def craft_tgz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
