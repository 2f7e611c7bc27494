"""engine/images.py in-process, on a real engine: save, load, build, the never-pull lookup."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile

import docker
import pytest
import requests

from airgapkit import fsutil
from airgapkit.engine import client as engine_client
from airgapkit.engine import images
from airgapkit.errors import AirgapError, ImageMissing


def test_parse_build_args_never_echoes_a_value():
    assert images.parse_build_args(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(AirgapError, match="#2 is not NAME=VALUE") as caught:
        images.parse_build_args(["A=1", "s3cr3t-token"])
    assert "s3cr3t" not in str(caught.value)


@pytest.fixture
def client(docker_client):
    return engine_client.connect(timeout=600)


@pytest.fixture
def second_tag(client, base_image, unique_name, cleanup_images) -> str:
    other = f"{unique_name}:second"
    client.images.get(base_image).tag(other)
    cleanup_images.append(other)
    return other


def tar_tags(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    return {tag for entry in manifest for tag in entry["RepoTags"]}


@pytest.mark.docker
def test_save_stream_of_two_images_keeps_both_tags(client, base_image, second_tag):
    data = b"".join(images.save_stream(client, [base_image, second_tag]))
    assert {base_image, second_tag} <= tar_tags(data)


@pytest.mark.docker
def test_several_images_through_the_public_client_call(client, base_image, second_tag):
    """GET /images/get?names=... through the SDK's requests session, no SDK internals."""
    chunks = list(images.save_several(client, [base_image, second_tag]))
    assert max(len(c) for c in chunks) <= fsutil.CHUNK
    assert tar_tags(b"".join(chunks)) == {base_image, second_tag}
    with pytest.raises(docker.errors.APIError):  # the engine's refusal as the SDK's own error
        list(images.save_several(client, [base_image, "agk-absent/x:1"]))


@pytest.mark.docker
def test_save_stream_names_the_missing_image(client, base_image):
    with pytest.raises(ImageMissing, match=r"agk-absent/x:1 is not in the local engine.*inv load"):
        list(images.save_stream(client, [base_image, "agk-absent/x:1"]))


@pytest.mark.docker
def test_save_writes_under_a_temporary_name_first(client, base_image, tmp_path, monkeypatch):
    seen = []
    original = images.save_stream

    def watching(*args):
        for chunk in original(*args):
            seen.append(sorted(p.name for p in tmp_path.iterdir()))
            yield chunk

    monkeypatch.setattr(images, "save_stream", watching)
    dest = images.save(client, [base_image], tmp_path / "x.tar")
    assert seen and all(
        len(names) == 1 and fsutil.is_leftover(tmp_path / names[0]) for names in seen
    )
    assert [p.name for p in tmp_path.iterdir()] == ["x.tar"] and dest == tmp_path / "x.tar"


class _ForwardOnly(io.RawIOBase):
    """A stream with no fileno, seek or length: what a decrypting zip member looks like to load."""

    def __init__(self, raw):
        self._raw = raw

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@pytest.mark.docker
def test_load_from_a_forward_only_stream(client, base_image, unique_name, cleanup_images, tmp_path):
    tag = f"{unique_name}:stream"
    client.images.get(base_image).tag(tag)
    cleanup_images.append(tag)
    tar = images.save(client, [tag], tmp_path / "x.tar")
    client.images.remove(tag)
    with open(tar, "rb") as raw:
        loaded = images.load(client, _ForwardOnly(raw))
    assert loaded == [tag]
    assert client.images.get(tag).id == client.images.get(base_image).id


@pytest.mark.docker
def test_load_refuses_a_file_that_is_not_a_save_tar(client):
    with pytest.raises(AirgapError, match="docker load failed"):
        images.load(client, io.BytesIO(b"not a tar" * 1000))


@pytest.mark.docker
def test_build_offline_streams_the_log(
    client, base_image, unique_name, cleanup_images, tmp_path, capsys
):
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base_image}\nARG WHO\nRUN echo "built for $WHO" > /who && cat /who\n'
    )
    ref = f"{unique_name}:1.0.0"
    cleanup_images.append(ref)
    image_id = images.build(client, tmp_path, ref, build_args={"WHO": "tms"}, offline=True)
    assert client.images.get(ref).id == image_id
    assert "built for tms" in capsys.readouterr().out


