"""What airgapkit relies on in python-dxf beyond its documented API; an upgrade that changes it fails here.

1. ``DXF._request`` (dxfcompat's ranged read), authenticated like the public calls.
2. ``pull_blob`` hashes the blob as it streams and raises ``DXFDigestMismatchError`` at its end: the
   export's only check of a layer's digest (one SHA-256 pass per byte, not two).
"""

from __future__ import annotations

import pytest
import registries
from dxf import exceptions as dxf_errors

from airgapkit.oci import dxfcompat

pytest_plugins = ["oci_fixtures"]


def test_blob_tail_reads_the_last_bytes_by_a_range(oci_registry):
    pushed = registries.push(oci_registry.addr, "tiny/tail", "1", [{"file": b"y" * 3000}])
    dxf = registries.dxf_for(oci_registry.addr, "tiny/tail")
    whole = b"".join(dxf.pull_blob(pushed.layer_digests[0]))
    assert dxfcompat.blob_tail(dxf, pushed.layer_digests[0], 4, len(whole)) == whole[-4:]
    assert dxfcompat.blob_tail(dxf, pushed.layer_digests[0], 10**6, len(whole)) == whole


def test_blob_tail_authenticates_like_the_public_calls(secure_registry):
    digest = secure_registry.pushed.layer_digests[0]
    dxf = registries.dxf_for(
        secure_registry.addr, "tiny/app", ca=secure_registry.ca, login=secure_registry.login
    )
    whole = b"".join(dxf.pull_blob(digest))
    fresh = registries.dxf_for(
        secure_registry.addr, "tiny/app", ca=secure_registry.ca, login=secure_registry.login
    )
    assert dxfcompat.blob_tail(fresh, digest, 4, len(whole)) == whole[-4:]  # its first call: a 401


def test_pull_blob_raises_on_a_digest_mismatch_at_the_end(tmp_path):
    with registries.serve(tmp_path / "registry") as served:
        pushed = registries.push(served.addr, "tiny/bad", "1", [{"file": b"z" * 3000}])
        path = registries.blob_file(served, pushed.layer_digests[0])
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        chunks = registries.dxf_for(served.addr, "tiny/bad").pull_blob(
            pushed.layer_digests[0], chunk_size=512
        )
        received = []
        with pytest.raises(dxf_errors.DXFDigestMismatchError) as info:
            for chunk in chunks:
                received.append(chunk)
        assert b"".join(received) == bytes(data)  # every byte passed before the verdict
        assert info.value.expected == pushed.layer_digests[0]
