"""The one reach into python-dxf's internals: a ranged read of a blob's last bytes.

dxf's public API reads a blob whole (``pull_blob``); the gate wants only each gzip layer's last four
bytes (its uncompressed size, see ``sizes``) without moving the layers. ``DXF._request`` is the
method every public call goes through (authentication and retries on 401 included), so a ranged GET
through it is authenticated like the rest. ``tests/test_oci_dxfcompat.py`` breaks loudly if a dxf
upgrade renames or reshapes it.
"""

from __future__ import annotations

from dxf import DXF


def blob_tail(dxf: DXF, digest: str, count: int, size: int) -> bytes | None:
    """The last ``count`` bytes of a ``size``-byte blob, or None when the registry ignores ranges."""
    if size <= 0:
        return None
    start = max(size - count, 0)
    response = dxf._request(  # noqa: SLF001 - see the module docstring
        "get", "blobs/" + digest, headers={"Range": f"bytes={start}-{size - 1}"}, stream=True
    )
    with response:
        if response.status_code != 206:  # a whole blob instead: not worth reading here
            return None
        tail = response.raw.read(size - start + 1)  # at most one byte past, to notice a liar
    return tail if len(tail) == size - start else None
