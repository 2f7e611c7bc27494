"""The engine tasks driven through Invoke for real: ``inv ...`` subprocesses, a real engine."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid

import docker
import pytest
from invoking import assert_one_line_error, free_port, inv, inv_on_tmpfs, wait_until
from terminal import in_pty

from airgapkit import fsutil
from airgapkit.app import buildcontext
from airgapkit.engine import client as engine_client
from airgapkit.engine import images
from conftest import REPO_ROOT, container_absent

pytestmark = pytest.mark.docker


def http_get(port: int, deadline_s: float = 30) -> str:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def own_image(docker_client, base_image, unique_name, cleanup_images, tmp_path_factory):
    """An image with an id of its own (so removing it really removes it), tagged for this test."""
    context = tmp_path_factory.mktemp("own-image")
    (context / "Dockerfile").write_text(f"FROM {base_image}\nRUN echo {uuid.uuid4().hex} > /mark\n")
    ref = f"{unique_name}:1.0.0"
    cleanup_images.append(ref)
    images.build(docker_client, context, ref, offline=True)
    return ref


# --- pull -----------------------------------------------------------------------------------------


def test_pull_from_the_registry(docker_client, registry, cleanup_images, tmp_path):
    remote = f"{registry}/node:20-alpine"
    cleanup_images.append(remote)
    proc = inv("pull", "--image", remote, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"pulled {remote}" in proc.stderr
    docker_client.images.get(remote)


def test_pull_if_missing_uses_the_local_copy(docker_client, base_image, cleanup_images, tmp_path):
    # Nothing listens on port 1: any contact with that registry would fail, so success proves none.
    ref = "127.0.0.1:1/node:20-alpine"
    docker_client.images.get(base_image).tag(ref)
    cleanup_images.append(ref)
    proc = inv("pull", "--image", ref, "--if-missing", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"already in the local engine \(sha256:\w+\); not pulling", proc.stderr)
    assert_one_line_error(
        inv("pull", "--image", ref, cwd=tmp_path),
        r"could not pull 127\.0\.0\.1:1",
        "registry is reachable",
    )


def test_pull_of_an_image_the_registry_lacks(registry, tmp_path):
    proc = inv("pull", "--image", f"{registry}/agk-absent:1", cwd=tmp_path)
    assert_one_line_error(proc, r"agk-absent:1 was not found in its registry; check the name")


# --- save and load --------------------------------------------------------------------------------


def test_save_load_round_trip(docker_client, own_image, tmp_path):
    image_id = docker_client.images.get(own_image).id
    proc = inv("save", "--image", own_image, "--output", "out/app.tar", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tar = tmp_path / "out" / "app.tar"
    with tarfile.open(tar) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [own_image]
    assert [p.name for p in tar.parent.iterdir()] == ["app.tar"]  # no temporary left behind

    docker_client.images.remove(own_image)
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    (tar.parent / "SHA256SUMS").write_text(f"{digest}  app.tar\n")
    proc = inv("load", "--input", str(tar), cwd=tmp_path)  # the SHA256SUMS beside it is found
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"loaded {own_image}" in proc.stderr
    assert docker_client.images.get(own_image).id == image_id


def test_save_default_output_name(base_image, tmp_path):
    proc = inv("save", "--image", base_image, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        tmp_path / "build" / f"airgapkit-test-node-busybox-{base_image.split(':')[1]}.tar"
    ).is_file()


def test_save_of_a_missing_image_leaves_nothing(base_image, tmp_path):
    proc = inv(
        "save",
        "--image",
        base_image,
        "--image",
        "agk-absent/x:1",
        "--output",
        "o/x.tar",
        cwd=tmp_path,
    )
    assert_one_line_error(proc, r"agk-absent/x:1 is not in the local engine; load it with")
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_save_into_a_folder_and_to_an_unwritable_place(base_image, tmp_path):
    (tmp_path / "out").mkdir()
    proc = inv("save", "--image", base_image, "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [p.suffix for p in (tmp_path / "out").iterdir()] == [".tar"]
    (tmp_path / "a-file").write_text("")
    proc = inv("save", "--image", base_image, "--output", "a-file/x.tar", cwd=tmp_path)
    assert_one_line_error(proc, r"could not write a-file/x\.tar: .*choose another --output")


def test_save_interrupted_deletes_the_partial_tar(base_image, tmp_path):
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(REPO_ROOT),
            "save",
            "--image",
            base_image,
            "--output",
            str(out / "x.tar"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_until(lambda: out.exists() and any(out.glob(f".x.tar.*{fsutil.TEMP_SUFFIX}")), 30)
    time.sleep(0.2)  # let some chunks land in the temporary file
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []


def test_load_refuses_a_mismatching_hash_and_loads_nothing(docker_client, own_image, tmp_path):
    client = engine_client.connect(timeout=600)
    tar = images.save(client, [own_image], tmp_path / "app.tar")
    docker_client.images.remove(own_image)
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  app.tar\n")
    proc = inv("load", "--input", str(tar), cwd=tmp_path)
    assert_one_line_error(proc, r"app\.tar: SHA-256 [0-9a-f]{64} differs from 0{64}")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(own_image)


def test_load_without_hashes_refuses_then_loads_with_no_verify(docker_client, own_image, tmp_path):
    client = engine_client.connect(timeout=600)
    tar = images.save(client, [own_image], tmp_path / "app.tar")
    docker_client.images.remove(own_image)
    proc = inv("load", "--input", str(tar), cwd=tmp_path)
    assert_one_line_error(proc, r"no SHA256SUMS found beside .*--sums FILE, or --no-verify")
    proc = inv("load", "--input", str(tar), "--no-verify", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "without checking its SHA-256" in proc.stderr
    docker_client.images.get(own_image)


def test_load_of_a_missing_file(tmp_path):
    proc = inv("load", "--input", "absent.tar", cwd=tmp_path)
    assert_one_line_error(proc, r"image tar absent\.tar does not exist")


# --- destinations and full disks ------------------------------------------------------------------


@pytest.mark.faults
def test_save_refuses_before_writing_when_the_image_cannot_fit(docker_client, base_image, tmp_path):
    proc, left = inv_on_tmpfs(
        16 << 20, "save", "--image", base_image, "--output", "full/x.tar", cwd=tmp_path
    )
    size = fsutil.human_size(docker_client.images.get(base_image).attrs["Size"])
    assert_one_line_error(
        proc,
        rf"^airgapkit: saving {re.escape(base_image)} needs {size} in full but only 16\.8 MB is "
        "free there; free some space or choose another folder$",
    )
    assert left == []


@pytest.mark.faults
def test_a_disk_that_fills_during_a_save_is_one_line_and_leaves_nothing(
    docker_client, base_image, tmp_path
):
    """Room for the images' size but not for the tar (a little bigger): full mid-way."""
    size = docker_client.images.get(base_image).attrs["Size"]
    proc, left = inv_on_tmpfs(
        size + (1 << 20), "save", "--image", base_image, "--output", "full/x.tar", cwd=tmp_path
    )
    assert_one_line_error(
        proc,
        r"^airgapkit: no space left in full while writing x\.tar; free some space there or "
        r"choose another folder \(nothing was left half-written\); saving .* needs about "
        r"[\d.]+ MB or more$",
    )
    assert left == []


