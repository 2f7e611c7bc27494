"""Which layer a folder of the classic ``docker save`` layout holds, known before its ``layer.tar``.

Docker before 25.0 saves each layer as ``<v1 id>/layer.tar``, beside that folder's ``json`` (the
layer's legacy image config), which the stream gives first. The folder's name is a legacy ID that
moby computes from that config, the layer's chain ID and the parent folder's ID (``image/v1``
``CreateID``: the config's fields without ``id``, with ``layer_id`` and ``parent`` added, as JSON
with sorted keys). So a folder's layer is found, with no byte of its tar read, by trying the chain
IDs of the image's layers until one gives the folder's name: a match is a SHA-256 preimage, so it
is certain, and no match (another engine's way of naming) leaves the layer unknown.

The ``os`` field is written into the config after the ID is computed for every layer but the top
one, whose config is the image's own: both forms are tried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from json.decoder import scanstring

_MAX_CONFIG = 1 << 20  # a layer's legacy config is a few KB
_SPACE = " \t\r\n"


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of each layer: the first's diff ID, then sha256 of "<chain below> <diff ID>"."""
    chains: list[str] = []
    for diff_id in diff_ids:
        below = chains[-1] if chains else None
        chains.append(diff_id if below is None else _sha256(f"{below} {diff_id}".encode()))
    return chains


def layer_of(config: bytes, folder: str, chains: Sequence[str]) -> int | None:
    """The index (bottom first) of the layer whose chain ID names ``folder``, given the folder's
    ``json``; None when none does or the config cannot be read."""
    if len(config) > _MAX_CONFIG:
        return None
    try:
        fields = _raw_fields(config.decode())
        parent = json.loads(fields["parent"]) if "parent" in fields else None
    except (ValueError, KeyError, IndexError):
        return None
    for index, chain in enumerate(chains):
        for drop in ({"id", "parent", "os"}, {"id", "parent"}):
            if _legacy_id(fields, drop, chain, parent) == f"sha256:{folder}":
                return index
    return None


def _legacy_id(fields: dict[str, str], drop: set[str], chain: str, parent: str | None) -> str:
    kept = {key: raw for key, raw in fields.items() if key not in drop}
    kept["layer_id"] = json.dumps(chain)
    if parent is not None:
        kept["parent"] = json.dumps(f"sha256:{parent}")
    body = ",".join(f"{json.dumps(key)}:{kept[key]}" for key in sorted(kept))
    return _sha256(("{" + body + "}").encode())


def _raw_fields(text: str) -> dict[str, str]:
    """A JSON object's members with each value's text exactly as written (Go's encoder wrote it:
    compact, so the hash is taken over the same bytes)."""
    decoder, fields, at = json.JSONDecoder(), {}, _skip(text, 0)
    if text[at] != "{":
        raise ValueError("not a JSON object")
    at = _skip(text, at + 1)
    while text[at] != "}":
        key, at = scanstring(text, at + 1)
        at = _skip(text, at, ":")
        _, end = decoder.raw_decode(text, at)
        fields[key], at = text[at:end], _skip(text, end, ",")
    return fields


def _skip(text: str, at: int, also: str = "") -> int:
    while text[at] in _SPACE + also:
        at += 1
    return at


def _sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"
