"""One image's registry, through python-dxf: manifests and blobs, every failure one clear line.

python-dxf (a maintained client for the registry HTTP API, on requests) does the protocol: the 401
challenge, anonymous bearer tokens (Docker Hub's), tokens or Basic auth with a user and password,
TLS verification against a given CA bundle, and a SHA-256 check of every blob as it streams. What it
lacks is added here, small: where the credentials come from (``credentials``), which scheme to use
(HTTPS; plain HTTP only for loopback registries and those listed as insecure, as Docker does), and
the translation of its exceptions into airgapkit's one-line errors. requests reads the proxy
variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests
from dxf import DXF
from dxf import exceptions as dxf_errors

from ..fsutil import CHUNK
from . import credentials, dxfcompat
from .dockerconfig import Login
from .errors import CredentialsError, IntegrityError, RegistryError, RegistryUnavailable
from .manifests import MAX_MANIFEST_BYTES, Descriptor
from .reference import ImageRef

T = TypeVar("T")
CONNECT_TIMEOUT = 30  # seconds to open a connection; a registry that is up answers in far less


@dataclass(frozen=True)
class Access:
    """How registries are reached: TLS trust, a credentials file, hosts allowed plain HTTP, patience."""

    ca_file: Path | None = None  # PEM bundle to trust instead of the system's (a private CA)
    credentials_file: Path | None = None  # USER:PASSWORD (see credentials)
    insecure_registries: tuple[str, ...] = ()  # host:port allowed plain HTTP besides loopback ones
    timeout: float = 300  # seconds without a byte from the registry before giving up


class Registry:
    """The registry that holds ``ref``, used as a context manager (one connection pool throughout)."""

    def __init__(self, ref: ImageRef, access: Access | None = None):
        self.ref = ref
        self.access = access or Access()
        self.host = ref.registry
        self._login: Login | None = None
        self._looked_up = False
        self._plain_http = False
        self._settled = False  # the scheme answered once: no more fallbacks
        self._dxf = self._new_dxf()

    # --- connection --------------------------------------------------------------------------

    def _new_dxf(self) -> DXF:
        ca = str(self.access.ca_file) if self.access.ca_file else True
        dxf = DXF(
            self.ref.endpoint,
            self.ref.repository,
            auth=self._authenticate,
            insecure=self._plain_http,
            tlsverify=ca,
            timeout=(CONNECT_TIMEOUT, self.access.timeout),
        )
        return dxf.__enter__()  # a requests.Session for every call, closed by close()

    def close(self) -> None:
        self._dxf.__exit__(None, None, None)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def plain_http_allowed(self) -> bool:
        return self.ref.is_loopback or self.host in self.access.insecure_registries

    def _authenticate(self, dxf: DXF, response: requests.Response) -> None:
        """dxf's callback on a 401: answer the challenge with the login, or anonymously."""
        if "www-authenticate" not in response.headers:
            raise CredentialsError(
                f"registry {self.host} refused {self.ref.familiar} without saying how to log in "
                "(no WWW-Authenticate); check the address names a registry"
            )
        if not self._looked_up:  # asked only now: an anonymous registry runs no helper
            self._login = credentials.resolve(self.host, self.access.credentials_file)
            self._looked_up = True
        if self._login:
            dxf.authenticate(self._login.username, self._login.password, response=response)
        else:
            dxf.authenticate(response=response)  # an anonymous token, where the registry gives one

    def _call(self, what: str, call: Callable[[DXF], T]) -> T:
        """``call(dxf)`` with errors translated; the first call settles HTTPS or plain HTTP."""
        with self._translated(what):
            if self._settled or not self.plain_http_allowed:
                result = call(self._dxf)
            else:
                result = self._call_with_fallback(call)
        self._settled = True
        return result

    def _call_with_fallback(self, call: Callable[[DXF], T]) -> T:
        try:
            return call(self._dxf)
        except requests.exceptions.SSLError as tls_error:
            self._switch(plain_http=True)
            try:
                return call(self._dxf)
            except (requests.exceptions.ConnectionError, requests.exceptions.HTTPError) as plain:
                response = getattr(plain, "response", None)
                if response is not None and response.status_code != 400:
                    raise  # a plain HTTP registry that answered: its answer stands
                self._switch(plain_http=False)  # neither speaks: the TLS failure is the news
                raise tls_error from plain

    def _switch(self, *, plain_http: bool) -> None:
        self.close()
        self._plain_http = plain_http
        self._dxf = self._new_dxf()

    # --- reading -------------------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[bytes, str]:
        """The exact bytes of the manifest or index ``reference`` names, and their Content-Type."""
        what = f"the manifest of {self.ref.familiar}"
        _, response = self._call(what, lambda dxf: dxf.get_manifest_and_response(reference))
        if len(response.content) > MAX_MANIFEST_BYTES:
            raise RegistryError(
                f"{what} in registry {self.host} is over {MAX_MANIFEST_BYTES} bytes; "
                "not an image manifest"
            )
        return response.content, response.headers.get("Content-Type", "")

    def blob(self, blob: Descriptor, what: str) -> Iterator[bytes]:
        """The blob's bytes as they arrive, checked: never more than its size, and its digest at the end.

        The last chunk is yielded before the digest is known, so the consumer must drop what it
        wrote when this raises (a bundle's temporary member is).
        """
        chunks = self._call(what, lambda dxf: dxf.pull_blob(blob.digest, chunk_size=CHUNK))
        received = 0
        with self._translated(what):
            for chunk in chunks:  # dxf hashes each chunk; it raises at the end on a mismatch
                received += len(chunk)
                if received > blob.size:
                    raise IntegrityError(
                        f"{what} from registry {self.host} is longer than the {blob.size} bytes its "
                        f"manifest gives ({blob.digest}); the registry's copy is damaged or tampered with"
                    )
                yield chunk
        if received != blob.size:
            raise IntegrityError(
                f"{what} from registry {self.host} is {received} bytes, not the {blob.size} its manifest "
                f"gives ({blob.digest}); the registry's copy is damaged or tampered with"
            )

    def blob_bytes(self, blob: Descriptor, what: str) -> bytes:
        """A small blob (a config) whole, checked like ``blob``."""
        return b"".join(self.blob(blob, what))

    def blob_tail(self, blob: Descriptor, count: int, what: str) -> bytes | None:
        """The blob's last ``count`` bytes by a ranged read (unchecked), or None without ranges."""
        return self._call(what, lambda dxf: dxfcompat.blob_tail(dxf, blob.digest, count, blob.size))

    # --- errors --------------------------------------------------------------------------------

    @contextmanager
    def _translated(self, what: str):
        """dxf's and requests' exceptions as one-line airgapkit errors naming ``what`` and the host."""
        try:
            yield
        except (RegistryError, IntegrityError):
            raise
        except dxf_errors.DXFUnauthorizedError as exc:
            raise self._refused(what) from exc
        except dxf_errors.DXFAuthInsecureError as exc:
            raise CredentialsError(
                f"registry {self.host} asks for credentials over plain HTTP; airgapkit sends none "
                "unencrypted: serve the registry over TLS (registry_ca names a private CA)"
            ) from exc
        except dxf_errors.DXFDigestMismatchError as exc:
            raise IntegrityError(
                f"{what} from registry {self.host} does not match its digest (expected "
                f"{exc.expected}, got {exc.got}); the registry's copy is damaged or tampered with"
            ) from exc
        except requests.exceptions.HTTPError as exc:
            raise self._http_error(what, exc) from exc
        except requests.exceptions.SSLError as exc:
            raise RegistryUnavailable(
                f"TLS with registry {self.host} failed ({_reason(exc)}); if it uses a private CA, "
                "name the CA's PEM file with registry_ca"
            ) from exc
        except requests.exceptions.ProxyError as exc:
            raise RegistryUnavailable(
                f"the proxy for registry {self.host} failed ({_reason(exc)}); check HTTPS_PROXY, "
                "HTTP_PROXY and NO_PROXY"
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise RegistryUnavailable(
                f"registry {self.host} did not answer in time while sending {what}; "
                "check the network or try again"
            ) from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise RegistryUnavailable(
                f"registry {self.host} does not answer ({_reason(exc)}) for {what}; check the "
                "address, that the registry runs, and the proxy variables"
            ) from exc
        except dxf_errors.DXFError as exc:
            raise RegistryError(f"registry {self.host} failed on {what}: {exc}") from exc

    def _refused(self, what: str) -> CredentialsError:
        if self._login:
            return CredentialsError(
                f"registry {self.host} refused the credentials from {self._login.source} for {what}; "
                "check the user and password, and that they may pull this repository"
            )
        return CredentialsError(
            f"registry {self.host} asks for credentials for {self.ref.familiar} and none were found: "
            f"set {credentials.USER_VAR} and {credentials.PASSWORD_VAR}, name a credentials file "
            f"(registry_auth_file), or docker login {self.host}"
        )

    def _http_error(self, what: str, exc: requests.exceptions.HTTPError) -> RegistryError:
        status = exc.response.status_code if exc.response is not None else 0
        if status == 404:
            return RegistryError(
                f"{what} is not in registry {self.host} (404); check the repository and tag"
            )
        if status == 403:
            return self._refused(what)
        if status == 429:
            return RegistryError(
                f"registry {self.host} is limiting requests (429); log in for a higher limit or wait"
            )
        reason = exc.response.reason if exc.response is not None else ""
        return RegistryError(f"registry {self.host} answered {status} {reason} for {what}")


_REASONS = (
    re.compile(r"\[Errno -?\d+\] ([^'\")]+)"),
    re.compile(r"\[SSL: [A-Z_]+\] ([^'\"(]+)"),
    re.compile(r"(Read timed out|Connection aborted|Connection broken[^'\")]*)"),
)


def _reason(exc: BaseException) -> str:
    """The operative words deep inside a requests exception (Connection refused, certificate ...)."""
    text = str(exc)
    for pattern in _REASONS:
        match = pattern.search(text)
        if match:
            return match.group(1).strip()
    return type(exc).__name__
