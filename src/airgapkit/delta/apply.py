"""The far side of a delta: prerequisites checked first, images put back together and loaded.

Before anything of a bundle but its manifest is decrypted, every image its manifest ``requires``
must be in the engine, by ID; otherwise one line names the missing image and the bundle that
carried it. An image carried in part is then loaded from a complete archive streamed together from
the prerequisite's layers (read back from the engine with ``docker save``) and the bundle's own
member, and its ID is checked against the manifest's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from docker.utils import parse_repository_tag

from .. import tarstream
from ..crossing.bundle import OpenBundle
from ..crossing.manifest import Manifest
from ..engine import images
from ..engine.client import engine_errors
from ..errors import ImageMissing, IntegrityError
from ..fsutil import CHUNK
from . import tars


def check_prerequisites(client, manifest: Manifest, bundle: Path) -> None:
    """Refuse a delta whose prerequisites this engine lacks."""
    for req in manifest.requires:
        held = images.find_image(client, req["id"])
        tagged = images.find_image(client, req["ref"])
        moved = tagged if tagged is not None and tagged.id != req["id"] else None
        # An image needed whole (a base to build on) is used by its name: that must be the one.
        if held is None or (moved is not None and not req.get("for")):
            raise ImageMissing(_missing(req, moved, bundle))
        absent = set(req.get("layers") or ()) - set(held.attrs["RootFS"]["Layers"])
        if absent:
            raise ImageMissing(
                f"{bundle.name} needs {len(absent)} layers of {req['ref']} ({req['id'][:19]}) "
                "that the image here lacks; take a full bundle"
            )


def held_already(client, manifest: Manifest) -> list[dict]:
    """The images a delta carries in part that this engine holds already, by ID: an earlier deploy
    of the same delta loaded them (and may have been rolled back since)."""
    return [
        image
        for image in manifest.images
        if _reuse_for(manifest, image["id"]) and images.find_image(client, image["id"]) is not None
    ]


def _missing(req: dict, tagged, bundle: Path) -> str:
    if tagged is not None:
        return (
            f"{req['ref']} here is image {tagged.id[:19]}, not {req['id'][:19]} that "
            f"{req['carried_by']} carried and the delta {bundle.name} is made against; take "
            f"{req['carried_by']} first, or a full bundle"
        )
    return (
        f"the delta {bundle.name} needs image {req['ref']} ({req['id'][:19]}), which is not in "
        f"this engine: it came in {req['carried_by']}; take that bundle first, or a full one"
    )


def tag_prerequisites(client, manifest: Manifest) -> None:
    """Give an image needed whole (a base to build on) its name again when it is here by ID only."""
    for req in manifest.requires:
        if not req.get("for") and images.find_image(client, req["ref"]) is None:
            repository, tag = parse_repository_tag(req["ref"])
            with engine_errors(f"tag {req['id'][:19]} as {req['ref']}"):
                images.require_image(client, req["id"]).tag(repository, tag)


def base_image_ref(manifest: Manifest) -> str:
    """The base image of an export bundle: the one it carries, else the one it needs (a stack's
    other images travel beside it: never taken for it)."""
    services = {s["image"] for s in (manifest.stack or {}).get("services", [])}
    found = [i["ref"] for i in [*manifest.images, *manifest.requires] if i["ref"] not in services]
    return found[0] if found else manifest.images[0]["ref"]


def load_images(client, opened: OpenBundle) -> list[str]:
    """Every image of the bundle into the engine; one carried in part is put back together first
    and must then have its manifest's ID."""
    loaded: list[str] = []
    held = {image["id"] for image in held_already(client, opened.manifest)}
    for image in opened.manifest.images:
        if image["id"] in held:  # its ID is the digest of its content: nothing to load again
            _tag(client, image)
            loaded.append(image["ref"])
            continue
        size = opened.manifest.member(image["member"])["size"]
        req = _reuse_for(opened.manifest, image["id"])
        with opened.open_member(image["member"]) as member:
            if req is None:
                loaded += images.load(client, member, size=size)
                continue
            stream = tarstream.reader(_put_together(client, req, member, image["layers"]))
            loaded += images.load(client, stream, size=size + _size(client, req["id"]))
        _check_id(client, image)
    return loaded


def _tag(client, image: dict) -> None:
    repository, tag = parse_repository_tag(image["ref"])
    with engine_errors(f"tag {image['id'][:19]} as {image['ref']}"):
        images.require_image(client, image["id"]).tag(repository, tag)


def _put_together(client, req: dict, member: IO[bytes], layers: list[str]) -> Iterator[bytes]:
    prerequisite_layers = images.require_image(client, req["id"]).attrs["RootFS"]["Layers"]
    yield from tars.put_together(
        images.save_stream(client, [req["id"]]),
        prerequisite_layers,
        iter(lambda: member.read(CHUNK), b""),
        layers,
    )


def _check_id(client, image: dict) -> None:
    loaded = images.require_image(client, image["ref"]).id
    if loaded != image["id"]:
        raise IntegrityError(
            f"{image['ref']} loaded as image {loaded[:19]}, but the bundle's manifest says "
            f"{image['id'][:19]}; do not run it: take the bundle again"
        )


def _reuse_for(manifest: Manifest, image_id: str) -> dict | None:
    return next((req for req in manifest.requires if req.get("for") == image_id), None)


def _size(client, ref: str) -> int:
    return int(images.require_image(client, ref).attrs.get("Size") or 0)
