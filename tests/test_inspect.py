"""inspect: a bundle's manifest printed for a person, gate record included."""

from __future__ import annotations

from airgapkit.crossing.manifest import Manifest
from airgapkit.flows.inspect import print_manifest


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


def test_manifest_strings_are_shown_as_data_not_as_terminal_codes_or_markup(capsys):
    manifest = Manifest(
        kind="base",
        app={"name": "demo\x1b[2J", "version": "[black on black]hidden[/]", "image_name": "demo"},
        files=[{"path": "app/\x1b]0;title\x07x.tgz", "size": 1, "sha256": "e" * 64}],
        created="2025-01-02",
        gate={
            "image": "[red]node",
            "kind": "base",
            "passed": True,
            "failures": [],
            "accepted_risk": "",
            "rules": [
                {"rule": "[bold]size", "passed": True, "measured": "1", "limit": "2", "why": ""}
            ],
        },
    )
    print_manifest(manifest)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "demo\\x1b[2J" in out and "[black on black]hidden[/]" in out
    assert "\\x1b]0;title\\x07x.tgz" in out.replace("\n", "").replace(" ", "") or "\\x1b]0;" in out
    assert "[bold]size" in out and "[red]node" in out
