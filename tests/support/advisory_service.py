"""A stand-in for the npm registry's advisory service, on loopback, for real ``npm audit`` runs.

It stands in for the registry's advisory service because that endpoint cannot be reached from the
machines the tests run on (the npm registry answers its bulk advisory request with 405 there).
``npm audit --json --registry http://127.0.0.1:PORT/`` (airgapkit passes the ``audit_registry``
setting so) POSTs ``/-/npm/v1/security/advisories/bulk`` with a gzip JSON body ``{name:
[versions]}``; this answers with the recorded advisories of the names asked, in the registry's
shape ``{name: [{id, url, title, severity, vulnerable_versions, cwe, cvss}]}``. npm itself then
decides which installed versions they affect. Every other request (the packuments npm asks for to
work out fixes) gets 404, which npm takes as "no fix known"; the registry's other documents are not
what this stands in for.

``status`` makes it answer the bulk request with an error instead, as a registry without the
endpoint does (405) or a failing one (500). Every request it got is kept in ``asked``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BULK = "/-/npm/v1/security/advisories/bulk"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "appreports"


def recorded(name: str) -> dict:
    """A recorded bulk answer from tests/fixtures/appreports (its README says what each holds)."""
    return json.loads((FIXTURES / f"{name}.bulk.json").read_text())


@dataclass
class Service:
    advisories: dict
    status: int = 200
    asked: list[tuple[str, str, object]] = field(default_factory=list)  # (method, path, body)
    url: str = ""


@contextlib.contextmanager
def serve(advisories: dict, status: int = 200) -> Iterator[Service]:
    """The stand-in on a free loopback port while the block runs; ``.url`` is its registry URL."""
    service = Service(advisories, status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            asked = json.loads(body or b"{}")
            service.asked.append(("POST", self.path, asked))
            if self.path != BULK:
                return self._answer(404, b"")
            if service.status != 200:
                return self._answer(service.status, b'{"error": "stand-in told to fail"}')
            found = {name: service.advisories[name] for name in asked if name in service.advisories}
            return self._answer(200, json.dumps(found).encode())

        def do_GET(self):  # noqa: N802
            service.asked.append(("GET", self.path, None))
            self._answer(404, b"")

        def _answer(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet: the tests read ``asked``
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
