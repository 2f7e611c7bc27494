"""manifest: what a bundle is, to JSON and back; another format or a damaged one refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airgapkit.crossing.manifest import FORMAT, FORMAT_VERSION, Manifest
from airgapkit.errors import AirgapError

SOURCE = Path("media/demo-1.0.0-base.zip")


def sample() -> Manifest:
    return Manifest(
        kind="base",
        app={"name": "demo", "version": "1.0.0", "image_name": "demo"},
        images=[
            {"ref": "node:20-alpine", "member": "images/node_20-alpine.tar", "id": "sha256:ab"}
        ],
        files=[
            {"path": "images/node_20-alpine.tar", "size": 10, "sha256": "a" * 64},
            {"path": "app/demo-1.0.0.tgz", "size": 5, "sha256": "b" * 64},
            {"path": "reports/trivy.json", "size": 2, "sha256": "c" * 64},
        ],
        created="2025-01-02T03:04:05+00:00",
        gate={"image": "node:20-alpine", "rules": []},
    )


def test_round_trip_keeps_every_field_and_names_the_format_first():
    manifest = sample()
    data = manifest.to_json()
    body = json.loads(data)
    assert list(body)[:2] == ["format", "format_version"]
    assert (body["format"], body["format_version"]) == (FORMAT, FORMAT_VERSION)
    assert body["created_by"].startswith("airgapkit ")
    assert Manifest.from_json(data, SOURCE) == manifest


def test_members_are_found_by_path_and_prefix():
    manifest = sample()
    assert manifest.member("app/demo-1.0.0.tgz")["sha256"] == "b" * 64
    assert [m["path"] for m in manifest.members("reports/")] == ["reports/trivy.json"]
    with pytest.raises(AirgapError, match="lists no member 'app/other.tgz'"):
        manifest.member("app/other.tgz")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"format": FORMAT, "format_version": 99}).encode(), "format version 1"),
        (json.dumps({"format": "something-else", "format_version": 1}).encode(), "format version"),
        (
            json.dumps({"format": FORMAT, "format_version": 1, "kind": "base"}).encode(),
            "lacks some it needs",
        ),
        (
            json.dumps(
                {"format": FORMAT, "format_version": 1, "kind": "base", "app": {}, "new": 1}
            ).encode(),
            "does not know",
        ),
    ],
    ids=["not json", "not an object", "newer version", "other format", "missing", "unknown"],
)
def test_anything_else_is_refused_in_one_line(data, message):
    with pytest.raises(AirgapError, match=message) as exc:
        Manifest.from_json(data, SOURCE)
    assert str(exc.value).startswith(str(SOURCE)) and "\n" not in str(exc.value)
