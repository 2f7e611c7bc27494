"""Real registries for the registry-direct tests: Debian's docker-registry, plain, or TLS + htpasswd.

``serve`` starts one on a free loopback port with a config of its own (TLS with a CA the test makes,
htpasswd with bcrypt as the registry requires) and stops it by its own process at the end.
``push`` puts a small image together from tar layers and pushes it with python-dxf, so tests need
no engine to fill a registry. ``blob_file`` finds a blob in the registry's storage, to tamper with.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import shutil
import socket
import subprocess
import tarfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import bcrypt
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dxf import DXF

FIRST_PORT = 5100  # clear of the shared fixture's 5000-5049


@dataclass(frozen=True)
class Served:
    addr: str  # 127.0.0.1:PORT
    root: Path  # the registry's storage root


def free_addr() -> str:
    for port in range(FIRST_PORT, FIRST_PORT + 200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return f"127.0.0.1:{port}"
    raise RuntimeError("no free loopback port for a test registry in 5100-5299")


def _answers(addr: str) -> bool:
    host, port = addr.split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@contextmanager
def serve(
    root: Path,
    *,
    tls: tuple[Path, Path] | None = None,
    htpasswd: Path | None = None,
    auth: dict | None = None,
):
    """A docker-registry on loopback, storage under ``root``; yields Served. TLS = (cert, key);
    ``auth`` is a config's whole auth section (a token service's, say)."""
    binary = shutil.which("docker-registry")
    if not binary:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    root.mkdir(parents=True, exist_ok=True)
    addr = free_addr()
    http = {"addr": addr}
    if tls:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": http,
    }
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "airgapkit-test", "path": str(htpasswd)}}
    if auth:
        config["auth"] = auth
    (root / "config.yml").write_text(json.dumps(config))  # YAML reads JSON
    log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not _answers(addr):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"registry did not start: {(root / 'registry.log').read_text()}")
            time.sleep(0.1)
        yield Served(addr, root)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airgapkit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    path.write_text(f"{user}:{hashed}\n")
    return path


def tar_layer(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar holding ``files`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Pushed:
    manifest_digest: str
    manifest: bytes
    config_digest: str
    layer_digests: tuple[str, ...]
    layer_tar_sizes: tuple[int, ...]


def dxf_for(addr: str, repo: str, *, ca: Path | None = None, login: tuple[str, str] | None = None):
    def auth(dxf, response):
        dxf.authenticate(*login, response=response) if login else dxf.authenticate(
            response=response
        )

    return DXF(addr, repo, auth=auth, insecure=ca is None, tlsverify=str(ca) if ca else True)


def push(
    addr: str,
    repo: str,
    tag: str,
    layers: list[dict[str, bytes]],
    *,
    arch: str = "amd64",
    variant: str = "",
    config: dict | None = None,
    ca: Path | None = None,
    login: tuple[str, str] | None = None,
    oci: bool = False,
    zstd: bool = False,
) -> Pushed:
    """Push an image made of ``layers`` (gzip, or zstd) with an image config to ``addr/repo:tag``."""
    dxf = dxf_for(addr, repo, ca=ca, login=login)
    tars = [tar_layer(files) for files in layers]
    compress = zstandard.ZstdCompressor().compress if zstd else partial(gzip.compress, mtime=0)
    blobs = [compress(t) for t in tars]
    image_config = {
        "architecture": arch,
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        "history": [{"created_by": "airgapkit test"} for _ in tars],
    }
    if variant:
        image_config["variant"] = variant
    config_raw = json.dumps(image_config).encode()
    for blob in [*blobs, config_raw]:
        dxf.push_blob(data=blob, digest=sha256(blob))  # bytes: one request body
    kind = "oci" if oci else "docker"
    types = {
        "docker": (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        "oci": (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    }[kind]
    if zstd:  # OCI's zstd type; Docker's manifest carries it too, as containerd writes it
        types = (*types[:2], "application/vnd.oci.image.layer.v1.tar+zstd")
    manifest = {
        "schemaVersion": 2,
        "mediaType": types[0],
        "config": {"mediaType": types[1], "size": len(config_raw), "digest": sha256(config_raw)},
        "layers": [{"mediaType": types[2], "size": len(b), "digest": sha256(b)} for b in blobs],
    }
    manifest_raw = json.dumps(manifest).encode()
    dxf.set_manifest(tag, manifest_raw.decode())  # ASCII JSON: the registry keeps these bytes
    return Pushed(
        sha256(manifest_raw),
        manifest_raw,
        sha256(config_raw),
        tuple(sha256(b) for b in blobs),
        tuple(len(t) for t in tars),
    )


def blob_file(served: Served, digest: str) -> Path:
    """Where the filesystem driver keeps a blob's bytes."""
    hexpart = digest.removeprefix("sha256:")
    return served.root / "data/docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"
