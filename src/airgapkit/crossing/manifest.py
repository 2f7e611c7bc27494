"""The bundle's manifest: what a bundle is, and the size and SHA-256 of every member.

It travels inside the archive as ``manifest.json``, written last, when every member's hash is known.
``format`` and ``format_version`` say which airgapkit can read it; a bundle of another version is
refused with a message saying so, never half understood.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import AirgapError

FORMAT = "airgapkit-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"  # its member name in the archive


@dataclass
class Manifest:
    """``kind`` is ``base`` (made by export) or ``release`` (made by release). ``images`` holds one
    record per image (ref, member, id, tags, layers, size), ``files`` one ``{path, size, sha256}``
    per member, ``gate`` the image rules as they stood when the bundle was made."""

    kind: str
    app: dict
    images: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    created: str = ""
    created_by: str = f"airgapkit {__version__}"
    gate: dict | None = None
    # Set by trust/seal.py; absent (None) in bundles made without them:
    sbom: dict | None = None  # the SBOM member: {member, packages, base_image}
    contract: dict | None = None  # the env contract member: {member, keys}
    base_bundle: dict | None = None  # a release's base bundle: {archive, manifest_sha256, signer}

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=2, sort_keys=False).encode()

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> Manifest:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise AirgapError(f"{source}: manifest.json is not valid JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise AirgapError(
                f"{source}: manifest.json is not a JSON object; not an airgapkit bundle"
            )
        if body.get("format") != FORMAT or body.get("format_version") != FORMAT_VERSION:
            raise AirgapError(
                f"{source}: not an airgapkit bundle of format version {FORMAT_VERSION} "
                f"(found {body.get('format')!r} {body.get('format_version')!r}); "
                "make it again with this airgapkit version"
            )
        body.pop("format"), body.pop("format_version")
        try:
            return cls(**body)
        except TypeError as exc:
            raise AirgapError(
                f"{source}: manifest.json has fields this airgapkit does not know or lacks some it "
                "needs; make the bundle again with this airgapkit version"
            ) from exc

    def member(self, path: str) -> dict:
        for entry in self.files:
            if entry["path"] == path:
                return entry
        raise AirgapError(f"the bundle's manifest lists no member {path!r}")

    def members(self, prefix: str) -> list[dict]:
        return [entry for entry in self.files if entry["path"].startswith(prefix)]
