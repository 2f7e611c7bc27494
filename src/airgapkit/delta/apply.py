"""The far side of a delta: prerequisites checked first, images put back together and loaded.

Before anything of a bundle but its manifest is decrypted, every image its manifest ``requires``
must be in the engine, the very image (its config digest, ``engine.identity``, on either image
store); otherwise one line names the missing image and the bundle that carried it. An image
carried in part is then loaded one of two ways, and its config digest is checked against the
manifest's:

- on the classic store, the bundle's own member as it is (its own layers, the config and
  ``manifest.json``): ``docker load`` there takes a layer whose chain ID (the layer and every layer
  below it) it holds from its store and never opens the file (moby ``image/tarexport/load.go``), so
  this is done when every layer left out sits on the same layers as in the prerequisite;
- otherwise (the containerd image store, whose ``docker load`` skips no layer absent from the tar,
  or layers left out on other layers below them), from a complete archive streamed together from
  the prerequisite's layers (read back from the engine with ``docker save``) and the member.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from docker.utils import parse_repository_tag

from .. import tarstream
from ..crossing.bundle import OpenBundle
from ..crossing.manifest import Manifest
from ..engine import identity, images
from ..engine import store as stores
from ..engine.client import console, engine_errors
from ..errors import AirgapError, ImageMissing, IntegrityError
from ..fsutil import CHUNK
from . import tars

RECORDED_TODO = "make the bundle again with this airgapkit"
ZSTD_API = (1, 42)  # Docker 23.0's API: its docker load reads zstd layers (20.10's does not)


def check_prerequisites(client, manifest: Manifest, bundle: Path) -> None:
    """Refuse a delta whose prerequisites this engine lacks; before that, a manifest naming an
    image by an ID of another form, and an engine whose image store cannot be told (nothing of
    the bundle is loaded then)."""
    for record in [*manifest.images, *manifest.requires]:
        _recorded_id(record)
    stores.store(client)
    _check_loadable(client, manifest, bundle)
    for req in manifest.requires:
        held = _held(client, req)
        tagged = images.find_image(client, req["ref"])
        moved = tagged if tagged is not None and tagged != held else None
        # An image needed whole (a base to build on) is used by its name: that must be the one.
        if held is None or (moved is not None and not req.get("for")):
            raise ImageMissing(_missing(client, req, moved, bundle))
        absent = set(req.get("layers") or ()) - set(held.attrs["RootFS"]["Layers"])
        if absent:
            raise ImageMissing(
                f"{bundle.name} needs {len(absent)} layers of {req['ref']} ({req['id'][:19]}) "
                "that the image here lacks; take a full bundle"
            )


def _check_loadable(client, manifest: Manifest, bundle: Path) -> None:
    """Refuse an image whose layers this engine's ``docker load`` cannot read (zstd before 23.0)."""
    zstd = [image["ref"] for image in manifest.images if image.get("compression") == "zstd"]
    if not zstd:
        return
    with engine_errors("ask the Docker Engine for its API version"):
        api = str(client.version().get("ApiVersion") or "0")
    if tuple(int(part) for part in api.split(".") if part.isdigit()) < ZSTD_API:
        raise AirgapError(
            f"{zstd[0]} in {bundle.name} has zstd-compressed layers, which the Docker Engine here "
            f"(API {api}) cannot load: Docker 23.0 and later can; deploy it on such an engine, or "
            "export the image again from a copy with gzip layers"
        )


def held_already(client, manifest: Manifest) -> list[dict]:
    """The images a delta carries in part that this engine holds already (the same config digest):
    an earlier deploy of the same delta loaded them (and may have been rolled back since)."""
    return [
        image
        for image in manifest.images
        if _reuse_for(manifest, image["id"]) and _held(client, image) is not None
    ]


def _held(client, record: dict):
    """The local image a manifest's record (an image or a requirement) names, or None."""
    return identity.find(client, _recorded_id(record), record["ref"], record.get("layers") or ())


def _recorded_id(record: dict) -> str:
    return identity.checked(
        record["id"], f"the ID of {record['ref']} in the bundle's manifest", RECORDED_TODO
    )


