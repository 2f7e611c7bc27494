"""Port mappings, parsed once: ``[IP:][HOST:]CONTAINER[/PROTO]``, comma-separated, as ``docker run -p``.

One ``Ports`` value is what every part of airgapkit uses: the engine's bindings, the container port a
build exposes, and the URL a health check polls. The forms docker accepts and airgapkit takes:

- ``8080``                 container port 8080 on a port the engine picks (all addresses)
- ``8080:80``              host port 8080 to container port 80
- ``127.0.0.1:8080:80``    the same, on one address only
- ``127.0.0.1::80``        a port the engine picks, on one address
- ``[::1]:8080:80``        an IPv6 address in brackets
- ``8080:80/udp``          another protocol (``tcp``, ``udp``, ``sctp``)

Port ranges (``8000-8010:8000-8010``) are not taken: airgapkit checks one health port per app.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .errors import AirgapError

PROTOCOLS = ("tcp", "udp", "sctp")
_SPEC = re.compile(
    r"^(?:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+):(?P<host_after_ip>\d*):"
    r"|(?P<host>\d+):)?(?P<container>\d+)(?:/(?P<proto>[a-z]+))?$"
)
_EXAMPLES = "8080:8080, 127.0.0.1:8080:8080 or 8080:80/udp"


@dataclass(frozen=True)
class PortMapping:
    container: int
    host: int | None = None  # None: the engine picks a free port
    ip: str = ""  # "" : every address
    protocol: str = "tcp"

    @classmethod
    def parse(cls, spec: str) -> PortMapping:
        text = (spec or "").strip()
        found = _SPEC.match(text)
        if not found:
            raise _malformed(text, f"write [IP:][HOST:]CONTAINER[/PROTO], e.g. {_EXAMPLES}")
        protocol = found.group("proto") or "tcp"
        if protocol not in PROTOCOLS:
            raise _malformed(text, f"the protocol must be one of {', '.join(PROTOCOLS)}")
        host_text = found.group("host") or found.group("host_after_ip") or ""
        return cls(
            container=_port_number(found.group("container"), text),
            host=_port_number(host_text, text) if host_text else None,
            ip=_address(found.group("ip") or "", text),
            protocol=protocol,
        )

    @property
    def key(self) -> str:
        """The engine's name for the container side: ``80/tcp``."""
        return f"{self.container}/{self.protocol}"

    def binding(self) -> int | None | tuple:
        """The docker SDK's value for this mapping in ``containers.run(ports=...)``."""
        if self.ip:
            return (self.ip, self.host) if self.host else (self.ip,)
        return self.host

    def __str__(self) -> str:
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        host = "" if self.host is None else str(self.host)
        front = f"{ip}:{host}:" if ip else (f"{host}:" if host else "")
        return f"{front}{self.container}" + ("" if self.protocol == "tcp" else f"/{self.protocol}")


@dataclass(frozen=True)
class Ports:
    """Several mappings; the first TCP one is the app's (its health check and exposed port)."""

    mappings: tuple[PortMapping, ...]

    @classmethod
    def parse(cls, text: str | Ports) -> Ports:
        if isinstance(text, Ports):
            return text
        specs = [s for s in (text or "").split(",")]
        if not (text or "").strip():
            raise AirgapError(f"no port mapping given; write one, e.g. {_EXAMPLES}")
        mappings = tuple(PortMapping.parse(spec) for spec in specs)
        keys = [m.key for m in mappings]
        for key in keys:
            if keys.count(key) > 1:
                raise AirgapError(
                    f"port mappings {text!r} name container port {key} twice; name it once"
                )
        return cls(mappings)

    @property
    def app(self) -> PortMapping:
        """The mapping the app answers its health path on: the first TCP one."""
        for mapping in self.mappings:
            if mapping.protocol == "tcp":
                return mapping
        raise AirgapError(
            f"port mappings {self} hold no TCP port for the health check; add one, e.g. 8080:8080"
        )

    @property
    def container_port(self) -> int:
        return self.app.container

    def bindings(self) -> dict:
        """The docker SDK's ``ports=`` mapping."""
        return {m.key: m.binding() for m in self.mappings}

    def health_url(self, path: str, host_port: int | None = None) -> str:
        """Where the app's health path answers on this machine.

        ``host_port`` is the port the engine chose when the mapping left it to the engine.
        """
        app = self.app
        port = app.host or host_port
        if port is None:
            raise AirgapError(
                f"port mapping {app} leaves the host port to the engine; name one, e.g. "
                f"{app.container}:{app.container}, so the health check knows where to ask"
            )
        host = app.ip if app.ip and not ipaddress.ip_address(app.ip).is_unspecified else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{path}"

    def with_host(self, ip: str, port: int) -> Ports:
        """The same mappings with the app's bound to ``ip:port`` (a smoke test's free port)."""
        app = self.app
        moved = PortMapping(app.container, port, ip, app.protocol)
        return Ports(tuple(moved if m is app else m for m in self.mappings))

    def __str__(self) -> str:
        return ",".join(str(m) for m in self.mappings)


def _malformed(text: str, advice: str) -> AirgapError:
    return AirgapError(f"port mapping {text!r} is malformed; {advice}")


def _port_number(digits: str, text: str) -> int:
    number = int(digits)
    if not 0 < number < 65536:
        raise _malformed(text, f"port {number} is outside 1-65535")
    return number


def _address(ip: str, text: str) -> str:
    if not ip:
        return ""
    bare = ip.strip("[]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError as exc:
        raise _malformed(text, f"{ip} is not an IP address") from exc
    if (address.version == 6) != ip.startswith("["):
        raise _malformed(text, "write an IPv6 address in brackets, e.g. [::1]:8080:80")
    return str(address)


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address is this machine (Docker allows plain HTTP to it by default)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
