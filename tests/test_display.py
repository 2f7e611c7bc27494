"""display: untrusted text shown as data: control characters escaped, markup never read."""

from __future__ import annotations

from rich.console import Console

from airgapkit import display


def test_control_and_invisible_characters_are_escaped():
    assert (
        display.safe("a\x1b[31mb\x07c\nd\u202ee\u200bf")
        == "a\\x1b[31mb\\x07c\\x0ad\\u202ee\\u200bf"
    )
    assert display.safe("plain café ✓") == "plain café ✓"


def test_markup_in_data_is_shown_not_obeyed():
    console = Console(record=True, width=200)
    console.print(display.text("[black on black]secret[/]"))
    console.print(f"name: {display.markup('[bold]x[/bold]')}")
    out = console.export_text()
    assert "[black on black]secret[/]" in out and "[bold]x[/bold]" in out
