"""Layers left out of a ``docker save`` archive and put back, on archives in both layouts engines
write (made by hand in tests/support/saved_images.py): the put-together archive holds every layer
its manifest names, with the right content, and nothing is held in memory."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from saved_images import chunks, contents, layer, layers_of, saved, sha

from airgapkit.delta import tars
from airgapkit.errors import AirgapError

BASE = [layer(("bin/sh", b"busybox" * 100)), layer(("usr/bin/node", b"node" * 300))]
V1 = [*BASE, layer(("app/app.js", b"v1"))]
V2 = [*BASE, layer(("app/app.js", b"v2")), layer(("app/extra.js", b"new"))]


def partial(archive: bytes, diff_ids: list[str], leave_out: set[str]) -> bytes:
    """What travels: the archive without the layers whose diff IDs are in ``leave_out``."""
    paths = tars.layer_paths(chunks(archive))
    drop = {p for p, d in zip(paths, diff_ids, strict=True) if d in leave_out}
    return b"".join(tars.without(chunks(archive), drop))


@pytest.mark.parametrize("oci", [False, True], ids=["classic", "oci"])
def test_a_delta_leaves_shared_layers_out_and_keeps_their_list(oci):
    archive, _, diff_ids = saved(V2, oci=oci)
    shared = set(diff_ids[:2])
    sent = partial(archive, diff_ids, shared)
    found = contents(sent)
    manifest = json.loads(found["manifest.json"])
    assert len(manifest[0]["Layers"]) == len(V2)  # the full list of layers the image needs
    present = [p for p in manifest[0]["Layers"] if p in found]
    assert [sha(found[p]) for p in present] == diff_ids[2:]  # only the new ones travel
    assert "index.json" not in found and "oci-layout" not in found  # they would name absent blobs
    assert len(sent) < len(archive) - len(BASE[0]) - len(BASE[1]) + 2048


@pytest.mark.parametrize("oci", [False, True], ids=["classic", "oci"])
@pytest.mark.parametrize("prerequisite_oci", [False, True], ids=["from-classic", "from-oci"])
def test_put_together_gives_a_complete_archive(oci, prerequisite_oci):
    v1, _, v1_layers = saved(V1, ref="app:1", oci=prerequisite_oci)
    v2, _, v2_layers = saved(V2, ref="app:2", oci=oci)
    sent = partial(v2, v2_layers, set(v1_layers))
    whole = b"".join(tars.put_together(chunks(v1), v1_layers, chunks(sent), v2_layers))
    assert layers_of(whole) == v2_layers  # every layer the manifest names is there, as it was
    found = contents(whole)
    manifest = json.loads(found["manifest.json"])
    assert manifest[0]["RepoTags"] == ["app:2"]
    assert json.loads(found[manifest[0]["Config"]])["ref"] == "app:2"  # the image's own config


def test_a_layer_met_twice_is_matched_through_the_linked_copy():
    twice = layer(("app/empty", b""))
    v1, _, v1_layers = saved([*BASE, twice, layer(("x", b"1")), twice])
    assert isinstance(contents(v1)[tars.layer_paths(chunks(v1))[4]], str)  # the engine's link
    v2, _, v2_layers = saved([*BASE, twice, layer(("y", b"2"))], ref="app:2")
    sent = partial(v2, v2_layers, set(v1_layers))
    whole = b"".join(tars.put_together(chunks(v1), v1_layers, chunks(sent), v2_layers))
    assert layers_of(whole) == v2_layers


def test_a_prerequisite_that_lacks_a_layer_is_refused():
    v2, _, v2_layers = saved(V2, ref="app:2")
    other, _, other_layers = saved([layer(("etc/os", b"other"))], ref="other:1")
    sent = partial(v2, v2_layers, set(v2_layers[:2]))
    with pytest.raises(AirgapError, match="neither in the delta nor in its prerequisite image"):
        b"".join(tars.put_together(chunks(other), other_layers, chunks(sent), v2_layers))


def test_a_partial_archive_that_does_not_match_its_manifest_is_refused():
    v1, _, v1_layers = saved(V1)
    v2, _, v2_layers = saved(V2, ref="app:2")
    sent = partial(v2, v2_layers, set(v1_layers))
    with pytest.raises(AirgapError, match="lists 4 layers, its bundle's manifest 3"):
        b"".join(tars.put_together(chunks(v1), v1_layers, chunks(sent), v2_layers[:3]))


def test_a_stream_without_manifest_is_refused():
    with pytest.raises(AirgapError, match="no manifest.json"):
        tars.layer_paths(chunks(layer(("a", b"1"))))


def test_putting_together_streams(tmp_path):
    big = layer(("pad", bytes(64 << 20)))  # 64 MiB of one layer, shared
    v1, _, v1_layers = saved([big, layer(("a", b"1"))])
    v2, _, v2_layers = saved([big, layer(("a", b"2"))], ref="app:2")
    sent = partial(v2, v2_layers, set(v1_layers))
    tracemalloc.start()
    try:
        total = sum(
            len(c)
            for c in tars.put_together(chunks(v1, 1 << 20), v1_layers, chunks(sent), v2_layers)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 64 << 20
    # a few 1 MiB buffers on each side, whatever the size: holding the layer would be 64 MiB
    assert peak < 16 << 20, f"peak {peak / (1 << 20):.1f} MiB putting together a 64 MiB layer"
