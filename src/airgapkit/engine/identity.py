"""What an image is, the same on both of Docker's image stores: the digest of its config.

The two stores report an image's ID differently:

- the classic store: the SHA-256 of the image's config (``docker image inspect``'s ``Id``);
- the containerd image store: the digest of the image's manifest, or of its index. A manifest also
  names the layers as they are packed (plain or gzip, by which compressor), so the same image
  saved on one engine and loaded on another is given another ID there.

Both keep the config's exact bytes. The config names every layer by its diff ID (the digest of
the layer's plain tar, which both stores report as ``RootFS.Layers``) and says how the image runs,
so its digest is the one identity both stores agree on, and the one a registry's manifest names
too. Bundles record it (``id``) and every comparison is made on it. On the containerd store it is
read from the manifest the engine's ID names, in the engine's own ``docker save`` stream, which is
read only as far as that manifest. A manifest's digest fixes its config's, so what was read is
kept for the rest of the run.

Looking an image up is the engine's business and uses the engine's own ID (``Image.id``); an
identity is never given to the engine as a name.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence

import docker
from docker.models.images import Image

from .. import tarstream
from ..errors import AirgapError
from .client import engine_address, engine_errors
from .images import find_image, require_image, save_several

CLASSIC = "classic"
CONTAINERD = "containerd"
# The storage drivers of the classic store (graph drivers); the containerd store reports its
# snapshotter as the driver and says so in DriverStatus.
GRAPH_DRIVERS = frozenset(
    {"overlay2", "overlay", "fuse-overlayfs", "btrfs", "zfs", "aufs", "devicemapper", "vfs",
     "windowsfilter", "lcow"}
)  # fmt: skip
SNAPSHOTTER = "io.containerd.snapshotter."
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_DOCUMENT = 4 << 20  # a manifest or an index: the limit registries themselves apply
ENGINE_TODO = "use a Docker Engine with the classic store or the containerd image store"

_stores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # client -> its store
_configs: dict[tuple[str, str], str] = {}  # (manifest or index digest, platform) -> config digest


class UnknownStore(AirgapError):
    """The engine does not say which image store it keeps."""


def store(client: docker.DockerClient) -> str:
    """CLASSIC or CONTAINERD: the image store of the engine ``client`` talks to (asked once)."""
    if client not in _stores:
        with engine_errors("ask the Docker Engine which image store it keeps"):
            info = client.info()
        _stores[client] = store_of(info)
    return _stores[client]


def store_of(info: dict) -> str:
    """The store an engine's ``docker info`` describes; UnknownStore when it says neither."""
    status = {
        str(pair[0]): str(pair[1])
        for pair in info.get("DriverStatus") or []
        if isinstance(pair, list | tuple) and len(pair) == 2
    }
    if status.get("driver-type", "").startswith(SNAPSHOTTER):
        return CONTAINERD
    driver = info.get("Driver") or ""
    if driver in GRAPH_DRIVERS:
        return CLASSIC
    raise UnknownStore(
        f"the Docker Engine at {engine_address()} reports storage driver {driver!r} and no "
        "containerd snapshotter, so which image store it keeps cannot be told; check "
        "`docker info` (Storage Driver) and use an engine with the classic store or the "
        "containerd image store"
    )


def checked(digest: object, what: str, todo: str) -> str:
    """``digest`` if it is a sha256 digest (``sha256:`` and 64 hex digits), else one line."""
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise AirgapError(
            f"{what} is {str(digest)[:80]!r}, not an image ID airgapkit knows (sha256: and 64 "
            f"hex digits); {todo}"
        )
    return digest


def of(client: docker.DockerClient, image: Image) -> str:
    """The image's config digest, whichever store holds it."""
    engine_id = checked(
        image.id,
        f"the ID the Docker Engine at {engine_address()} gives {_name(image)}",
        ENGINE_TODO,
    )
    if store(client) == CLASSIC:
        return engine_id
    key = (engine_id, _platform(image))
    if key not in _configs:
        _configs[key] = _config_from_save(client, image)
    return _configs[key]


