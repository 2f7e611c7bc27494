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

The size the image rules judge differs the same way (``size``): the classic store's ``Size`` counts
the image's files, the containerd store's its blobs as stored, so there it is read from ``docker
save`` too: the length of every layer's tar.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from typing import IO

import docker
from docker.models.images import Image

from .. import tarstream
from ..errors import AirgapError
from ..fsutil import CHUNK
from .client import engine_address, engine_errors
from .images import find_image, require_image, save_several
from .store import CLASSIC, store

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_DOCUMENT = 4 << 20  # a manifest or an index: the limit registries themselves apply
ENGINE_TODO = "use a Docker Engine with the classic store or the containerd image store"

_configs: dict[tuple[str, str], str] = {}  # (manifest or index digest, platform) -> config digest
# (manifest or index digest, platform) -> the length of its layers' tars
_sizes: dict[tuple[str, str], int] = {}
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


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
        blobs = _blobs(client, image)
        try:
            for digest, data, size in blobs:
                if size <= MAX_DOCUMENT:
                    _keep_document(digest, data.read(), documents)
                manifest = _platform_manifest(documents, image)
                if manifest is not None:
                    return _config_of(manifest, image)
        finally:
            blobs.close()
    raise _no_manifest(image)


def size(client: docker.DockerClient, image: Image) -> int:
    """The image's size as the image rules measure it, on either store.

    The classic store's ``Size`` counts the image's files. The containerd store's counts its blobs
    as stored, compressed layers compressed, so there the length of each layer's tar is read from
    ``docker save`` instead (a gzip layer's trailer, a zstd layer decoded, a plain tar's own
    length): the whole image is read once, and what was read is kept for the run.
    """
    if store(client) == CLASSIC:
        return int(image.attrs.get("Size") or 0)
    key = (image.id, _platform(image))
    if key not in _sizes:
        _sizes[key] = _size_from_save(client, image)
    return _sizes[key]


def remember_size(image: Image, size: int) -> None:
    """Keep a size measured while the image's save streamed by for another use (a release's
    secrets scan reads every layer): ``size`` then answers from it on the containerd store."""
    _sizes[(image.id, _platform(image))] = size


def tar_length(head: bytes, tail: bytes, size: int) -> int | None:
    """The length of the tar a blob of ``size`` bytes holds, from its first and last bytes: a gzip
    member's trailer says it, a plain tar is its own length; None for zstd (known only decoded)."""
    from ..oci import sizes  # here: the oci package imports the gate, which imports this module

    if head[:2] == GZIP_MAGIC:
        return sizes.uncompressed_size(tail, size)
    return None if head[:4] == ZSTD_MAGIC else size


def _size_from_save(client, image: Image) -> int:
    documents: dict[str, dict] = {}
    lengths: dict[str, int] = {}
    with engine_errors(f"measure {_name(image)}"):
        blobs = _blobs(client, image)
        try:
            for digest, data, size in blobs:
                if size <= MAX_DOCUMENT:  # a manifest perhaps, or a small layer
                    raw = data.read()
                    _keep_document(digest, raw, documents)
                    data = io.BytesIO(raw)
                lengths[digest] = _tar_length(data, size, f"blob {digest} of {_name(image)}")
        finally:
            blobs.close()
    manifest = _platform_manifest(documents, image)
    if manifest is None:
        raise _no_manifest(image)
    _configs[(image.id, _platform(image))] = _config_of(manifest, image)  # learnt on the way
    return sum(lengths.get(layer.get("digest"), 0) for layer in manifest.get("layers") or [])


def _tar_length(data, size: int, what: str) -> int:
    """The length of the tar a layer blob holds: gzip's trailer says it, zstd is decoded, a plain
    tar is its own length (a config or manifest is counted too, and not summed)."""
    from ..oci import sizes  # here: the oci package imports the gate, which imports this module

    head = data.read(CHUNK)
    chunks = itertools.chain([head], iter(lambda: data.read(CHUNK), b""))  # a chunk at a time
    if head[:4] == ZSTD_MAGIC:
        decoded = sizes.ZstdLength(what, "run the same command again")  # export or release
        for chunk in chunks:
            decoded.update(chunk)
        return decoded.size
    tail = sizes.Tail()
    for chunk in chunks:
        tail.update(chunk)
    return tar_length(head, tail.bytes, size)


def _blobs(client, image: Image) -> Iterator[tuple[str, IO[bytes], int]]:
    """(digest, data, size) of each blob in the engine's ``docker save`` of ``image``, in the
    order it writes them; closing the generator closes the engine's stream."""
    chunks = save_several(client, [image.id])
    members = tarstream.members(chunks)
    try:
        for info, data in members:
            if data is not None and info.name.startswith("blobs/sha256/"):
                yield "sha256:" + info.name.rsplit("/", 1)[-1], data, info.size
    finally:
        members.close()
        chunks.close()


def _no_manifest(image: Image) -> AirgapError:
    return AirgapError(
        f"docker save of {_name(image)} holds no manifest for its ID {image.id[:19]}; the "
        "engine's copy of the image is incomplete: pull or load it again"
    )


def _keep_document(digest: str, raw: bytes, documents: dict[str, dict]) -> None:
    """Keep a blob that is a manifest or an index (small JSON); anything else is passed over."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # a small layer
    if isinstance(document, dict) and ("manifests" in document or "layers" in document):
        documents[digest] = document


def _platform_manifest(documents: dict[str, dict], image: Image) -> dict | None:
    """The manifest the image's ID names, or its platform's entry of the index the ID names, once
    the documents read so far hold it; None until then."""
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
    return document


def _config_of(manifest: dict, image: Image) -> str:
    from ..oci import manifests  # here: see _platform_manifest

    return manifests.descriptor(manifest.get("config"), _name(image), "config").digest