def test_destination_folders_that_are_files_are_refused_first(base_image, tmp_path):
    """Before anything is pulled, packed or built: a file where a folder should be."""
    (tmp_path / "afile").write_text("")
    app = str(REPO_ROOT / "examples" / "tms-api")
    assert_one_line_error(
        inv("pack", "--app", app, "--output", "afile", cwd=tmp_path),
        r"--output afile: afile is a file, not a folder",
    )
    for flag in ("--out-dir", "--hashes-dir", "--password-dir"):
        export = ["export", "--app", app, "--base-image", base_image, "--accept-risk", "test"]
        proc = inv(*export, flag, "afile/sub", cwd=tmp_path)
        assert_one_line_error(proc, rf"{flag} afile/sub: afile is a file, not a folder")
    # nothing made, nothing packed; the history notes the three refused exports
    assert sorted(p.name for p in tmp_path.iterdir()) == [".airgapkit", "afile"]
    history = (tmp_path / ".airgapkit" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in history] == ["failed"] * 3
    proc = inv("save", "--image", base_image, "--output", "afile/x.tar", cwd=tmp_path)
    assert_one_line_error(proc, r"could not write afile/x\.tar: afile is a file, not a folder")
    workdir = str(tmp_path / "afile")
    proc = inv("demo", "--base-image", base_image, "--workdir", workdir, cwd=REPO_ROOT)
    assert_one_line_error(proc, rf"--workdir {workdir}: {workdir} is a file, not a folder")


