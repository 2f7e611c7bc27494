"""The engine stops in the middle of a save, a load or a build: one line saying how to start it,
nothing under a final name, no image left half there.

Each test runs a Docker Engine of its own (tests/support/own_engine.py), stops it by its pid in the
middle of the operation and starts it again; the suite's engine is never touched. Slowing the reader
or writer down only makes "the middle" last long enough to hit: the stop itself is real.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import docker
import pytest
from own_engine import OwnEngine

from airgapkit.engine import images
from airgapkit.errors import AirgapError, EngineUnavailable

pytestmark = [pytest.mark.docker, pytest.mark.faults]

CUT_AFTER = 20 << 20  # bytes moved before the engine is stopped


@pytest.fixture(scope="module")
def standin_tar(docker_client, base_image, tmp_path_factory) -> Path:
    """The node stand-in saved once from the suite's engine, to load into the test's own."""
    tar = tmp_path_factory.mktemp("standin") / "standin.tar"
    images.save(docker_client, [base_image], tar)
    return tar


@pytest.fixture
def own():
    engine = OwnEngine()
    yield engine
    engine.remove()


def stop_soon(engine: OwnEngine) -> None:
    """Stop the engine from another thread, as an operator's systemctl stop would."""
    threading.Thread(target=engine.stop, daemon=True).start()


class Slow(io.RawIOBase):
    """A file read a little at a time; once ``cut_after`` bytes are read, ``then`` runs once."""

    def __init__(self, raw, cut_after: int, then):
        self.raw, self.read_so_far, self.cut_after, self.then = raw, 0, cut_after, then

    def readable(self):
        return True

    def readinto(self, buffer):
        time.sleep(0.01)
        data = self.raw.read(min(len(buffer), 256 << 10))
        buffer[: len(data)] = data
        self.read_so_far += len(data)
        if self.then and self.read_so_far >= self.cut_after:
            self.then, then = None, self.then
            then()
        return len(data)


def tags(client) -> list[str]:
    return sorted(tag for image in client.images.list(all=True) for tag in image.tags)


def assert_one_line_engine_loss(info: pytest.ExceptionInfo, doing: str) -> None:
    message = str(info.value)
    assert "\n" not in message
    assert "lost the Docker Engine at unix:///" in message and f"while trying to {doing}" in message
    assert "start the engine (systemctl start docker, or dockerd &)" in message
    assert info.value.__cause__ is not None  # the transport's error, for AIRGAPKIT_DEBUG


def test_a_load_cut_by_an_engine_stop_leaves_no_image(own, standin_tar, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", own.address)  # the message names the engine used
    client = own.start()
    with open(standin_tar, "rb") as raw, pytest.raises(EngineUnavailable) as info:
        images.load(client, Slow(raw, CUT_AFTER, lambda: stop_soon(own)))
    assert_one_line_engine_loss(info, "load the image tar")
    assert tags(own.start()) == []


def test_a_save_cut_by_an_engine_stop_leaves_no_file(own, standin_tar, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", own.address)
    client = own.start()
    with open(standin_tar, "rb") as raw:
        (ref,) = images.load(client, raw)
    original = images.save_stream

    def slowly(*args):
        moved = 0
        for chunk in original(*args):
            moved += len(chunk)
            if moved >= CUT_AFTER and own.proc.poll() is None:
                stop_soon(own)
            time.sleep(0.01)
            yield chunk

    monkeypatch.setattr(images, "save_stream", slowly)
    out = tmp_path / "out"
    with pytest.raises(EngineUnavailable) as info:
        images.save(client, [ref], out / "x.tar")
    assert_one_line_engine_loss(info, f"save {ref}")
    assert list(out.iterdir()) == []  # neither x.tar nor a temporary file
    assert tags(own.start()) == [ref]  # the image itself is untouched


def test_a_build_cut_by_an_engine_stop_tags_nothing(own, standin_tar, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", own.address)
    client = own.start()
    with open(standin_tar, "rb") as raw:
        (base,) = images.load(client, raw)
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN sleep 60 && touch /done\n")
    threading.Timer(5, own.stop).start()  # any moment of the minute the build needs is mid-way
    with pytest.raises(EngineUnavailable) as info:
        images.build(client, tmp_path, "agk-cut:1", offline=True)
    assert_one_line_engine_loss(info, "build agk-cut:1")
    client = own.start()
    assert tags(client) == [base]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("agk-cut:1")


def test_a_save_that_ends_without_the_tar_end_is_refused(docker_client, tmp_path):
    """What the engine sends when it ends a save early but cleanly: no end-of-archive marker."""
    (tmp_path / "f").write_bytes(b"x" * 5000)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    ref = f"agk-tiny-{tmp_path.name[-8:].lower()}:1"
    images.build(docker_client, tmp_path, ref, offline=True)
    try:
        whole = b"".join(docker_client.api.get_image(ref))
    finally:
        docker_client.images.remove(ref, force=True)
    assert b"".join(images._whole_tar([whole[:4096], whole[4096:]], [ref])) == whole
    with pytest.raises(AirgapError, match=f"docker save of {ref} ended before the end of its tar"):
        list(images._whole_tar([whole[: -len(images.TAR_END)]], [ref]))


def test_the_engine_not_running_at_all_is_one_line(own, monkeypatch):
    own.start()
    own.stop()
    monkeypatch.setenv("DOCKER_HOST", own.address)
    from airgapkit.engine import client as engine_client

    with pytest.raises(EngineUnavailable, match=r"no Docker Engine answers at unix://.*start the"):
        engine_client.connect(timeout=5)
