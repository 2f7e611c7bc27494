"""The transfer bundle: one AES-256 archive with a manifest, its hash file and its password.

A bundle is what crosses the air gap. Inside the archive:

- ``images/<name>.tar``  each image, streamed from its source (``ImageSource``: ``docker save``, or
                         its registry), never staged on disk,
- ``app/<name>.tgz``     the packed app (base bundles),
- ``reports/...``        scanner reports carried for the gate on the other side,
- ``manifest.json``      what the bundle is and the size and SHA-256 of every member,
- ``manifest.json.sig``  when a signing key was given: the signature over manifest.json's bytes
                         (trust/signing.py), written after it and never listed in it.

Beside it, in other folders, go the archive's SHA-256 (second channel) and its password (third).
This module is the format alone: it knows no engine and no registry, only the image sources it is
given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Protocol

from .. import display, pipes
from ..errors import AirgapError, IntegrityError, UnsafeArchive
from . import channels, extraction, sumsfile, sumsverify, volumes
from .archive import ArchiveReader, ArchiveWriter
from .manifest import MANIFEST, SIGNATURE, Manifest

MADE_BY = {"base": "inv export", "release": "inv release"}  # the task that makes each kind
TAKEN_BY = {"base": "inv release", "release": "inv deploy"}  # and the one that takes it


@dataclass
class Delivery:
    """Where the three parts of a bundle went: media, second channel, third channel."""

    archive: Path
    sums: Path
    password: Path | None
    sha256: str = ""  # the archive's, as it was written
    manifest: Manifest | None = None  # what went in it


def archive_name(app: dict, kind: str) -> str:
    return f"{app['image_name']}-{app['version']}-{kind}.zip"


class ImageSource(Protocol):
    """An image a bundle carries: ``engine.source.SavedImage`` (``docker save``) or
    ``oci.RegistryImage`` (straight from its registry).

    ``chunks()`` is asked once and read whole into the member ``images/<tar_name>``, compressed at
    ``level`` (None: the archive's); ``record(member)`` then says what the manifest keeps of it.
    """

    ref: str
    tar_name: str
    level: int | None

    def chunks(self) -> Iterable[bytes]: ...

    def record(self, member: str) -> dict: ...


def create(
    dest: Path,
    manifest: Manifest,
    *,
    images: Sequence[ImageSource],
    files: list[tuple[Path, str]],
    password: str,
    level: int,
    split: int | None = None,
    commit: bool = True,
    watch: Callable[[Iterable[bytes]], object] | None = None,
    before_manifest: Callable[[Manifest, dict[str, object]], None] | None = None,
    image_filters: Mapping[str, Callable[[Iterable[bytes]], Iterable[bytes]]] | None = None,
    sign: Callable[[bytes], tuple[str, bytes]] | None = None,
) -> ArchiveWriter:
    """Write the bundle archive at dest (``commit=False``: left under its temporary name for
    ``write`` to make final last); the writer gives its SHA-256 and parts.

    ``watch`` reads each image's stream beside the archive (the release's secrets scan), and
    ``before_manifest(manifest, {ref: what watch returned})`` runs while the archive is still a
    temporary file: it may complete the manifest, or raise to leave nothing under ``dest``.

    Images stream from their sources into their members while they are hashed, so a multi-GB image
    is read once and never held in memory. The manifest goes in last, when every hash is known. The
    archive's own SHA-256 is taken as it is written, so the finished archive is not read again.
    ``image_filters[ref]`` turns an image's whole stream (watched as it goes by) into what its
    member holds instead: a delta's part of the image.

    ``sign`` maps the manifest's bytes to a (member name, signature) pair stored after it.
    """
    manifest.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    watchers = {}
    writer = ArchiveWriter(dest, password, level, split=split, commit=commit)
    with writer as archive:
        for image in images:
            member = f"images/{image.tar_name}"
            chunks = image.chunks()
            if watch is not None:
                chunks, watchers[image.ref] = pipes.tee(chunks, watch, name=f"watch {image.ref}")
            if image_filters and image.ref in image_filters:  # a delta: part of the image
                chunks = image_filters[image.ref](chunks)
            sha, size = archive.add_stream(member, chunks, level=image.level)
            manifest.images.append(image.record(member))
            manifest.files.append({"path": member, "size": size, "sha256": sha})
        for path, arcname in files:
            sha, size = archive.add_file(path, arcname)
            manifest.files.append({"path": arcname, "size": size, "sha256": sha})
        if before_manifest is not None:
            before_manifest(manifest, {ref: w.result() for ref, w in watchers.items()})
        manifest_bytes = manifest.to_json()
        archive.add_bytes(MANIFEST, manifest_bytes)
        if sign is not None:
            archive.add_bytes(*sign(manifest_bytes))
    return writer  # hashed as it was written: no second read of the archive


def write(
    dest: Path,
    manifest: Manifest,
    *,
    images: Sequence[ImageSource],
    files: list[tuple[Path, str]],
    password: str,
    level: int,
    hashes_dir: Path,
    password_file: Path | None,
    split: int | None = None,
    watch: Callable[[Iterable[bytes]], object] | None = None,
    before_manifest: Callable[[Manifest, dict[str, object]], None] | None = None,
    image_filters: Mapping[str, Callable[[Iterable[bytes]], Iterable[bytes]]] | None = None,
    sign: Callable[[bytes], tuple[str, bytes]] | None = None,
    force: bool = False,
) -> Delivery:
    """A bundle's three parts: the archive at ``dest`` (media), ``<name>.sha256`` in ``hashes_dir``
    (second channel) and, when given, ``password_file`` (third channel, mode 0600). All three are
    written aside and made final together, the archive last. An earlier delivery of the same
    bundle in these places is refused, or replaced whole with ``force`` (``channels.finalise``)."""
    sums = hashes_dir / f"{dest.name}.sha256"
    channels.check_earlier(dest, (sums, password_file), force)
    channels.clear_leftovers(
        dest.parent, hashes_dir, password_file.parent if password_file else None
    )
    writer = create(
        dest,
        manifest,
        images=images,
        files=files,
        password=password,
        level=level,
        split=split,
        commit=False,
        watch=watch,
        before_manifest=before_manifest,
        image_filters=image_filters,
        sign=sign,
    )
    secret = (password, password_file) if password_file else None
    entries = {dest.name: writer.sha256, **channels.part_entries(writer)}
    channels.finalise(
        writer, sums, entries, secret, forbidden_dir=dest.parent, replace_password=True
    )
    return Delivery(dest, sums, password_file, writer.sha256, manifest)


class OpenBundle:
    """A bundle whose archive hash checked out, opened with its password: read through the files
    that were hashed (``volumes.ArchiveFile``), which must not change while it is open."""

    def __init__(self, path: Path, reader: ArchiveReader, manifest: Manifest):
        self.path, self.reader, self.manifest = path, reader, manifest
        self.sha256 = ""  # the archive's, as checked against its hash file ("": none was given)
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
        self.close()

    def close(self) -> None:
        self.reader.close()
        self.reader.source.close()


def read_manifest(reader: ArchiveReader, path: Path) -> Manifest:
    """The manifest inside an opened bundle archive (read whole: it is small, and capped)."""
    if MANIFEST not in reader.names():
        raise AirgapError(f"{path}: no manifest.json inside; this is not an airgapkit bundle")
    return Manifest.from_json(reader.read_bytes(MANIFEST), path)


def open_verified(
    path: Path, sums: Path | None, password: str, *, kind: str | None, require_sums: bool = True
) -> OpenBundle:
    """Verify the archive against its separately delivered hash, then open it and check its kind.

    ``path`` is the archive, its first volume or the bare name of its volumes. Nothing is decrypted
    before the hash checks out, and what is read is what was hashed: the same open files. Without
    ``require_sums`` (inspect) a missing hash file is a warning. ``kind`` None takes either kind.
    """
    path = Path(path)
    if not path.exists() and not volumes.existing_volumes(volumes.archive_of(path)):
        raise AirgapError(f"bundle {path} does not exist; give the archive that came on the media")
    sums = sums or sumsfile.find_sums(path)
    if sums is None and require_sums:
        raise IntegrityError(
            f"no hash file for {path}; give the SHA256SUMS that came by the second channel with --sums"
        )
    source = volumes.open_archive(path)
    sha256 = ""
    try:
        if sums is not None:
            sha256 = sumsverify.verify_archive(source, sums)
        else:
            display.warn(f"no hash file for {display.safe(path)}; its integrity is not verified")
        reader = ArchiveReader(source, password)
    except BaseException:
        source.close()
        raise
    opened = OpenBundle(source.archive, reader, Manifest(kind="", app={}))
    opened.sha256 = sha256
    try:
        opened.manifest = read_manifest(reader, source.archive)
        check_agrees(reader, opened.manifest, source.archive)
        check_kind(opened.manifest, kind, source.archive)
    except BaseException:
        opened.close()
        raise
    return opened


def check_agrees(reader: ArchiveReader, manifest: Manifest, path: Path) -> None:
    """The archive's members are the manifest's files (and the manifest), of the listed sizes."""
    held = {i.filename: i for i in reader.infos() if not i.filename.endswith("/")}
    listed = {entry["path"]: entry for entry in manifest.files}
    for name in sorted(set(held) - set(listed) - {MANIFEST, SIGNATURE}):
        raise UnsafeArchive(
            f"{path} holds {display.safe(name)}, which its manifest does not list; refusing it"
        )
    for name, entry in sorted(listed.items()):
        if name not in held:
            raise UnsafeArchive(
                f"{path}: its manifest lists {display.safe(name)}, which the archive does not hold"
            )
        if held[name].file_size != entry["size"]:
            raise UnsafeArchive(
                f"{path}: member {display.safe(name)} is {held[name].file_size} bytes in the "
                f"archive but {entry['size']} in its manifest; refusing it"
            )
    for image in manifest.images:
        if image["member"] not in listed:
            raise UnsafeArchive(
                f"{path}: its manifest names image member {display.safe(image['member'])} but "
                "does not list it; refusing it"
            )


def check_kind(manifest: Manifest, kind: str | None, path: Path) -> None:
    if kind is not None and manifest.kind != kind:
        raise AirgapError(
            f"{path} is a {display.safe(manifest.kind)} bundle, but this step needs a {kind} "
            f"bundle ({TAKEN_BY.get(kind, 'this step')} takes the one "
            f"{MADE_BY.get(kind, 'airgapkit')} made)"
        )


def deliver(archive: Path, archive_sha: str, hashes_dir: Path) -> Path:
    """Write an archive's hash file (sha256sum -c format) into the second-channel folder (a bundle
    made by ``write`` has its own already)."""
    hashes_dir.mkdir(parents=True, exist_ok=True)
    sums = hashes_dir / f"{archive.name}.sha256"
    sumsfile.write_sums({archive.name: archive_sha}, sums)
    return sums
