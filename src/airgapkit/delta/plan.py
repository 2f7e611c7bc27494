"""What a delta leaves out: the previous delivery, and what the far side holds since it arrived.

``--since REF`` names the previous delivery: ``last`` (the latest bundle of this app and kind in
this machine's history) or a bundle's manifest (``inv inspect BUNDLE --json > FILE``). From it:

- an export leaves out the base image when the far side got the same image ID before;
- a release carries only the app image's layers that the far side's images do not have, with the
  image's config and the full list of its layers; the rest comes from one image there (by ID).

Every left-out image is named in the new manifest's ``requires`` by ID, with the bundle that
carried it, so the far side can say what is missing before anything is decrypted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from .. import display
from ..crossing.bundle import archive_name
from ..crossing.manifest import Manifest
from ..engine import identity, images
from ..engine import store as stores
from ..errors import AirgapError
from ..history import History
from . import tars

LAST = "last"
ACTION = {"base": "export", "release": "release"}  # the flow that makes each kind of bundle


@dataclass(frozen=True)
class Previous:
    """A bundle delivered before, and every image the far side holds once it arrived."""

    archive: str  # its archive's name
    kind: str  # base or release
    app: str
    version: str
    held: tuple[dict, ...]  # {ref, id, layers, carried_by}

    def record(self) -> dict:
        """What a manifest says of it (``since``)."""
        return {"archive": self.archive, "kind": self.kind, "version": self.version}


def previous(ref: str, *, history: History | None, app: str, kind: str) -> Previous | None:
    """The delivery ``--since ref`` names, for a new bundle of ``app`` and ``kind``; None for ""."""
    if not ref:
        return None
    if ref == LAST:
        return _checked(_last(history, app, kind), f"the history {history.path}")
    return _checked(_from_manifest_file(Path(ref), app, kind), f"--since {ref}")


def _checked(found: Previous, where: str) -> Previous:
    """Every image ID the previous delivery records is a config digest (``engine.identity``)."""
    for image in found.held:
        identity.checked(
            image["id"],
            f"the ID of {image['ref']} in {where}",
            "give --since a manifest written by inv inspect BUNDLE --json",
        )
    return found


def _last(history: History | None, app: str, kind: str) -> Previous:
    action = ACTION[kind]
    if history is None:
        raise AirgapError(
            "--since last reads the history, and airgapkit.history is empty; set it, or give "
            "--since the previous bundle's manifest (inv inspect BUNDLE --json > FILE)"
        )
    entry = history.last(app=app, action=action)
    if entry is None:
        raise AirgapError(
            f"no earlier {action} of {app} in the history {history.path}; make a full bundle "
            f"first (without --since), or give --since the previous bundle's manifest"
        )
    return Previous(entry.archive, kind, entry.app, entry.version, tuple(entry.held()))


def _from_manifest_file(path: Path, app: str, kind: str) -> Previous:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AirgapError(
            f"--since {path}: {exc.strerror or exc}; give last or a manifest written by "
            "inv inspect BUNDLE --json"
        ) from exc
    manifest = Manifest.from_json(data, path)
    if manifest.app.get("name") != app:
        raise AirgapError(
            f"--since {path} is a bundle of {manifest.app.get('name')}, not {app}; give one of "
            f"{app}'s bundles"
        )
    if manifest.kind != kind:
        raise AirgapError(
            f"--since {path} is a {manifest.kind} bundle's manifest; {ACTION[kind]} --since "
            f"takes a {kind} bundle's"
        )
    return from_manifest(manifest)


def from_manifest(manifest: Manifest) -> Previous:
    name = archive_name(manifest.app, manifest.kind)
    carried = [
        {"ref": i["ref"], "id": i["id"], "layers": list(i.get("layers") or []), "carried_by": name}
        for i in manifest.images
    ]
    held = carried + [dict(req) for req in manifest.requires]
    return Previous(name, manifest.kind, manifest.app["name"], manifest.app["version"], tuple(held))


# --- what a new bundle leaves out -----------------------------------------------------------------


def held_whole(previous: Previous | None, ref: str, image_id: str) -> dict | None:
    """The requirement for an image the far side holds already (same ID), or None to carry it.

    Its layers go with it when they are known: the containerd image store cannot look an image up
    by its config digest, and finds it among the images that hold those layers.
    """
    for image in previous.held if previous else ():
        if image["id"] == image_id:
            requirement = {"ref": ref, "id": image_id, "carried_by": image["carried_by"]}
            return (
                {**requirement, "layers": image["layers"]} if image.get("layers") else requirement
            )
    return None


def layer_reuse(previous: Previous | None, image_id: str, layers: Sequence[str]) -> dict | None:
    """The requirement for an image carried in part: the far side's image sharing most of its
    layers, and which; None when no layer is shared (the image is carried whole)."""
    best, shared = None, []
    for image in previous.held if previous else ():
        if image["id"] == image_id:
            raise AirgapError(
                f"{image['ref']} ({image_id[:19]}) is the image {image['carried_by']} carried "
                "already; this delta would be applied twice: nothing to send"
            )
        have = set(image.get("layers") or ())
        common = [layer for layer in layers if layer in have]
        if len(common) > len(shared):
            best, shared = image, common
    if best is None:
        return None
    return {
        "ref": best["ref"],
        "id": best["id"],
        "carried_by": best["carried_by"],
        "for": image_id,
        "layers": list(dict.fromkeys(shared)),
    }


def leave_out_base(client, manifest: Manifest, ref: str, previous: Previous | None) -> list[str]:
    """The images an export carries: its base, unless the far side holds that image already."""
    if previous is None:
        return [ref]
    held = require_base(manifest, ref, identity.of_ref(client, ref), previous)
    return [] if held else [ref]


def require_base(manifest: Manifest, ref: str, image_id: str, previous: Previous | None) -> bool:
    """Name the base in the manifest's ``requires`` when the far side holds it (same ID): True
    then, and the base is left out; False when it must travel."""
    if previous is None:
        return False
    manifest.since = previous.record()
    requirement = held_whole(previous, ref, image_id)
    if requirement is not None:
        manifest.requires.append(requirement)
    return requirement is not None


def leave_out_layers(client, manifest: Manifest, ref: str, previous: Previous | None) -> dict:
    """{ref: filter} turning the release image's ``docker save`` stream into its partial one; {}
    when the image is carried whole."""
    if previous is None:
        return {}
    manifest.since = previous.record()
    image = images.require_image(client, ref)
    requirement = layer_reuse(previous, identity.of(client, image), image.attrs["RootFS"]["Layers"])
    if requirement is None:
        return {}
    manifest.requires.append(requirement)
    return {ref: partial(client, ref, set(requirement["layers"]))}


def partial(client, ref: str, leave_out: set[str]) -> Callable[[Iterable[bytes]], Iterator[bytes]]:
    """A filter: from ``ref``'s whole ``docker save`` stream to the same without the layers whose
    diff IDs are in ``leave_out``; whoever watches the stream, the secrets scan, sees every layer.

    On the classic store the engine is read once (``tars.without_held``): its ``docker save``
    makes each layer's tar anew, the costly part. The containerd store saves the blobs it keeps,
    gzip-compressed when it built them, so there reading them twice costs less than inflating each
    to learn its diff ID: the whole stream is read first (its closing ``manifest.json`` says which
    member is which layer), then the image is saved again and sent without those members.
    """
    diff_ids = images.require_image(client, ref).attrs["RootFS"]["Layers"]
    if stores.store(client) == stores.CLASSIC:
        return lambda whole: tars.without_held(whole, leave_out, diff_ids)

    def without_shared(whole: Iterable[bytes]) -> Iterator[bytes]:
        paths = tars.layer_paths(whole)
        if len(paths) != len(diff_ids):
            raise AirgapError(
                f"docker save of {ref} lists {len(paths)} layers, inspect {len(diff_ids)}"
            )
        drop = {p for p, d in zip(paths, diff_ids, strict=True) if d in leave_out}
        yield from tars.without(images.save_stream(client, [ref]), drop)

    return without_shared


# --- showing it -----------------------------------------------------------------------------------


def requirements_table(manifest: Manifest) -> Table | None:
    """For a delta: what the far side must hold before it takes the bundle; None for a full one."""
    if not manifest.requires:
        return None
    since = manifest.since or {}
    of = display.markup(since.get("archive", "an earlier bundle"))  # it came across the gap
    out = Table(title=f"Delta of {of}: needs on the far side", title_justify="left")
    for column in ("Image", "ID", "Carried by", "Used for"):
        out.add_column(column, overflow="fold")
    for req in manifest.requires:
        use = f"{len(req['layers'])} layers of {req['for'][:19]}" if req.get("for") else "whole"
        cells = (req["ref"], req["id"][:19], req["carried_by"], use)
        out.add_row(*(display.text(cell) for cell in cells))
    return out
