"""Image facts from the local engine: the shape every image rule judges."""

from __future__ import annotations

import pytest
from gate_support import inspect_mb, saved

from airgapkit.errors import ImageMissing
from airgapkit.gate import facts

pytestmark = pytest.mark.docker


def test_facts_of_a_local_image(docker_client, base_image):
    found = facts.from_engine(docker_client, base_image)
    attrs = docker_client.images.get(base_image).attrs
    config_digest = saved(docker_client, base_image)[0]
    assert found.image_id == config_digest and inspect_mb(docker_client, base_image) == (
        f"{found.size / 1_000_000:.1f} MB"
    )  # the classic store's Size; on the containerd store the layers' tars, decoded
    assert list(found.layers) == attrs["RootFS"]["Layers"]
    assert found.env["NODE_VERSION"] and found.env["PATH"]
    assert found.names[0] == base_image and base_image in found.repo_tags


def test_a_missing_image_is_never_pulled(docker_client):
    with pytest.raises(ImageMissing, match="inv load"):
        facts.from_engine(docker_client, "agk-test-absent:0")


def test_env_pairs_keep_everything_after_the_first_equals():
    assert facts.parse_env(["A=1", "B=x=y", "EMPTY=", "BARE"]) == {
        "A": "1",
        "B": "x=y",
        "EMPTY": "",
        "BARE": "",
    }
