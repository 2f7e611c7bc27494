"""The registry client against real registries: a plain one, one with TLS and logins, one down."""

from __future__ import annotations

import pytest
import registries
import requests
import token_service

from airgapkit.oci import credentials, reference
from airgapkit.oci import registry as registry_module
from airgapkit.oci.errors import (
    CredentialsError,
    IntegrityError,
    RegistryError,
    RegistryUnavailable,
)
from airgapkit.oci.manifests import Descriptor
from airgapkit.oci.registry import Access, Registry

pytest_plugins = ["oci_fixtures"]


@pytest.fixture(autouse=True)
def no_ambient_login(monkeypatch, tmp_path):
    """Only what a test sets reaches the registry: no variables, no ~/.docker login, no proxy."""
    for var in (credentials.USER_VAR, credentials.PASSWORD_VAR, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


def one_line(exc_info, *words):
    message = str(exc_info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def read_manifest(image: str, access: Access | None = None) -> bytes:
    with Registry(reference.parse(image), access) as registry:
        raw, _ = registry.manifest(reference.parse(image).reference)
        return raw


def login_file(tmp_path, user, password):
    path = tmp_path / "registry-login"
    path.write_text(f"{user}:{password}\n")
    return path


def test_a_registry_that_is_down_is_one_line():
    addr = registries.free_addr()
    with pytest.raises(RegistryUnavailable) as info:
        read_manifest(f"{addr}/node:20-alpine")
    one_line(info, addr, "does not answer", "Connection refused")


def test_credentials_from_a_file_over_tls_with_a_given_ca(secure_registry, tmp_path):
    access = Access(
        ca_file=secure_registry.ca, credentials_file=login_file(tmp_path, *secure_registry.login)
    )
    assert read_manifest(secure_registry.image, access) == secure_registry.pushed.manifest


def test_credentials_from_variables(secure_registry, monkeypatch):
    monkeypatch.setenv(credentials.USER_VAR, secure_registry.user)
    monkeypatch.setenv(credentials.PASSWORD_VAR, secure_registry.password)
    raw = read_manifest(secure_registry.image, Access(ca_file=secure_registry.ca))
    assert raw == secure_registry.pushed.manifest


def test_credentials_from_dockers_login(secure_registry, tmp_path):
    import base64
    import json

    folder = tmp_path / "docker-config"
    folder.mkdir()
    auth = base64.b64encode(":".join(secure_registry.login).encode()).decode()
    (folder / "config.json").write_text(
        json.dumps({"auths": {secure_registry.addr: {"auth": auth}}})
    )
    raw = read_manifest(secure_registry.image, Access(ca_file=secure_registry.ca))
    assert raw == secure_registry.pushed.manifest


def test_missing_credentials_say_where_to_put_them(secure_registry):
    with pytest.raises(CredentialsError) as info:
        read_manifest(secure_registry.image, Access(ca_file=secure_registry.ca))
    one_line(info, secure_registry.addr, "none were found", credentials.USER_VAR, "docker login")


def test_wrong_credentials_name_their_source_not_their_value(secure_registry, tmp_path):
    wrong = "not-" + secure_registry.password
    path = login_file(tmp_path, secure_registry.user, wrong)
    with pytest.raises(CredentialsError) as info:
        read_manifest(
            secure_registry.image, Access(ca_file=secure_registry.ca, credentials_file=path)
        )
    message = one_line(info, secure_registry.addr, "refused the credentials", str(path))
    assert wrong not in message


def test_a_registry_whose_ca_is_not_given_is_not_trusted(secure_registry, tmp_path):
    access = Access(credentials_file=login_file(tmp_path, *secure_registry.login))
    with pytest.raises(RegistryUnavailable) as info:
        read_manifest(secure_registry.image, access)
    one_line(info, secure_registry.addr, "TLS", "certificate verify failed", "registry_ca")


def test_no_credentials_go_over_plain_http(tmp_path, oci_registry):
    htpasswd = registries.write_htpasswd(tmp_path / "htpasswd", "release", "pw")
    with registries.serve(tmp_path / "plain-auth", htpasswd=htpasswd) as served:
        access = Access(credentials_file=login_file(tmp_path, "release", "pw"))
        with pytest.raises(CredentialsError) as info:
            read_manifest(f"{served.addr}/tiny/app:1", access)
    one_line(info, served.addr, "plain HTTP", "TLS")


def test_plain_http_only_for_loopback_or_listed_registries():
    assert Registry(reference.parse("127.0.0.1:5000/x:1")).plain_http_allowed
    remote = reference.parse("registry.example:5000/x:1")
    assert not Registry(remote).plain_http_allowed
    assert Registry(
        remote, Access(insecure_registries=("registry.example:5000",))
    ).plain_http_allowed


def test_a_missing_tag_is_one_line(oci_registry):
    registries.push(oci_registry.addr, "tiny/tagged", "1", [{"a": b"a"}])
    with pytest.raises(RegistryError) as info:
        read_manifest(f"{oci_registry.addr}/tiny/tagged:2")
    one_line(info, oci_registry.addr, "not in registry", "tiny/tagged:2")


def test_proxies_come_from_the_usual_variables(oci_registry, monkeypatch):
    registries.push(oci_registry.addr, "tiny/proxied", "1", [{"a": b"a"}])
    dead_proxy = f"http://{registries.free_addr()}"
    monkeypatch.setenv("HTTPS_PROXY", dead_proxy)
    monkeypatch.setenv("HTTP_PROXY", dead_proxy)
    with pytest.raises(RegistryUnavailable) as info:
        read_manifest(f"{oci_registry.addr}/tiny/proxied:1")
    one_line(info, "proxy", "HTTPS_PROXY")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert read_manifest(f"{oci_registry.addr}/tiny/proxied:1")


@pytest.fixture
def own_registry(tmp_path):
    """A registry of this test's own, whose storage it may damage."""
    with registries.serve(tmp_path / "registry") as served:
        yield served


@pytest.mark.parametrize(
    ("damage", "error", "words"),
    [
        (
            lambda data: data[:-1] + bytes([data[-1] ^ 1]),
            IntegrityError,
            "does not match its digest",
        ),
        (lambda data: data[:-3], IntegrityError, "does not match its digest"),
        (lambda data: data + b"extra", IntegrityError, "longer than"),
    ],
    ids=["flipped", "shorter", "longer"],
)
def test_a_damaged_blob_is_refused(own_registry, damage, error, words):
    pushed = registries.push(own_registry.addr, "tiny/app", "1", [{"file": b"x" * 5000}])
    path = registries.blob_file(own_registry, pushed.layer_digests[0])
    original = path.read_bytes()
    path.write_bytes(damage(original))
    blob = Descriptor(
        "application/vnd.docker.image.rootfs.diff.tar.gzip", pushed.layer_digests[0], len(original)
    )
    with Registry(reference.parse(f"{own_registry.addr}/tiny/app:1")) as registry:
        with pytest.raises(error) as info:
            b"".join(registry.blob(blob, "layer 1 of tiny/app"))
    one_line(info, "layer 1 of tiny/app", own_registry.addr, words)


def test_an_anonymous_token_for_a_public_repository(token_registry):
    """Docker Hub's way: a 401 challenge, an anonymous token from its realm, then the manifest."""
    token_registry.service.requests.clear()
    assert read_manifest(token_registry.public, Access(ca_file=token_registry.ca))
    (asked,) = token_registry.service.requests
    assert asked["user"] is None and asked["service"] == [token_service.SERVICE]
    assert asked["scopes"] == ["repository:tiny/public:pull"]


def test_a_token_for_a_private_repository_needs_the_login(token_registry, tmp_path):
    token_registry.service.requests.clear()
    access = Access(
        ca_file=token_registry.ca, credentials_file=login_file(tmp_path, *token_registry.login)
    )
    assert read_manifest(token_registry.private, access)
    assert token_registry.service.requests[-1]["user"] == token_registry.login[0]
    with pytest.raises(CredentialsError) as info:
        read_manifest(token_registry.private, Access(ca_file=token_registry.ca))
    one_line(info, "none were found")
    wrong = Access(
        ca_file=token_registry.ca, credentials_file=login_file(tmp_path, "release", "wrong")
    )
    with pytest.raises(CredentialsError) as info:
        read_manifest(token_registry.private, wrong)
    one_line(info, "refused the credentials", "registry-login")


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        (
            "HTTPConnectionPool(host='127.0.0.1', port=5): Max retries exceeded with url: /v2/ "
            "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to "
            "establish a new connection: [Errno 111] Connection refused'))",
            "Connection refused",
        ),
        (
            "HTTPSConnectionPool(host='r', port=443): Max retries exceeded with url: /v2/ (Caused by "
            "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
            "verify failed: self-signed certificate (_ssl.c:1000)')))",
            "certificate verify failed: self-signed certificate",
        ),
        (
            "HTTPSConnectionPool(host='r', port=443): Read timed out. (read timeout=5)",
            "Read timed out",
        ),
        ("('Connection aborted.', RemoteDisconnected('closed'))", "Connection aborted"),
        ("nothing the rules know", "ConnectionError"),
    ],
)
def test_the_operative_words_of_each_transport_failure(said, reason):
    assert registry_module._reason(requests.exceptions.ConnectionError(said)) == reason
