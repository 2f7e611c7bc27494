"""Which image store a Docker Engine keeps: Docker's classic store, or its containerd image store.

The two differ in what they report (an image's ID: ``identity``) and in how the classic builder's
untagged images show (``images.prune_stage_images``). ``docker info`` says which: the containerd
store names its snapshotter (``driver-type io.containerd.snapshotter.v1``), the classic store a
storage (graph) driver. An engine that says neither is refused in one line.
"""

from __future__ import annotations

import weakref

import docker

from ..errors import AirgapError
from .client import engine_address, engine_errors

CLASSIC = "classic"
CONTAINERD = "containerd"
# The storage drivers of the classic store (graph drivers); the containerd store reports its
# snapshotter as the driver and says so in DriverStatus.
GRAPH_DRIVERS = frozenset(
    {"overlay2", "overlay", "fuse-overlayfs", "btrfs", "zfs", "aufs", "devicemapper", "vfs",
     "windowsfilter", "lcow"}
)  # fmt: skip
SNAPSHOTTER = "io.containerd.snapshotter."

_stores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # client -> its store


class UnknownStore(AirgapError):
    """The engine does not say which image store it keeps."""


def store(client: docker.DockerClient) -> str:
    """CLASSIC or CONTAINERD: the image store of the engine ``client`` talks to (asked once)."""
    if client not in _stores:
        with engine_errors("ask the Docker Engine which image store it keeps"):
            info = client.info()
        _stores[client] = store_of(info)
    return _stores[client]


def store_of(info: dict) -> str:
    """The store an engine's ``docker info`` describes; UnknownStore when it says neither."""
    status = {
        str(pair[0]): str(pair[1])
        for pair in info.get("DriverStatus") or []
        if isinstance(pair, list | tuple) and len(pair) == 2
    }
    if status.get("driver-type", "").startswith(SNAPSHOTTER):
        return CONTAINERD
    driver = info.get("Driver") or ""
    if driver in GRAPH_DRIVERS:
        return CLASSIC
    raise UnknownStore(
        f"the Docker Engine at {engine_address()} reports storage driver {driver!r} and no "
        "containerd snapshotter, so which image store it keeps cannot be told; check "
        "`docker info` (Storage Driver) and use an engine with the classic store or the "
        "containerd image store"
    )