# --- prune ----------------------------------------------------------------------------------------


def test_prune_removes_left_stages_and_reports_bytes(
    tmp_path, docker_client, base_image, unique_name, cleanup_images
):
    """A two-stage build leaves its first stage untagged (the classic builder's cache): prune takes it."""
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image} AS first\nLABEL {buildcontext.STAGE_LABEL}=first\n"
        "RUN head -c 3000000 /dev/urandom > /blob && echo built > /result\n"
        f"FROM {base_image}\nCOPY --from=first /result /result\n"
    )
    cleanup_images.append(f"{unique_name}:1")
    stages = {"dangling": True, "label": buildcontext.STAGE_LABEL}
    # only this build's: a stage image a container of another run uses is kept by prune, rightly
    before = {image["Id"] for image in docker_client.api.images(filters=stages)}
    docker_client.images.build(
        path=str(tmp_path),
        tag=f"{unique_name}:1",
        network_mode="none",
        pull=False,
        rm=True,
        forcerm=True,
    )
    left = {image["Id"] for image in docker_client.api.images(filters=stages)} - before
    assert left
    proc = inv("prune", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reclaimed = re.search(r"build cache pruned: .* reclaimed \((\d+) bytes\)", proc.stdout)
    assert reclaimed and int(reclaimed.group(1)) >= 3_000_000, proc.stdout
    assert not left & {image["Id"] for image in docker_client.api.images(filters=stages)}


# --- run ------------------------------------------------------------------------------------------


def test_run_detached_with_an_env_file(
    docker_client, http_image, unique_name, cleanup_containers, tmp_path
):
    secret = f"greeting-{uuid.uuid4().hex}"
    (tmp_path / ".env").write_text(f"GREETING={secret}\n")
    port = free_port()
    cleanup_containers.append(unique_name)
    proc = inv(
        "run",
        "--image",
        http_image,
        "--name",
        unique_name,
        "--ports",
        f"127.0.0.1:{port}:8080",
        "--env-file",
        ".env",
        "--detach",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert secret not in proc.stdout + proc.stderr  # values are passed on, never shown
    assert http_get(port) == secret
    docker_client.containers.get(unique_name).stop(timeout=1)
    assert wait_until(lambda: container_absent(docker_client, unique_name))  # --rm


def test_run_with_two_mappings_publishes_both(
    docker_client, http_image, unique_name, cleanup_containers, tmp_path
):
    app, other = free_port(), free_port()
    cleanup_containers.append(unique_name)
    proc = inv(
        "run",
        "--image",
        http_image,
        "--name",
        unique_name,
        "--ports",
        f"127.0.0.1:{app}:8080/tcp,127.0.0.1:{other}:9090",
        "--detach",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"127.0.0.1:{app}->8080/tcp, 127.0.0.1:{other}->9090/tcp" in proc.stderr
    assert http_get(app) == "unset"
    bound = docker_client.containers.get(unique_name).attrs["HostConfig"]["PortBindings"]
    assert bound == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(app)}],
        "9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(other)}],
    }


def test_run_attached_streams_logs_and_stops_on_ctrl_c(
    docker_client, http_image, unique_name, cleanup_containers, tmp_path
):
    port = free_port()
    cleanup_containers.append(unique_name)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(REPO_ROOT),
            "run",
            "--image",
            http_image,
            "--name",
            unique_name,
            "--ports",
            f"127.0.0.1:{port}:8080",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert http_get(port) == "unset"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "listening on 8080" in out
    assert "Traceback" not in err
    assert container_absent(docker_client, unique_name)


