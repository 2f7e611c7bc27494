"""A token service for the registry's bearer-token auth, as Docker Hub's auth service answers.

No public registry is reachable from the test machines, so Docker Hub's anonymous tokens cannot be
asked for there. Debian's docker-registry does the registry's half for real (``auth: token``: it
answers 401 with a ``Bearer realm=...,service=...,scope=...`` challenge and verifies every token's
signature, issuer, audience, expiry and granted actions); this module is the other half: an HTTPS
endpoint that issues ES256 JWTs carrying their certificate (``x5c``), which the registry trusts
through ``rootcertbundle``. Repositories under ``private/`` need a user and password (Basic); the
rest are public, granted to anyone, anonymous included. Every request is logged for the tests.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

SERVICE = "airgapkit-test-registry"
ISSUER = "airgapkit-test-token-service"


@dataclass
class TokenService:
    realm: str
    bundle: Path  # the signing certificate: the registry's rootcertbundle
    requests: list[dict] = field(default_factory=list)  # {"scopes": [...], "user": str | None}

    def registry_auth(self) -> dict:
        """The ``auth`` section of a registry config that trusts this service."""
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.bundle),
            }
        }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signing_pair(folder: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = folder / "token-signer.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, bundle


def _jwt(key, cert, access: list[dict], subject: str) -> str:
    header = {
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()],
    }
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _access(scopes: list[str], allowed_private: bool) -> list[dict]:
    granted = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and (allowed_private or not name.startswith("private/")):
            granted.append({"type": kind, "name": name, "actions": actions.split(",")})
    return granted


@contextmanager
def serve(folder: Path, tls: tuple[Path, Path], users: dict[str, str]):
    """The service on a free loopback port over TLS (cert, key); yields a TokenService."""
    folder.mkdir(parents=True, exist_ok=True)
    key, cert, bundle = _signing_pair(folder)
    log: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            query = parse_qs(urlparse(self.path).query)
            user = self._user()
            log.append(
                {"scopes": query.get("scope", []), "user": user, "service": query.get("service")}
            )
            if user is False:  # a login was sent, and it is wrong
                self.send_response(401)
                self.end_headers()
                return
            token = _jwt(key, cert, _access(query.get("scope", []), bool(user)), user or "")
            body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _user(self):
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return name if users.get(name) == password else False

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield TokenService(f"https://127.0.0.1:{port}/token", bundle, log)
    finally:
        server.shutdown()
        server.server_close()
