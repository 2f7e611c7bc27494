"""What npm itself says is installed: the reference the SBOM tests compare with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def npm_ls_packages(app: Path) -> set[tuple[str, str]]:
    """Every (name, version) of ``npm ls --all --json --omit dev``'s tree, duplicates merged."""
    tree = json.loads(
        subprocess.run(
            ["npm", "ls", "--all", "--json", "--omit", "dev"],
            cwd=app,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    found: set[tuple[str, str]] = set()

    def walk(node: dict) -> None:
        for name, child in (node.get("dependencies") or {}).items():
            found.add((name, child["version"]))
            walk(child)

    walk(tree)
    return found
