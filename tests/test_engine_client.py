"""The tests' own client (tests/support/engine_client.py): a test's cleanup never takes the step
images another image was built on, on either image store, so other tests' builds stay cached."""

from __future__ import annotations

import uuid

import docker
import pytest
from gate_support import build, remove

pytestmark = pytest.mark.docker


def exists(client, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except docker.errors.NotFound:
        return False
    return True


def test_removing_an_image_keeps_the_steps_another_image_was_built_on(docker_client, base_image):
    shared = f"ARG SHARED={uuid.uuid4().hex}\nRUN echo shared > /shared"
    kept, removed = (
        build(docker_client, base_image, f"{shared}\nRUN echo {n} > /{n}") for n in "ab"
    )
    try:
        kept_parent = docker_client.images.get(kept).attrs["Parent"]  # RUN echo shared
        removed_parent = docker_client.images.get(removed).attrs["Parent"]
        assert kept_parent == removed_parent
        remove(docker_client, [removed])
        assert exists(docker_client, kept_parent)  # the containerd store's own rmi takes it
        # the steps no other image needs go with the image, as on the classic store
        removed_again = build(docker_client, base_image, f"{shared}\nRUN echo c > /c")
        own_step = docker_client.images.get(removed_again).attrs["Parent"]
        assert own_step == kept_parent  # built on the kept steps: the cache held
        remove(docker_client, [kept])
        assert exists(docker_client, kept_parent)  # still the parent of removed_again
        remove(docker_client, [removed_again])
        assert not exists(docker_client, kept_parent)
    finally:
        remove(docker_client, [kept, removed])
