"""Layers left out of a ``docker save`` archive and put back, on archives in both layouts engines
write (made by hand in tests/support/saved_images.py): the put-together archive holds every layer
its manifest names, with the right content, and nothing is held in memory."""

from __future__ import annotations

import gzip
import json
import os
import tracemalloc

import pytest
from saved_images import chunks, contents, layer, layers_of, saved, sha, tar

from airgapkit.delta import tars
from airgapkit.errors import AirgapError

BASE = [layer(("bin/sh", b"busybox" * 100)), layer(("usr/bin/node", b"node" * 300))]
V1 = [*BASE, layer(("app/app.js", b"v1"))]
V2 = [*BASE, layer(("app/app.js", b"v2")), layer(("app/extra.js", b"new"))]


def partial(archive: bytes, diff_ids: list[str], leave_out: set[str]) -> bytes:
    """What travels: the archive without the layers whose diff IDs are in ``leave_out``."""
    assert len(diff_ids) == len(tars.layer_paths(chunks(archive)))
    return b"".join(tars.without_held(chunks(archive), leave_out))


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


@pytest.mark.parametrize("oci", [False, True], ids=["classic", "oci"])
def test_leaving_out_by_path_sends_what_the_one_read_sends(oci):
    """The containerd store's way (the paths read from a first pass) against the one read."""
    archive, _, diff_ids = saved(V2, oci=oci)
    paths = tars.layer_paths(chunks(archive))
    drop = {p for p, d in zip(paths, diff_ids, strict=True) if d in set(diff_ids[:2])}
    by_path = contents(b"".join(tars.without(chunks(archive), drop)))
    assert by_path == contents(partial(archive, diff_ids, set(diff_ids[:2])))


def test_a_link_goes_with_the_layer_it_names():
    new = layer(("app/new", b"n"))
    v2, _, v2_layers = saved([*BASE, new, layer(("x", b"1")), new], ref="app:2")
    assert isinstance(contents(v2)[tars.layer_paths(chunks(v2))[4]], str)  # the engine's link
    sent = contents(partial(v2, v2_layers, set(v2_layers[:2])))
    assert isinstance(sent[tars.layer_paths(chunks(v2))[4]], str)  # kept: its target travels
    held = contents(partial(v2, v2_layers, {v2_layers[2]}))
    assert tars.layer_paths(chunks(v2))[4] not in held  # dropped with its target


def test_a_gzip_layer_is_known_by_the_diff_id_of_its_plain_tar():
    """The containerd store saves the layers it built gzip-compressed, named by their digest."""
    archive, _, diff_ids = saved(V2, oci=True)
    found = contents(archive)
    plain_name = tars.BLOBS + diff_ids[1][7:]
    zipped = gzip.compress(found.pop(plain_name), mtime=0)
    zipped_name = tars.BLOBS + sha(zipped)[7:]
    found[zipped_name] = zipped
    manifest = json.loads(found["manifest.json"])
    manifest[0]["Layers"][1] = zipped_name
    found["manifest.json"] = json.dumps(manifest).encode()
    sent = contents(partial(tar(*found.items()), diff_ids, {diff_ids[1]}))
    assert zipped_name not in sent
    assert all(tars.BLOBS + d[7:] in sent for d in (diff_ids[0], *diff_ids[2:]))


def test_leaving_out_streams():
    big = layer(("pad", os.urandom(32 << 20)))  # 32 MiB of one layer, held
    archive, _, diff_ids = saved([big, layer(("a", b"2"))])
    tracemalloc.start()
    try:
        total = sum(len(c) for c in tars.without_held(chunks(archive, 1 << 20), {diff_ids[0]}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total < 64 << 10
    # a few 1 MiB buffers, whatever the size: holding the layer would be 32 MiB
    assert peak < 16 << 20, f"peak {peak / (1 << 20):.1f} MiB leaving out a 32 MiB layer"


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
