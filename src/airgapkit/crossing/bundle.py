"""The transfer bundle: one AES-256 archive with a manifest, its hash file and its password.

A bundle is what crosses the air gap. Inside the archive:

- ``images/<name>.tar``  each image, streamed straight from ``docker save`` (never staged on disk),
- ``app/<name>.tgz``     the packed app (base bundles),
- ``reports/...``        scanner reports carried for the gate on the other side,
- ``manifest.json``      what the bundle is and the size and SHA-256 of every member,
- ``manifest.json.sig``  when a signing key was given: the signature over manifest.json's bytes
                         (trust/signing.py), written after it and never listed in it.

Beside it, in other folders, go the archive's SHA-256 (second channel) and its password (third).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from ..engine import images
from ..engine.client import tar_name
from ..errors import AirgapError, IntegrityError
from . import extraction, sumsfile
from .archive import ArchiveReader, ArchiveWriter
from .manifest import MANIFEST, Manifest

MADE_BY = {"base": "inv export", "release": "inv release"}  # the task that makes each kind
TAKEN_BY = {"base": "inv release", "release": "inv deploy"}  # and the one that takes it


@dataclass
class Delivery:
    """Where the three parts of a bundle went: media, second channel, third channel."""

    archive: Path
    sums: Path
    password: Path | None


def archive_name(app: dict, kind: str) -> str:
    return f"{app['image_name']}-{app['version']}-{kind}.zip"


def image_record(client, ref: str, member: str) -> dict:
    attrs = images.require_image(client, ref).attrs
    return {
        "ref": ref,
        "member": member,
        "id": attrs["Id"],
        "repo_tags": attrs.get("RepoTags") or [],
        "layers": attrs.get("RootFS", {}).get("Layers", []),
        "size": attrs.get("Size"),
    }


def create(
    client,
    dest: Path,
    manifest: Manifest,
    *,
    image_refs: list[str],
    files: list[tuple[Path, str]],
    password: str,
    level: int,
    sign: Callable[[bytes], tuple[str, bytes]] | None = None,
) -> str:
    """Write the bundle archive at dest; return the archive's SHA-256.

    Images stream from the engine into their members while they are hashed, so a multi-GB image is
    read once and never held in memory. The manifest goes in last, when every hash is known. The
    archive's own SHA-256 is taken as it is written, so the finished archive is not read again.
    ``sign`` maps the manifest's bytes to a (member name, signature) pair stored after it.
    """
    manifest.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with ArchiveWriter(dest, password, level) as archive:
        for ref in image_refs:
            member = f"images/{tar_name(ref)}"
            record = image_record(client, ref, member)
            sha, size = archive.add_stream(member, images.save_stream(client, [ref]))
            manifest.images.append(record)
            manifest.files.append({"path": member, "size": size, "sha256": sha})
        for path, arcname in files:
            sha, size = archive.add_file(path, arcname)
            manifest.files.append({"path": arcname, "size": size, "sha256": sha})
        manifest_bytes = manifest.to_json()
        archive.add_bytes(MANIFEST, manifest_bytes)
        if sign is not None:
            archive.add_bytes(*sign(manifest_bytes))
    return archive.sha256  # hashed as it was written: no second read of the archive


class OpenBundle:
    """A bundle whose archive hash checked out, opened with its password."""

    def __init__(self, path: Path, reader: ArchiveReader, manifest: Manifest):
        self.path, self.reader, self.manifest = path, reader, manifest
        self.signature = None  # what the trust check found (trust/signing.Verdict), once made

    def open_member(self, path: str) -> IO[bytes]:
        """A decrypting stream of one member, whose SHA-256 is checked when it is read to the end."""
        entry = self.manifest.member(path)
        return self.reader.open(path, expected_sha256=entry["sha256"])

    def extract(self, path: str, dest_dir: Path) -> Path:
        """Extract one member into dest_dir, checked against the manifest's SHA-256."""
        entry = self.manifest.member(path)
        written = extraction.extract_members(
            self.reader, [path], dest_dir, expected={path: entry["sha256"]}
        )
        return written[0]

    def __enter__(self) -> OpenBundle:
        return self

    def __exit__(self, *exc) -> None:
        self.reader.close()

    def load_images(self, client) -> list[str]:
        """Stream every image member into ``docker load``; return the tags loaded."""
        loaded: list[str] = []
        for image in self.manifest.images:
            size = self.manifest.member(image["member"])["size"]
            with self.open_member(image["member"]) as stream:
                loaded += images.load(client, stream, size=size)
        return loaded


def read_manifest(reader: ArchiveReader, path: Path) -> Manifest:
    """The manifest inside an opened bundle archive (read whole: it is small, and capped)."""
    if MANIFEST not in reader.names():
        raise AirgapError(f"{path}: no manifest.json inside; this is not an airgapkit bundle")
    return Manifest.from_json(reader.read_bytes(MANIFEST), path)


def open_verified(path: Path, sums: Path | None, password: str, *, kind: str) -> OpenBundle:
    """Verify the archive against its separately delivered hash, then open it and check its kind.

    Nothing is decrypted before the hash checks out.
    """
    path = Path(path)
    if not path.is_file():
        raise AirgapError(f"bundle {path} does not exist; give the archive that came on the media")
    sums = sums or sumsfile.find_sums(path)
    if sums is None:
        raise IntegrityError(
            f"no hash file for {path}; give the SHA256SUMS that came by the second channel with --sums"
        )
    sumsfile.verify_file(path, sums)
    reader = ArchiveReader(path, password)
    try:
        manifest = read_manifest(reader, path)
    except BaseException:
        reader.close()
        raise
    if manifest.kind != kind:
        reader.close()
        raise AirgapError(
            f"{path} is a {manifest.kind} bundle, but this step needs a {kind} bundle "
            f"({TAKEN_BY.get(kind, 'this step')} takes the one "
            f"{MADE_BY.get(kind, 'airgapkit')} made)"
        )
    return OpenBundle(path, reader, manifest)


def deliver(archive: Path, archive_sha: str, hashes_dir: Path) -> Path:
    """Write the archive's hash file (sha256sum -c format) into the second-channel folder."""
    hashes_dir.mkdir(parents=True, exist_ok=True)
    sums = hashes_dir / f"{archive.name}.sha256"
    sumsfile.write_sums({archive.name: archive_sha}, sums)
    return sums
