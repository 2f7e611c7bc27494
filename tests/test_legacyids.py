"""The layer a folder of the classic ``docker save`` layout holds, told from its ``json`` alone.

The fixture ``tests/fixtures/legacy-save`` is what Docker 20.10 saved of a seven-layer image (each
folder's ``json``, the image's diff IDs and its manifest's folder order): the top layer's config
holds characters Go's encoder escapes (``<&>``). The engine tests leave layers out of a real
``docker save`` stream both ways, by the folders' names and by hashing, and get the same archive.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from saved_images import contents

from airgapkit.delta import legacyids, tars
from airgapkit.engine import images
from conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "legacy-save"


def fixture() -> tuple[list[str], list[str]]:
    diff_ids = json.loads((FIXTURE / "diff-ids.json").read_text())
    return diff_ids, json.loads((FIXTURE / "folders.json").read_text())


def config(folder: str) -> bytes:
    return (FIXTURE / f"{folder}.json").read_bytes()


def test_every_folder_is_told_by_its_config():
    diff_ids, folders = fixture()
    chains = legacyids.chain_ids(diff_ids)
    assert [legacyids.layer_of(config(f), f, chains) for f in folders] == list(range(len(folders)))


def test_chain_ids_are_the_engines():
    diff_ids, _ = fixture()
    chains = legacyids.chain_ids(diff_ids)
    assert chains[0] == diff_ids[0]
    # the second as the OCI image spec defines it: sha256 of "<chain below> <diff ID>"
    below_and_mine = f"{diff_ids[0]} {diff_ids[1]}".encode()
    assert chains[1] == f"sha256:{hashlib.sha256(below_and_mine).hexdigest()}"


@pytest.mark.parametrize(
    "change",
    [
        lambda c, f: (c, "0" * 64),  # a folder named otherwise
        lambda c, f: (c.replace(b'"1970', b'"1971', 1), f),  # a config changed by a byte
        lambda c, f: (c[:-1], f),  # cut short
        lambda c, f: (b"[]", f),  # no object
        lambda c, f: (b"{" + b" " * (2 << 20) + b"}", f),  # too big to be a layer's config
    ],
    ids=["other-name", "changed", "cut", "array", "huge"],
)
def test_a_folder_not_told_is_unknown(change):
    diff_ids, folders = fixture()
    data, folder = change(config(folders[1]), folders[1])
    assert legacyids.layer_of(data, folder, legacyids.chain_ids(diff_ids)) is None


def test_another_images_chains_tell_nothing():
    diff_ids, folders = fixture()
    other = legacyids.chain_ids(["sha256:" + "ab" * 32, *diff_ids[1:]])  # another bottom layer
    assert all(legacyids.layer_of(config(f), f, other) is None for f in folders)


@pytest.mark.docker
def test_a_real_save_leaves_held_layers_out_alike_either_way(
    docker_client, base_image, unique_name, cleanup_images, tmp_path, monkeypatch
):
    """Three layers on the node stand-in: the two lower ones held. Told by the layout (folder
    names on the classic store, blob names for the containerd store's plain layers), a held layer
    is dropped unread; the archive is the one hashing every layer gives."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "a").write_text("first")
    (context / "b").write_text(unique_name)
    (context / "Dockerfile").write_text(f"FROM {base_image}\nCOPY a /a\nCOPY b /b\n")
    ref = f"{unique_name}:1"
    images.build(docker_client, context, ref, offline=True)
    cleanup_images.append(ref)
    diff_ids = docker_client.images.get(ref).attrs["RootFS"]["Layers"]
    held = set(diff_ids[:-1])
    hashed = b"".join(tars.without_held(images.save_stream(docker_client, [ref]), held))
    spooled: list[str] = []
    real = tars._unless_held
    monkeypatch.setattr(
        tars, "_unless_held", lambda info, *a: spooled.append(info.name) or real(info, *a)
    )
    told = b"".join(tars.without_held(images.save_stream(docker_client, [ref]), held, diff_ids))
    assert contents(told) == contents(hashed)
    kept = [p for p in tars.layer_paths([told]) if p in contents(told)]
    assert len(kept) == 1  # the top layer alone travels
    saved = contents(b"".join(images.save_stream(docker_client, [ref])))
    if any(name.endswith("/json") for name in saved):  # the classic layout: every layer told
        assert spooled == []
