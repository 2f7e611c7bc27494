"""The tests' Docker client: removing an image leaves the parents other images still descend from.

Removing an image also removes its untagged parents (the classic builder's step images). The
classic store stops at a parent that another image still descends from; Docker 26's containerd
image store does not (moby/moby#46683), so one test's cleanup deleted the step images that other
tests' builds were cached on, and their next build (the round trip run again) made new layers and
another image. On that store the tests' removals walk up the parents themselves and stop where the
classic store stops. airgapkit itself removes no image with its parents.
"""

from __future__ import annotations

import docker
from docker.models.images import ImageCollection

from airgapkit.engine import store


class TestClient(docker.DockerClient):
    """``docker.DockerClient`` whose ``images.remove`` keeps parents that are still in use."""

    __test__ = False  # not a test class, whatever its name

    @property
    def images(self) -> ImageCollection:
        return _Images(client=self)


class _Images(ImageCollection):
    def remove(self, image: str, force: bool = False, noprune: bool = False) -> None:
        if noprune or store.store(self.client) == store.CLASSIC:
            super().remove(image, force=force, noprune=noprune)
            return
        parent = self.get(image).attrs.get("Parent") or ""
        super().remove(image, force=force, noprune=True)
        while parent:
            try:
                step = self.get(parent)
            except docker.errors.NotFound:
                return
            # The summaries, not list(): that inspects each image, and one another run removes
            # meanwhile (a shared engine) would end the cleanup with ImageNotFound.
            summaries = self.client.api.images(all=True)
            children = [i for i in summaries if i.get("ParentId") == parent]
            if step.tags or children:
                return  # named, or another image's parent: the classic store keeps it too
            super().remove(parent, noprune=True)
            parent = step.attrs.get("Parent") or ""
