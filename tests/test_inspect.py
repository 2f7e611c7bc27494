"""inspect: a bundle's manifest printed for a person, gate record included."""

from __future__ import annotations

from airgapkit.crossing.inspect import print_manifest
from airgapkit.crossing.manifest import Manifest


def test_print_manifest_shows_app_images_files_and_rules(capsys):
    manifest = Manifest(
        kind="release",
        app={"name": "demo", "version": "1.2.3", "image_name": "demo"},
        images=[
            {
                "ref": "demo:1.2.3",
                "member": "images/demo_1.2.3.tar",
                "id": "sha256:0123456789abcdef0123",
                "repo_tags": ["demo:1.2.3"],
                "layers": ["sha256:1", "sha256:2"],
                "size": 123_400_000,
            }
        ],
        files=[{"path": "images/demo_1.2.3.tar", "size": 1_234_567, "sha256": "d" * 64}],
        created="2025-01-02T03:04:05+00:00",
        gate={
            "image": "demo:1.2.3",
            "kind": "app",
            "rules": [{"rule": "size", "passed": True, "measured": "123 MB", "limit": "200 MB"}],
            "accepted_risk": "",
        },
    )
    print_manifest(manifest)
    out = capsys.readouterr().out
    assert "release bundle of demo 1.2.3, made 2025-01-02T03:04:05+00:00" in out
    for piece in ("demo:1.2.3", "sha256:0123456789ab", "123.4 MB", "1,234,567", "PASS", "200 MB"):
        assert piece in out
    assert "risk accepted" not in out