def _missing(client, req: dict, tagged, bundle: Path) -> str:
    if tagged is not None:
        return (
            f"{req['ref']} here is image {identity.of(client, tagged)[:19]}, not {req['id'][:19]} "
            f"that {req['carried_by']} carried and the delta {bundle.name} is made against; take "
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
            _tag(client, req)


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
        if image["id"] in held:  # its config digest names its content: nothing to load again
            _tag(client, image)
            loaded.append(image["ref"])
            continue
        size = opened.manifest.member(image["member"])["size"]
        req = _reuse_for(opened.manifest, image["id"])
        with opened.open_member(image["member"]) as member:
            if req is None:
                loaded += images.load(client, member, size=size)
                continue
            loaded += load_partial(client, image, req, member, size, opened.path)
        _check_id(client, image)
    return loaded


def load_partial(
    client, image: dict, req: dict, member: IO[bytes], size: int, bundle: Path
) -> list[str]:
    """Load an image carried in part (``member``: its partial archive) beside the prerequisite
    ``req`` it was made against; one line says which way (the module's docstring)."""
    prerequisite = _held(client, req)
    try:
        if prerequisite is None:  # check_prerequisites found it: it went since
            raise ImageMissing(_gone(req, image, bundle))
        return _load_beside(client, image, req, prerequisite, member, size)
    except AirgapError:
        if _held(client, req) is None:  # the layers the delta leaves out went during the load
            raise ImageMissing(_gone(req, image, bundle)) from None
        raise


def _load_beside(client, image: dict, req: dict, prerequisite, member: IO[bytes], size: int):
    held_layers = prerequisite.attrs["RootFS"]["Layers"]
    if stores.store(client) == stores.CLASSIC and held_by_chain(
        held_layers, image["layers"], set(req["layers"])
    ):
        console.print(
            f"delta: {image['ref']} loaded from its own layers; the engine's classic store holds "
            f"the {len(req['layers'])} it shares with {req['ref']}"
        )
        return images.load(client, member, size=size)
    console.print(
        f"delta: {image['ref']} put back together with {len(req['layers'])} layers of "
        f"{req['ref']} read from the engine ({_why_whole(client)})"
    )
    stream = tarstream.reader(_put_together(client, prerequisite, member, image["layers"]))
    return images.load(client, stream, size=size + int(prerequisite.attrs.get("Size") or 0))


def held_by_chain(held_layers: list[str], layers: list[str], left_out: set[str]) -> bool:
    """True when every layer left out of an image (diff IDs ``layers``) sits on the same layers
    below it as in an image held (``held_layers``): the classic store then holds it by its chain
    ID, and its ``docker load`` takes it from there."""
    same_below = 0
    for mine, held in zip(layers, held_layers, strict=False):  # the shorter ends it
        if mine != held:
            break
        same_below += 1
    return all(at < same_below for at, layer in enumerate(layers) if layer in left_out)


def _why_whole(client) -> str:
    if stores.store(client) == stores.CONTAINERD:
        return "the containerd image store loads no layer absent from the archive"
    return "a layer left out sits on other layers here"


def _gone(req: dict, image: dict, bundle: Path) -> str:
    return (
        f"{req['ref']} ({req['id'][:19]}), whose layers the delta {bundle.name} leaves out of "
        f"{image['ref']}, is no longer in this engine (removed during the deploy?); take "
        f"{req['carried_by']} again, then the delta, or a full bundle"
    )


def _tag(client, record: dict) -> None:
    """Give the image a record names (an image or a requirement held here) the record's name."""
    repository, tag = parse_repository_tag(record["ref"])
    with engine_errors(f"tag {record['id'][:19]} as {record['ref']}"):
        _held(client, record).tag(repository, tag)


def _put_together(client, prerequisite, member: IO[bytes], layers: list[str]) -> Iterator[bytes]:
    yield from tars.put_together(
        images.save_stream(client, [prerequisite.id]),
        prerequisite.attrs["RootFS"]["Layers"],
        iter(lambda: member.read(CHUNK), b""),
        layers,
    )


def _check_id(client, image: dict) -> None:
    loaded = identity.of_ref(client, image["ref"])
    if loaded != image["id"]:
        raise IntegrityError(
            f"{image['ref']} loaded as image {loaded[:19]}, but the bundle's manifest says "
            f"{image['id'][:19]}; do not run it: take the bundle again"
        )


def _reuse_for(manifest: Manifest, image_id: str) -> dict | None:
    return next((req for req in manifest.requires if req.get("for") == image_id), None)