def test_run_on_a_taken_port(docker_client, http_image, unique_name, cleanup_containers, tmp_path):
    cleanup_containers.append(unique_name)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = inv(
            "run",
            "--image",
            http_image,
            "--name",
            unique_name,
            "--ports",
            f"127.0.0.1:{port}:8080",
            "--detach",
            cwd=tmp_path,
        )
    # The line is shared with the smoke test and the demo, which have no --ports: no flag named.
    assert_one_line_error(proc, f"port {port} is already in use", "choose another host port")
    assert container_absent(docker_client, unique_name)


def test_run_with_a_name_in_use(
    docker_client, http_image, unique_name, cleanup_containers, tmp_path
):
    docker_client.containers.create(http_image, name=unique_name)
    cleanup_containers.append(unique_name)
    proc = inv(
        "run",
        "--image",
        http_image,
        "--name",
        unique_name,
        "--ports",
        f"127.0.0.1:{free_port()}:8080",
        "--detach",
        cwd=tmp_path,
    )
    assert_one_line_error(proc, f"a container named {unique_name} already exists")


def test_run_with_a_missing_env_file(http_image, unique_name, tmp_path):
    proc = inv(
        "run",
        "--image",
        http_image,
        "--name",
        unique_name,
        "--env-file",
        "nope.env",
        "--detach",
        cwd=tmp_path,
    )
    assert_one_line_error(proc, r"env file nope\.env does not exist")


def test_run_never_pulls(docker_client, remote_only, unique_name, tmp_path):
    remote = remote_only  # in the registry, absent from the engine
    proc = inv("run", "--image", remote, "--name", unique_name, "--detach", cwd=tmp_path)
    assert_one_line_error(proc, f"image {re.escape(remote)} is not in the local engine; load it")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(remote)


def test_malformed_tag(tmp_path):
    assert_one_line_error(
        inv("pull", "--image", "Node::20", cwd=tmp_path), r"'Node::20' is malformed"
    )
    assert_one_line_error(
        inv("run", "--image", "tms api:1", "--name", "x", cwd=tmp_path), "malformed"
    )


def test_engine_unreachable(tmp_path):
    for args in (["prune"], ["save", "--image", "node:20-alpine", "--output", "x.tar"]):
        proc = inv(*args, cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
        assert_one_line_error(
            proc, r"no Docker Engine answers at unix:///nonexistent\.sock", "start the engine"
        )


# --- shell-debug through a real pseudo-terminal ---------------------------------------------------


def test_shell_debug_in_an_image(base_image, tmp_path):
    argv = [
        sys.executable,
        "-m",
        "invoke",
        "--search-root",
        str(REPO_ROOT),
        "shell-debug",
        "--image",
        base_image,
    ]
    status, output = in_pty(argv, tmp_path, b"echo uid=$(id -u)-tty=$(tty); exit\n")
    assert status == 0, output
    assert re.search(r"uid=0-tty=/dev/pts/\d+", output), output


def test_shell_debug_in_a_running_container(
    docker_client, base_image, unique_name, cleanup_containers, tmp_path
):
    docker_client.containers.run(base_image, ["sleep", "60"], name=unique_name, detach=True)
    cleanup_containers.append(unique_name)
    argv = [
        sys.executable,
        "-m",
        "invoke",
        "--search-root",
        str(REPO_ROOT),
        "shell-debug",
        "--container",
        unique_name,
    ]
    status, output = in_pty(argv, tmp_path, b"echo in=$(hostname); exit 3\n")
    assert status == 3, output  # the shell's status is the task's
    short_id = docker_client.containers.get(unique_name).id[:12]
    assert f"in={short_id}" in output, output


def test_shell_debug_of_a_missing_image(tmp_path):
    proc = inv("shell-debug", "--image", "agk-absent/x:1", cwd=tmp_path)
    assert_one_line_error(proc, r"image agk-absent/x:1 is not in the local engine")
