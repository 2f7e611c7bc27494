"""``docker save`` archives made by hand, in the two layouts engines write, for the tar-level tests.

Classic layout (Docker Engine's own image store): ``<id>/layer.tar`` per layer (a layer met twice is a
symbolic link to the first copy), ``<config id>.json``, ``manifest.json`` and ``repositories`` at the
end, in name order as the engine writes them. OCI layout (Docker 25 and later): ``blobs/sha256/<digest>``
for layers and the config, ``index.json``, ``oci-layout`` and ``manifest.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(*files: tuple[str, bytes]) -> bytes:
    """A layer tar holding ``files``."""
    return tar(*((name, data) for name, data in files))


def tar(*entries: tuple[str, bytes | str | None]) -> bytes:
    """A tar of (name, data) entries: bytes a file, a str a symbolic link to it, None a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                out.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data
                out.addfile(info)
            else:
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def saved(
    layers: list[bytes], *, ref: str = "app:1", oci: bool = False
) -> tuple[bytes, str, list[str]]:
    """A ``docker save`` archive of an image made of ``layers``: (archive, image ID, diff IDs)."""
    diff_ids = [sha(data) for data in layers]
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": diff_ids}, "ref": ref}).encode()
    image_id = sha(config)
    entries = _oci(layers, config) if oci else _classic(layers, config, image_id)
    paths = [p for p, _ in entries["layers"]]
    manifest = [{"Config": entries["config"], "RepoTags": [ref], "Layers": paths}]
    members = sorted(entries["members"], key=lambda e: e[0])
    members += [("manifest.json", json.dumps(manifest).encode())]
    if not oci:
        name, tag = ref.split(":")
        members += [("repositories", json.dumps({name: {tag: image_id[7:]}}).encode())]
    return tar(*members), image_id, diff_ids


def _classic(layers: list[bytes], config: bytes, image_id: str) -> dict:
    members, paths, first = [(f"{image_id[7:]}.json", config)], [], {}
    for index, data in enumerate(layers):
        folder = hashlib.sha256(f"{index}:{sha(data)}".encode()).hexdigest()  # a v1 ID stands in
        path = f"{folder}/layer.tar"
        members += [(f"{folder}/", None), (f"{folder}/VERSION", b"1.0"), (f"{folder}/json", b"{}")]
        if sha(data) in first:  # the engine links a layer it has written once already
            members.append((path, f"../{first[sha(data)]}"))
        else:
            first[sha(data)] = path
            members.append((path, data))
        paths.append((path, data))
    return {"members": members, "layers": paths, "config": f"{image_id[7:]}.json"}


def _oci(layers: list[bytes], config: bytes) -> dict:
    blobs = {f"blobs/sha256/{sha(data)[7:]}": data for data in [*layers, config]}
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    members = [("blobs/", None), ("blobs/sha256/", None), *blobs.items()]
    members += [("index.json", index), ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')]
    paths = [(f"blobs/sha256/{sha(data)[7:]}", data) for data in layers]
    return {"members": members, "layers": paths, "config": f"blobs/sha256/{sha(config)[7:]}"}


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def contents(archive: bytes) -> dict[str, bytes | str | None]:
    """Every member of a tar: its data, the target of a link, or None for a directory."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        for info in t:
            if info.issym():
                out[info.name] = info.linkname
            elif info.isfile():
                out[info.name] = t.extractfile(info).read()
            else:
                out[info.name] = None
    return out


def layers_of(archive: bytes) -> list[str]:
    """The diff IDs of the layers a complete archive's manifest.json points at, links followed.

    A diff ID is the digest of the layer's plain tar: the containerd image store keeps (and saves)
    the layers it builds gzip-compressed.
    """
    found = contents(archive)
    manifest = json.loads(found["manifest.json"])
    out = []
    for path in manifest[0]["Layers"]:
        data = found[path]
        if isinstance(data, str):  # a link, relative to the link's folder
            data = found[str(_join(path, data))]
        out.append(sha(gzip.decompress(data) if data[:2] == GZIP_MAGIC else data))
    return out


def _join(path: str, target: str) -> str:
    import posixpath

    return posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
