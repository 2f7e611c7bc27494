"""engine.py in-process: the pure helpers, and what a task cannot show, on a real engine."""

from __future__ import annotations

import io
import json
import tarfile

import docker
import pytest

from airgapkit.engine import images as engine
from airgapkit.errors import AirgapError, EngineUnavailable, ImageMissing

# --- references, names, ports, build arguments (no engine) ----------------------------------------


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
    assert engine.validate_ref(ref) == ref


@pytest.mark.parametrize(
    "ref", ["", "Node:20", "node::1", "a b", "node:", ":1", "node:-x", "n@sha256:1"]
)
def test_validate_ref_refuses_malformed(ref):
    with pytest.raises(AirgapError, match="malformed"):
        engine.validate_ref(ref)


def test_build_tag_refuses_digest():
    with pytest.raises(AirgapError, match="digest"):
        engine.validate_ref("app@sha256:" + "b" * 64, allow_digest=False)


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
    assert engine.tar_name(ref) == name


@pytest.mark.parametrize(
    "ref, name",
    [
        ("tms_api:1.0.0", "tms_api"),
        ("127.0.0.1:5000/team/digital-academy-api:2", "digital-academy-api"),
        ("node@sha256:" + "c" * 64, "node"),
    ],
)
def test_default_container_name(ref, name):
    assert engine.default_container_name(ref) == name


def test_parse_ports():
    assert engine.parse_ports("8080:8080") == {"8080/tcp": 8080}
    assert engine.parse_ports("127.0.0.1:3001:3000") == {"3000/tcp": ("127.0.0.1", 3001)}
    assert engine.parse_ports("1:2/udp,3:4") == {"2/udp": 1, "4/tcp": 3}


@pytest.mark.parametrize("spec", ["8080", "x:1", "0:80", "70000:80", "1.2.3:80:80", ""])
def test_parse_ports_refuses_malformed(spec):
    with pytest.raises(AirgapError, match="port mapping"):
        engine.parse_ports(spec)


def test_parse_build_args_never_echoes_a_value():
    assert engine.parse_build_args(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(AirgapError, match="#2 is not NAME=VALUE") as caught:
        engine.parse_build_args(["A=1", "s3cr3t-token"])
    assert "s3cr3t" not in str(caught.value)


def test_connect_refuses_unreachable_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    with pytest.raises(EngineUnavailable, match="unix:///nonexistent.sock.*start the engine"):
        engine.connect(timeout=5)


# --- on a real engine -----------------------------------------------------------------------------


@pytest.fixture
def client(docker_client):
    return engine.connect(timeout=600)


@pytest.mark.docker
def test_connect_sets_the_long_timeout(client):
    assert client.api.timeout == 600


@pytest.mark.docker
def test_save_stream_of_two_images_keeps_both_tags(client, base_image, unique_name, cleanup_images):
    other = f"{unique_name}:second"
    client.images.get(base_image).tag(other)
    cleanup_images.append(other)
    data = b"".join(engine.save_stream(client, [base_image, other]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {base_image, other} <= {tag for entry in manifest for tag in entry["RepoTags"]}


@pytest.mark.docker
def test_save_stream_names_the_missing_image(client, base_image):
    with pytest.raises(ImageMissing, match=r"agk-absent/x:1 is not in the local engine.*inv load"):
        list(engine.save_stream(client, [base_image, "agk-absent/x:1"]))


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
    tar = engine.save(client, [tag], tmp_path / "x.tar")
    client.images.remove(tag)
    with open(tar, "rb") as raw:
        loaded = engine.load(client, _ForwardOnly(raw))
    assert loaded == [tag]
    assert client.images.get(tag).id == client.images.get(base_image).id


@pytest.mark.docker
def test_load_refuses_a_file_that_is_not_a_save_tar(client):
    with pytest.raises(AirgapError, match="docker load failed"):
        engine.load(client, io.BytesIO(b"not a tar" * 1000))


@pytest.mark.docker
def test_build_offline_streams_the_log(
    client, base_image, unique_name, cleanup_images, tmp_path, capsys
):
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base_image}\nARG WHO\nRUN echo "built for $WHO" > /who && cat /who\n'
    )
    ref = f"{unique_name}:1.0.0"
    cleanup_images.append(ref)
    image_id = engine.build(client, tmp_path, ref, build_args={"WHO": "tms"}, offline=True)
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
        engine.build(client, tmp_path, ref, offline=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(ref)
    assert engine.build(client, tmp_path, ref, offline=False)  # the same step passes with a network


@pytest.mark.docker
def test_build_refuses_missing_dockerfile_and_bad_tag(client, tmp_path):
    with pytest.raises(AirgapError, match="Dockerfile .* does not exist"):
        engine.build(client, tmp_path, "ok:1")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(AirgapError, match="malformed"):
        engine.build(client, tmp_path, "Not/OK:1")


@pytest.mark.docker
def test_require_image_never_pulls(client, registry):
    remote = f"{registry}/node:20-alpine"  # in the registry, not in the engine
    with pytest.raises(ImageMissing, match=f"{remote} is not in the local engine"):
        engine.require_image(client, remote)
    with pytest.raises(ImageMissing):
        engine.run(client, remote, name="agk-never-pulled", detach=True)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(remote)


@pytest.mark.docker
def test_shell_argv(client, base_image, unique_name, cleanup_containers):
    assert engine.shell_argv(client, image=base_image) == [
        "docker",
        "run",
        "-it",
        "--rm",
        base_image,
        "sh",
    ]
    client.containers.create(base_image, ["sleep", "30"], name=unique_name)
    cleanup_containers.append(unique_name)
    with pytest.raises(AirgapError, match="is created, not running"):
        engine.shell_argv(client, container=unique_name)
    client.containers.get(unique_name).start()
    assert engine.shell_argv(client, container=unique_name) == [
        "docker",
        "exec",
        "-it",
        unique_name,
        "sh",
    ]
    with pytest.raises(AirgapError, match="no container named agk-absent"):
        engine.shell_argv(client, container="agk-absent")
