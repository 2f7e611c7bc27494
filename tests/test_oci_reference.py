"""Image references: the grammar (for the engine and the registry alike), split as Docker splits
them, and the names made from them."""

from __future__ import annotations

import pytest

from airgapkit.errors import AirgapError
from airgapkit.oci import reference

HUB = "registry-1.docker.io"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "endpoint", "familiar"),
    [
        ("node:20-alpine", "docker.io", "library/node", "20-alpine", HUB, "node:20-alpine"),
        ("node", "docker.io", "library/node", "latest", HUB, "node:latest"),
        ("team/api:1.0", "docker.io", "team/api", "1.0", HUB, "team/api:1.0"),
        ("docker.io/library/node:20", "docker.io", "library/node", "20", HUB, "node:20"),
        ("index.docker.io/node:20", "docker.io", "library/node", "20", HUB, "node:20"),
        ("127.0.0.1:5000/node:20-alpine", "127.0.0.1:5000", "node", "20-alpine", "127.0.0.1:5000",
         "127.0.0.1:5000/node:20-alpine"),
        ("localhost/team/node:20", "localhost", "team/node", "20", "localhost", "localhost/team/node:20"),
        ("registry.example/base/node:20", "registry.example", "base/node", "20", "registry.example",
         "registry.example/base/node:20"),
    ],
)  # fmt: skip
def test_defaults_follow_docker(text, registry, repository, tag, endpoint, familiar):
    ref = reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.endpoint) == (
        registry,
        repository,
        tag,
        endpoint,
    )
    assert ref.familiar == familiar
    assert ref.reference == tag


def test_a_digest_is_what_the_registry_is_asked_for():
    digest = "sha256:" + "ab" * 32
    ref = reference.parse(f"node:20-alpine@{digest}")
    assert ref.reference == digest and ref.tag == "20-alpine"
    assert ref.with_digest(digest) == f"node@{digest}"
    only = reference.parse(f"127.0.0.1:5000/node@{digest}")
    assert only.tag is None and only.familiar == f"127.0.0.1:5000/node@{digest}"


def test_full_name_is_what_containerd_records():
    assert reference.parse("node:20").full_name == "docker.io/library/node"


@pytest.mark.parametrize(
    ("text", "loopback"),
    [("127.0.0.1:5000/x", True), ("127.8.0.1/x:1", True), ("localhost:5000/x", True),
     ("registry.example/x", False), ("10.0.0.1:5000/x", False), ("node", False)],
)  # fmt: skip
def test_loopback_registries_are_recognised(text, loopback):
    assert reference.parse(text).is_loopback is loopback


@pytest.mark.parametrize("text", ["", "Node:20", "node 20", "sha256:" + "a" * 64, "a" * 64])
def test_malformed_references_and_image_ids_are_one_clear_error(text):
    with pytest.raises(AirgapError) as info:
        reference.parse(text)
    assert "\n" not in str(info.value)


# --- the grammar, and the names made from a reference ---------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        "node:20-alpine",
        "node",
        "tms_api:1.0.0",
        "library/node:20",
        "127.0.0.1:5000/node:20-alpine",
        "registry.example:5000/team/app_x:1.2.3-rc.1",
        "node@sha256:" + "a" * 64,
        "825c64759ab0",
    ],
)
def test_validate_ref_accepts_references(ref):
    assert reference.validate_ref(ref) == ref


@pytest.mark.parametrize(
    "ref", ["", "Node:20", "node::1", "a b", "node:", ":1", "node:-x", "n@sha256:1"]
)
def test_validate_ref_refuses_malformed(ref):
    with pytest.raises(AirgapError, match="malformed"):
        reference.validate_ref(ref)


def test_build_tag_refuses_digest():
    with pytest.raises(AirgapError, match="digest"):
        reference.validate_ref("app@sha256:" + "b" * 64, allow_digest=False)


@pytest.mark.parametrize(
    "ref, name",
    [
        ("node:20-alpine", "node-20-alpine.tar"),
        ("tms_api:1.0.0", "tms_api-1.0.0.tar"),
        ("127.0.0.1:5000/team/node:20", "127.0.0.1-5000-team-node-20.tar"),
        ("node@sha256:" + "ab" * 32, "node-sha256-abababababab.tar"),
    ],
)
def test_tar_name(ref, name):
    assert reference.tar_name(ref) == name


@pytest.mark.parametrize(
    "ref, name",
    [
        ("tms_api:1.0.0", "tms_api"),
        ("127.0.0.1:5000/team/digital-academy-api:2", "digital-academy-api"),
        ("node@sha256:" + "c" * 64, "node"),
    ],
)
def test_default_container_name(ref, name):
    assert reference.default_container_name(ref) == name
