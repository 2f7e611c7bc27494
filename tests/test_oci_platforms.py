"""Platforms as the configuration writes them and as indexes and configs declare them."""

from __future__ import annotations

import pytest

from airgapkit.errors import AirgapError
from airgapkit.oci import platforms
from airgapkit.oci.platforms import Platform


def test_parse_and_print():
    assert platforms.parse("linux/amd64") == Platform("linux", "amd64")
    assert platforms.parse(" Linux/ARM64/v8 ") == Platform("linux", "arm64", "v8")
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
    assert platforms.DEFAULT == "linux/amd64"


@pytest.mark.parametrize("text", ["", "amd64", "linux/", "linux/amd64/v1/x", "linux/amd 64"])
def test_malformed_platforms_say_how_to_write_one(text):
    with pytest.raises(AirgapError, match="linux/amd64"):
        platforms.parse(text)


@pytest.mark.parametrize(
    ("wanted", "offered", "match"),
    [
        ("linux/amd64", Platform("linux", "amd64"), True),
        ("linux/amd64", Platform("linux", "amd64", "v1"), True),
        ("linux/amd64", Platform("linux", "x86_64"), True),
        ("linux/arm64", Platform("linux", "arm64", "v8"), True),
        ("linux/arm64/v8", Platform("linux", "aarch64"), True),
        ("linux/arm/v7", Platform("linux", "arm"), True),
        ("linux/arm/v6", Platform("linux", "arm", "v7"), False),
        ("linux/amd64", Platform("linux", "arm64"), False),
        ("linux/amd64", Platform("windows", "amd64"), False),
    ],
)
def test_matching_normalises_aliases_and_default_variants(wanted, offered, match):
    assert platforms.parse(wanted).matches(offered) is match


def test_descriptors_and_configs_declare_platforms():
    entry = {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
    assert platforms.from_descriptor(entry) == Platform("linux", "arm64", "v8")
    assert platforms.from_descriptor({"digest": "sha256:x"}) is None
    assert platforms.from_config({"os": "linux", "architecture": "amd64"}) == Platform(
        "linux", "amd64"
    )
    assert platforms.from_config({}) is None
