"""Port mappings: every form docker's -p takes that airgapkit uses, and a clear line for the rest."""

from __future__ import annotations

import pytest

from airgapkit.errors import AirgapError
from airgapkit.ports import PortMapping, Ports


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("8080", PortMapping(8080)),
        ("8080:80", PortMapping(80, 8080)),
        ("127.0.0.1:8080:80", PortMapping(80, 8080, "127.0.0.1")),
        ("127.0.0.1::80", PortMapping(80, None, "127.0.0.1")),
        ("[::1]:8080:80", PortMapping(80, 8080, "::1")),
        ("8080:80/udp", PortMapping(80, 8080, protocol="udp")),
        ("8080:80/tcp", PortMapping(80, 8080)),
        (" 9090:9090 ", PortMapping(9090, 9090)),
    ],
)
def test_every_form_docker_takes(spec, expected):
    assert PortMapping.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("abc", "malformed"),
        ("70000:1", "outside 1-65535"),
        ("1:70000", "outside 1-65535"),
        (":", "malformed"),
        ("0:80", "outside 1-65535"),
        ("8080:80/icmp", "protocol"),
        ("8000-8010:8000-8010", "malformed"),
        ("300.1.1.1:80:80", "not an IP address"),
        ("::1:8080:80", "malformed"),
        ("1.2.3.4:5:6:7", "malformed"),
    ],
)
def test_bad_mappings_are_one_clear_line(spec, says):
    with pytest.raises(AirgapError, match=says) as caught:
        PortMapping.parse(spec)
    assert spec.strip() in str(caught.value) and "\n" not in str(caught.value)


def test_several_mappings_and_the_app_port():
    ports = Ports.parse("8080:8080,9090:9090")
    assert ports.container_port == 8080
    assert ports.bindings() == {"8080/tcp": 8080, "9090/tcp": 9090}
    assert ports.health_url("/health") == "http://127.0.0.1:8080/health"
    assert str(ports) == "8080:8080,9090:9090"


def test_the_app_port_is_the_first_tcp_one():
    ports = Ports.parse("5353:53/udp,127.0.0.1:8081:3000")
    assert ports.container_port == 3000
    assert ports.bindings() == {"53/udp": 5353, "3000/tcp": ("127.0.0.1", 8081)}
    assert ports.health_url("/up") == "http://127.0.0.1:8081/up"


def test_health_url_on_ipv6_and_unspecified_addresses():
    assert Ports.parse("[::1]:8080:80").health_url("/h") == "http://[::1]:8080/h"
    assert Ports.parse("0.0.0.0:8080:80").health_url("/h") == "http://127.0.0.1:8080/h"


def test_a_port_left_to_the_engine_needs_the_chosen_port_for_health():
    ports = Ports.parse("8080")
    assert ports.bindings() == {"8080/tcp": None}
    with pytest.raises(AirgapError, match="leaves the host port to the engine"):
        ports.health_url("/health")
    assert ports.health_url("/health", host_port=32768) == "http://127.0.0.1:32768/health"


def test_with_host_moves_only_the_app_mapping():
    moved = Ports.parse("8080:3000,9229:9229").with_host("127.0.0.1", 40000)
    assert str(moved) == "127.0.0.1:40000:3000,9229:9229"


@pytest.mark.parametrize(
    ("text", "says"),
    [("", "no port mapping"), ("8080:80,9090:80", "twice"), ("53:53/udp", "no TCP port")],
)
def test_bad_sets_of_mappings(text, says):
    with pytest.raises(AirgapError, match=says):
        _ = Ports.parse(text).app
