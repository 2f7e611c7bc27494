"""The gate's facts from the registry alone, checked against a registry's data and a real engine's."""

from __future__ import annotations

import pytest
import registries

from airgapkit.gate import facts as gate_facts
from airgapkit.oci import image_facts
from airgapkit.oci.registry import Access

pytest_plugins = ["oci_fixtures"]


def test_facts_come_from_manifest_config_and_gzip_trailers(oci_registry):
    layers = [{"usr/bin/tool": b"t" * 20_000}, {"app/index.js": b"console.log(1)\n"}]
    config = {"Env": ["PATH=/usr/bin", "NODE_VERSION=20.11.1", "EMPTY="], "User": " node "}
    pushed = registries.push(oci_registry.addr, "tiny/facts", "2", layers, config=config)
    ref = f"{oci_registry.addr}/tiny/facts:2"
    found = image_facts(ref)
    assert found.ref == ref
    assert found.image_id == pushed.config_digest
    assert found.layers == tuple(registries.sha256(registries.tar_layer(f)) for f in layers)
    assert found.env == {"PATH": "/usr/bin", "NODE_VERSION": "20.11.1", "EMPTY": ""}
    assert found.user == "node"
    assert found.size == sum(pushed.layer_tar_sizes)  # each layer's tar, from its gzip trailer
    blob_sizes = [
        len(registries.blob_file(oci_registry, d).read_bytes()) for d in pushed.layer_digests
    ]
    assert found.compressed_size == sum(blob_sizes)
    assert found.repo_tags == (ref,)
    assert found.repo_digests == (f"{oci_registry.addr}/tiny/facts@{pushed.manifest_digest}",)


def test_facts_over_tls_with_a_login(secure_registry, tmp_path):
    path = tmp_path / "login"
    path.write_text(":".join(secure_registry.login))
    found = image_facts(
        secure_registry.image, access=Access(ca_file=secure_registry.ca, credentials_file=path)
    )
    assert found.image_id == secure_registry.pushed.config_digest
    assert found.env["NODE_VERSION"] == "20.11.1" and found.user == "1001"


@pytest.mark.docker
def test_facts_match_the_engines_for_the_same_image(registry, base_image, docker_client):
    from_registry = image_facts(f"{registry}/node:20-alpine")
    from_engine = gate_facts.from_engine(docker_client, base_image)
    assert from_registry.image_id == from_engine.image_id
    assert from_registry.layers == from_engine.layers
    assert from_registry.env == from_engine.env
    assert from_registry.user == from_engine.user
    # The registry's size counts each layer's tar (headers, padding); the classic store's, the files
    # alone; the containerd image store's, the disk its snapshots take (a little over the tar).
    assert abs(from_registry.size - from_engine.size) <= from_engine.size * 0.05
    # The classic store pushes gzip layers; the containerd store a layer it keeps plain, plain.
    assert 0 < from_registry.compressed_size <= from_registry.size
    assert from_registry.repo_digests[0].startswith(f"{registry}/node@sha256:")
