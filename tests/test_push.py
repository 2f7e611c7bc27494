"""push: a local image into a real registry, pinned by the digest the registry holds."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid

import bcrypt
import docker
import pytest
import requests

from airgapkit import environments
from airgapkit.engine import push
from airgapkit.errors import AirgapError, IntegrityError

pytestmark = pytest.mark.docker


def registry_of(address: str, **extra) -> environments.Registry:
    return environments.parse("t", {"registry": {"address": address, **extra}}).registry


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    """A second real registry that asks for a user and password (htpasswd, bcrypt)."""
    root = tmp_path_factory.mktemp("auth-registry")
    password = uuid.uuid4().hex
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (root / "htpasswd").write_text(f"deploy:{hashed}\n")
    port = _closed_port()
    (root / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        f"auth: {{htpasswd: {{realm: test, path: {root / 'htpasswd'}}}}}\n"
    )
    proc = subprocess.Popen(
        [shutil.which("docker-registry") or "docker-registry", "serve", str(root / "config.yml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "registry did not start"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", password
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_push_returns_the_reference_pinned_by_the_registry_digest(
    docker_client, http_image, registry, cleanup_images
):
    pushed = push.push(docker_client, http_image, registry_of(registry))
    cleanup_images.append(pushed.tagged)
    name, tag = http_image.split(":")
    assert pushed.tagged == f"{registry}/{name}:{tag}"
    assert pushed.pinned == f"{registry}/{name}:{tag}@{pushed.digest}"
    assert pushed.digest.startswith("sha256:") and len(pushed.digest) == 71
    # the engine, asked on its own, finds the same bytes under the pinned reference
    assert docker_client.images.get_registry_data(pushed.pinned).id == pushed.digest
    assert (
        f"{registry}/{name}@{pushed.digest}"
        in docker_client.images.get(http_image).attrs["RepoDigests"]
    )


def test_a_tag_moved_to_other_bytes_is_refused(
    docker_client, http_image, base_image, registry, cleanup_images
):
    target = registry_of(registry)
    pushed = push.push(docker_client, http_image, target)
    cleanup_images.append(pushed.tagged)
    # someone pushes another image under the same tag: the registry now answers another digest
    docker_client.images.get(base_image).tag(pushed.repository, pushed.tag)
    for _ in docker_client.api.push(pushed.repository, tag=pushed.tag, stream=True, decode=True):
        pass
    with pytest.raises(
        IntegrityError, match=r"holds sha256:[0-9a-f]{64} under .*, not the sha256:"
    ):
        push.verify(docker_client, pushed, target)


def test_a_registry_that_is_down_is_one_line(docker_client, http_image, cleanup_images):
    address = f"127.0.0.1:{_closed_port()}"
    cleanup_images.append(f"{address}/{http_image}")
    with pytest.raises(AirgapError, match=rf"^registry {address} does not answer \(") as caught:
        push.push(docker_client, http_image, registry_of(address))
    assert "\n" not in str(caught.value)


def _closed_port_holding_401() -> int:
    """A closed port whose number holds "401", as an address a registry could have."""
    for port in (54013, 44015, 34016, 24018, 14019):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("every candidate port holding 401 is in use here")


def test_a_registry_that_is_down_at_a_port_holding_401_is_down_not_refused(
    docker_client, http_image, cleanup_images
):
    address = f"127.0.0.1:{_closed_port_holding_401()}"
    cleanup_images.append(f"{address}/{http_image}")
    with pytest.raises(AirgapError, match=rf"^registry {address} does not answer \("):
        push.push(docker_client, http_image, registry_of(address))


def _api_error(status: int, text: str) -> docker.errors.APIError:
    answer = requests.Response()
    answer.status_code = status
    return docker.errors.APIError(text, answer, text)


REGISTRY = "127.0.0.1:54013"
WORDS = [  # what the engine says, as it says it, and the line it becomes
    ("unauthorized: authentication required", "refuses no credentials"),
    ("denied: requested access to the resource is denied", "refuses no credentials"),
    ("no basic auth credentials", "refuses no credentials"),
    ("received unexpected HTTP status: 403 Forbidden", "refuses no credentials"),
    ("tls: failed to verify certificate: x509: certificate signed by unknown authority", "trust"),
    ("http: server gave HTTP response to HTTPS client", "trust"),
    (f'Get "https://{REGISTRY}/v2/": dial tcp {REGISTRY}: connect: connection refused', "answer"),
    (f'Get "http://{REGISTRY}/v2/": net/http: request canceled (Client.Timeout)', "answer"),
    ("dial tcp: lookup registry.internal: no such host", "answer"),
    ("manifest invalid: manifest invalid", f"at registry {REGISTRY}: manifest invalid"),
]


@pytest.mark.parametrize(("said", "line"), WORDS)
def test_each_way_a_registry_fails_reads_as_its_own_line(said, line):
    error = push._push_error(said, registry_of(REGISTRY), "push x")
    assert line in str(error) and said in str(error)


def test_the_engine_status_401_reads_as_refused_whatever_the_text():
    error = push._push_error(
        "login attempt failed", registry_of(REGISTRY), "log in", _api_error(401, "")
    )
    assert str(error).startswith(f"registry {REGISTRY} refuses no credentials")


def test_refused_credentials_are_one_line_without_the_password(
    docker_client, http_image, auth_registry, cleanup_images, monkeypatch
):
    address, password = auth_registry
    cleanup_images.append(f"{address}/{http_image}")
    monkeypatch.setenv("AIRGAPKIT_REGISTRY_PASSWORD", "not-" + password)
    with pytest.raises(AirgapError, match=rf"^registry {address} refuses user deploy") as caught:
        push.push(docker_client, http_image, registry_of(address, username="deploy"))
    assert password not in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(AirgapError, match=rf"^registry {address} refuses no credentials"):
        push.push(docker_client, http_image, registry_of(address))


def test_credentials_from_a_file_are_accepted(
    docker_client, http_image, auth_registry, cleanup_images, tmp_path
):
    address, password = auth_registry
    (tmp_path / "pw").write_text(password + "\n")
    target = registry_of(address, username="deploy", password_file=str(tmp_path / "pw"))
    pushed = push.push(docker_client, http_image, target)
    cleanup_images.append(pushed.tagged)
    assert push.registry_digest(docker_client, pushed.pinned, target) == pushed.digest


def test_a_ca_file_the_engine_does_not_trust_is_named(tmp_path):
    (tmp_path / "ca.crt").write_text("network CA\n")
    target = registry_of("registry.internal:5000", ca_file=str(tmp_path / "ca.crt"))
    certs = tmp_path / "certs.d"
    with pytest.raises(
        AirgapError, match=r"install -D -m 644 .*ca\.crt .*registry\.internal:5000/ca\.crt"
    ):
        push.check_trust(target, certs)
    (certs / "registry.internal:5000").mkdir(parents=True)
    (certs / "registry.internal:5000" / "ca.crt").write_text("network CA\n")
    push.check_trust(target, certs)  # the same CA installed: nothing to say


def test_the_destination_keeps_the_name_and_tag():
    target = registry_of("registry.internal:5000")
    assert push.destination("tms-api:1.0.0", target) == ("registry.internal:5000/tms-api", "1.0.0")
    assert push.destination("old.registry:443/team/api:2", target) == (
        "registry.internal:5000/team/api", "2",
    )  # fmt: skip


# The last events of a push as each engine here sends them (recorded): Docker 20.10 with the
# classic store says the digest in an aux event too; Docker 26.1 with the containerd image store
# only in the status line.
DIGEST = "sha256:" + "5d" * 32
CLASSIC_EVENTS = [
    {"status": "Pushed", "progressDetail": {}, "id": "2bba9b117f08"},
    {"status": f"v1: digest: {DIGEST} size: 739"},
    {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": DIGEST, "Size": 739}},
]
CONTAINERD_EVENTS = [
    {"status": "Pushed", "progressDetail": {}, "id": "2bba9b117f08"},
    {"status": f"v1: digest: {DIGEST} size: 746"},
]


@pytest.mark.parametrize(
    "events", [CLASSIC_EVENTS, CONTAINERD_EVENTS], ids=["classic", "containerd"]
)
def test_the_pushed_digest_is_read_where_each_store_reports_it(events):
    assert {push.pushed_digest(event, "v1") for event in events} - {""} == {DIGEST}
    assert push.pushed_digest(events[1], "v2") == ""  # a line about another tag


class _SaysNoDigest:
    """A client whose push ends without naming a digest. No engine here can be made to do that
    (both compute the digest of the manifest they push), so this one case is played."""

    class api:  # noqa: N801 - the SDK's attribute name
        @staticmethod
        def push(*args, **kwargs):
            yield {"status": "The push refers to repository [127.0.0.1:5000/app]"}
            yield {"status": "Pushed", "progressDetail": {}, "id": "2bba9b117f08"}


def test_a_push_that_reports_no_digest_is_one_line():
    target = registry_of("127.0.0.1:5000")
    with pytest.raises(AirgapError) as caught:
        push._push_stream(_SaysNoDigest(), "127.0.0.1:5000/app", "v1", None, target)
    assert str(caught.value) == (
        "the push of 127.0.0.1:5000/app:v1 reported no digest; push again and check the "
        "registry's log at 127.0.0.1:5000"
    )
