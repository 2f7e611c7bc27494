"""manifest: what a bundle is, to JSON and back; another format or a damaged one refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airgapkit import __version__
from airgapkit.crossing.manifest import FORMAT, FORMAT_VERSION, READABLE_FORMATS, Manifest
from airgapkit.errors import AirgapError

SOURCE = Path("media/demo-1.0.0-base.zip")


def sample() -> Manifest:
    return Manifest(
        kind="base",
        app={"name": "demo", "version": "1.0.0", "image_name": "demo"},
        images=[
            {
                "ref": "node:20-alpine",
                "member": "images/node_20-alpine.tar",
                "id": "sha256:ab",
                "repo_tags": ["node:20-alpine"],
                "layers": ["sha256:1"],
                "size": 10,
            }
        ],
        files=[
            {"path": "images/node_20-alpine.tar", "size": 10, "sha256": "a" * 64},
            {"path": "app/demo-1.0.0.tgz", "size": 5, "sha256": "b" * 64},
            {"path": "reports/trivy.json", "size": 2, "sha256": "c" * 64},
        ],
        created="2025-01-02T03:04:05+00:00",
        gate={
            "image": "node:20-alpine",
            "image_id": "sha256:ab",
            "kind": "base",
            "checked_on": "2025-01-02",
            "passed": True,
            "failures": [],
            "accepted_risk": "",
            "rules": [
                {"rule": "size", "passed": True, "measured": "1 MB", "limit": "200 MB", "why": ""}
            ],
        },
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
        (
            json.dumps({"format": FORMAT, "format_version": 99}).encode(),
            "format version 99; .*reads up to format version 2",
        ),
        (json.dumps({"format": "something-else", "format_version": 1}).encode(), "format version"),
        (
            json.dumps({"format": FORMAT, "format_version": 1, "kind": "base"}).encode(),
            "lacks the key app",
        ),
        (
            json.dumps(
                {"format": FORMAT, "format_version": 1, "kind": "base", "app": {}, "new": 1}
            ).encode(),
            "has a key it does not know: new",
        ),
    ],
    ids=["not json", "not an object", "newer version", "other format", "missing", "unknown"],
)
def test_anything_else_is_refused_in_one_line(data, message):
    with pytest.raises(AirgapError, match=message) as exc:
        Manifest.from_json(data, SOURCE)
    assert str(exc.value).startswith(str(SOURCE)) and "\n" not in str(exc.value)


def _altered(change) -> bytes:
    body = json.loads(sample().to_json())
    change(body)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.update(app=["demo"]), "has a list where an object belongs at app"),
        (
            lambda b: b["files"][0].update(size="10"),
            "a string where a size belongs at files\\[0\\].size",
        ),
        (lambda b: b["files"][0].update(size=-1), "where a size belongs"),
        (
            lambda b: b["files"][1].update(sha256="0" * 63),
            "where a SHA-256 belongs at files\\[1\\]",
        ),
        (lambda b: b.update(files={"path": "x"}), "has an object where a list belongs at files"),
        (lambda b: b["images"][0].pop("id"), "lacks the key id at images\\[0\\]"),
        (lambda b: b["gate"]["rules"][0].update(passed="yes"), "where true or false belongs"),
        (lambda b: b.update(kind="[red]base"), "has kind \\[red\\]base, not base or release"),
        (lambda b: b.update(format_version=True), "true/false where a number belongs"),
    ],
    ids=[
        "app a list",
        "size a string",
        "size negative",
        "bad hash",
        "files an object",
        "image without id",
        "rule passed a string",
        "unknown kind",
        "version true",
    ],
)
def test_a_malformed_manifest_is_refused_naming_where(change, message):
    with pytest.raises(AirgapError, match=message) as exc:
        Manifest.from_json(_altered(change), SOURCE)
    assert "\n" not in str(exc.value)


def test_a_manifest_without_the_optional_keys_still_reads():
    body = {"format": FORMAT, "format_version": 1, "kind": "base", "app": sample().app}
    assert Manifest.from_json(json.dumps(body).encode(), SOURCE).files == []


def test_the_trust_fields_are_optional_and_checked_like_the_rest():
    manifest = sample()
    manifest.sbom = {
        "member": "sbom/cyclonedx.json",
        "packages": 68,
        "base_image": {"ref": "node:20-alpine", "image_id": "sha256:ab", "repo_digest": None},
    }
    manifest.contract = {"member": "contract/.env.example", "keys": ["PORT", "DB_PASSWORD"]}
    manifest.base_bundle = {"archive": "demo-1.0.0-base.zip", "manifest_sha256": "d" * 64}
    manifest.base_bundle["signer"] = "SHA256:abc"
    assert Manifest.from_json(manifest.to_json(), SOURCE) == manifest
    for field, change, where in (
        ("sbom", {"packages": "68"}, "sbom.packages"),
        ("contract", {"keys": "PORT"}, "contract.keys"),
        ("base_bundle", {"manifest_sha256": "not-a-sum"}, "base_bundle.manifest_sha256"),
    ):
        body = json.loads(manifest.to_json())
        body[field] = {**body[field], **change}
        with pytest.raises(AirgapError, match=f"at {where}"):
            Manifest.from_json(json.dumps(body).encode(), SOURCE)


def test_a_bundle_newer_than_this_airgapkit_is_refused_naming_both_versions():
    body = json.loads(sample().to_json())
    body.update(format_version=FORMAT_VERSION + 1, created_by="airgapkit 9.1.0")
    with pytest.raises(AirgapError) as exc:
        Manifest.from_json(json.dumps(body).encode(), SOURCE)
    assert str(exc.value) == (
        f"{SOURCE} is a bundle of format version {FORMAT_VERSION + 1}, made by airgapkit 9.1.0; "
        f"this airgapkit {__version__} reads up to format version {FORMAT_VERSION}: carry the "
        "newer airgapkit across (its kit, made by inv kit where it is installed), install it "
        "here, then run this again"
    )


def test_every_format_it_ever_wrote_is_readable():
    assert FORMAT_VERSION in READABLE_FORMATS
    assert list(READABLE_FORMATS) == list(range(1, FORMAT_VERSION + 1))


def test_a_stack_is_recorded_and_read_back_and_a_manifest_without_one_still_reads():
    manifest = sample()
    assert Manifest.from_json(manifest.to_json(), SOURCE).stack is None  # format 1 as before
    manifest.stack = {
        "member": "stack/compose.yaml",
        "pinned": True,
        "app_service": "api",
        "services": [{"name": "kv", "image": "kv:1", "id": "sha256:cd", "repo_digest": ""}],
        "contracts": [
            {"service": "kv", "env_file": "kv.env", "member": "stack/contracts/kv.env.example",
             "keys": ["KV_NAME"]},
        ],
    }  # fmt: skip
    assert Manifest.from_json(manifest.to_json(), SOURCE).stack == manifest.stack
    body = json.loads(manifest.to_json())
    del body["stack"]["services"][0]["id"]
    with pytest.raises(AirgapError, match=r"lacks the key id at stack\.services\[0\]"):
        Manifest.from_json(json.dumps(body).encode(), SOURCE)


def test_a_key_a_record_does_not_declare_fails_where_it_is_read():
    """A manifest read from a bundle holds typed records: a misspelled key is an error at once,
    not a missing value found later."""
    manifest = Manifest.from_json(sample().to_json(), SOURCE)
    image = manifest.images[0]
    assert image["ref"] == "node:20-alpine" and image.get("source") is None  # declared, absent
    with pytest.raises(KeyError, match="ImageRecord declares no key 'reff'"):
        image.get("reff")
    with pytest.raises(KeyError, match="GateRecord declares no key 'rule'"):
        manifest.gate["rule"]
    assert manifest.images == sample().images  # still the JSON objects they were