def same(client: docker.DockerClient, image: Image, identity: str) -> bool:
    """Whether ``image`` is the image ``identity`` (a config digest) names."""
    return of(client, image) == identity


def of_ref(client: docker.DockerClient, ref: str) -> str:
    """The config digest of the local image ``ref`` names (ImageMissing when there is none)."""
    return of(client, require_image(client, ref))


def of_container(client: docker.DockerClient, container) -> str:
    """The config digest of the image a container was made from; "" when that image is gone."""
    image = find_image(client, container.attrs["Image"])
    return of(client, image) if image is not None else ""


def find(
    client: docker.DockerClient, identity: str, ref: str = "", layers: Sequence[str] = ()
) -> Image | None:
    """The local image whose config digest is ``identity``, or None.

    Looked for under ``ref`` first. The classic store also finds it by its ID; on the containerd
    store it is looked for among the images that hold every one of ``layers``, when they are given.
    """
    if ref:
        named = find_image(client, ref)
        if named is not None and same(client, named, identity):
            return named
    if store(client) == CLASSIC:
        return find_image(client, identity)
    for image in _with_layers(client, layers):
        if same(client, image, identity):
            return image
    return None


def _with_layers(client: docker.DockerClient, layers: Sequence[str]) -> list[Image]:
    if not layers:
        return []
    with engine_errors("list the images"):
        found = client.images.list()
    return [i for i in found if set(layers) <= set(i.attrs.get("RootFS", {}).get("Layers") or ())]


def _name(image: Image) -> str:
    return (image.tags or [image.short_id])[0]


def _platform(image: Image) -> str:
    """os/architecture[/variant] of the image, as the engine says (an index's entry is chosen by it)."""
    attrs = image.attrs
    parts = (attrs.get("Os"), attrs.get("Architecture"), attrs.get("Variant"))
    return "/".join(part for part in parts if part)


def _config_from_save(client, image: Image) -> str:
    """The config digest in the manifest the containerd store's ID names (or that its index names
    for the image's platform), read from ``docker save`` up to the documents it needs.

    ``docker save`` writes the blobs in digest order, then ``index.json`` and ``manifest.json``: the
    manifest may come after the layers, so the stream is read as far as it and then closed.
    """
    documents: dict[str, dict] = {}
    with engine_errors(f"read the manifest of {_name(image)}"):
        chunks = save_several(client, [image.id])
        members = tarstream.members(chunks)
        try:
            for info, data in members:
                _keep_document(info, data, documents)
                config = _config_digest(documents, image)
                if config:
                    return config
        finally:
            members.close()
            chunks.close()
    raise AirgapError(
        f"docker save of {_name(image)} holds no manifest for its ID {image.id[:19]}; the "
        "engine's copy of the image is incomplete: pull or load it again"
    )


def _keep_document(info, data, documents: dict[str, dict]) -> None:
    """Keep a blob that may be a manifest or an index (small JSON); layers are passed over."""
    name = info.name
    if data is None or not name.startswith("blobs/sha256/") or info.size > MAX_DOCUMENT:
        return
    raw = data.read()
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # a small layer
    if isinstance(document, dict) and ("manifests" in document or "layers" in document):
        documents["sha256:" + name.rsplit("/", 1)[-1]] = document


def _config_digest(documents: dict[str, dict], image: Image) -> str:
    """The config digest once the documents read so far lead to it; "" until then."""
    # Imported here: the oci package imports the gate, which imports this module.
    from ..oci import manifests, platforms
    from ..oci.errors import RegistryError

    document = documents.get(image.id)
    if document is not None and "manifests" in document:
        platform = _platform(image)
        try:
            entry = manifests.choose(document, platforms.parse(platform), _name(image))
        except RegistryError as exc:
            raise AirgapError(
                f"the engine's index {image.id[:19]} of {_name(image)} names no {platform} "
                "manifest that airgapkit reads; pull or load the image again"
            ) from exc
        document = documents.get(entry.digest)
    if document is None:
        return ""
    config = manifests.descriptor(document.get("config"), _name(image), "config")
    return config.digest