@pytest.mark.docker
def test_build_offline_fails_on_a_step_that_needs_the_network(
    client, base_image, unique_name, cleanup_images, tmp_path
):
    # Online, a build container has an interface besides lo; offline it has none, so this step fails
    # exactly when the network is off, without sending anything anywhere.
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN ls /sys/class/net | grep -qv '^lo$'\n"
    )
    ref = f"{unique_name}:net"
    cleanup_images.append(ref)
    with pytest.raises(AirgapError, match=r"failed at Step 2/2 : RUN ls.*needs the network"):
        images.build(client, tmp_path, ref, offline=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(ref)
    assert images.build(client, tmp_path, ref, offline=False)  # the same step passes with a network


@pytest.mark.docker
def test_build_refuses_missing_dockerfile_and_bad_tag(client, tmp_path):
    with pytest.raises(AirgapError, match="Dockerfile .* does not exist"):
        images.build(client, tmp_path, "ok:1")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(AirgapError, match="malformed"):
        images.build(client, tmp_path, "Not/OK:1")


@pytest.mark.docker
def test_require_image_never_pulls(client, remote_only):
    remote = remote_only  # in the registry, not in the engine
    with pytest.raises(ImageMissing, match=f"{remote} is not in the local engine"):
        images.require_image(client, remote)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(remote)


@pytest.mark.docker
def test_the_load_bar_never_shows_more_done_than_its_total(
    client, unique_name, cleanup_images, tmp_path, capsys
):
    """A delta's load is given an estimate (its member and the prerequisite's size): a stream that
    turns out longer moves the total up with it (it showed 128.8/123.8 MB)."""
    (tmp_path / "blob").write_bytes(os.urandom(2_000_000))
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n")
    ref = f"{unique_name}:bar"
    images.build(client, tmp_path, ref, offline=True)
    cleanup_images.append(ref)
    data = b"".join(images.save_stream(client, [ref]))
    client.images.remove(ref)
    capsys.readouterr()
    images.load(client, io.BytesIO(data), size=len(data) // 2)
    done, total = re.search(r"load .*? ([\d.]+)/([\d.]+) MB", capsys.readouterr().err).groups()
    assert float(done) == float(total) == round(len(data) / 1e6, 1)


@pytest.mark.parametrize(
    "said",
    [
        "manifest for agk-absent:1 not found: manifest unknown: manifest unknown",
        "pull access denied for agk-absent, repository does not exist or may require 'docker login'",
        "repository agk-absent not found: does not exist or no pull access",
        "manifest unknown",
    ],
)
def test_each_way_a_pull_says_the_image_is_not_there(said):
    assert images._not_in_registry(AirgapError(f"could not pull agk-absent:1: {said}"))


def test_the_engines_404_says_the_image_is_not_there_whatever_its_words():
    answer = requests.Response()
    answer.status_code = 404
    error = AirgapError("could not pull agk-absent:1: no words the text rule knows")
    error.__cause__ = docker.errors.NotFound("404", answer, "no words")
    assert images._not_in_registry(error)


def test_a_registry_that_is_down_is_not_a_missing_image():
    said = "Get https://127.0.0.1:5/v2/: dial tcp 127.0.0.1:5: connect: connection refused"
    assert not images._not_in_registry(AirgapError(f"could not pull x:1: {said}"))


@pytest.mark.docker
def test_a_stage_image_a_container_uses_is_kept(
    client, base_image, unique_name, cleanup_containers, tmp_path
):
    """As prune does: the conflict the engine answers is no failure of the build that asked."""
    label = f"org.airgapkit.test-stage-{unique_name}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\nLABEL {label}=x\nRUN echo {unique_name}\n"
    )
    built, _ = client.images.build(path=str(tmp_path), pull=False, network_mode="none", rm=True)
    client.containers.create(built.id, ["true"], name=unique_name)  # a stopped container uses it
    cleanup_containers.append(unique_name)
    try:
        images.drop_stage_images(client, label)  # the image is dangling: untagged
        assert client.images.get(built.id).id == built.id
    finally:
        client.containers.get(unique_name).remove(force=True)
        images.drop_stage_images(client, label)
    with pytest.raises(docker.errors.NotFound):
        client.images.get(built.id)
