"""What a bundle holds, printed for a person: its kind and app, its images, its members, and the
image rules as they stood when it was made (``inv inspect``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ..gate import render
from .manifest import Manifest


def print_manifest(manifest: Manifest) -> None:
    """The bundle's kind, app and date, then its images, its members and its gate record."""
    out = Console()
    app = manifest.app
    out.print(
        f"[bold]{manifest.kind} bundle[/bold] of {app['name']} {app['version']}, made "
        f"{manifest.created} by {manifest.created_by}"
    )
    out.print(_images(manifest), _files(manifest))
    if manifest.gate:
        out.print(render.record_table(manifest.gate))
        if risk := render.accepted_risk_line(manifest.gate):
            out.print(risk)


def _images(manifest: Manifest) -> Table:
    images = Table(title="Images")
    for column in ("ref", "id", "repo tags", "layers", "size"):
        images.add_column(column)
    for image in manifest.images:
        images.add_row(
            image["ref"],
            image["id"][:19],
            ", ".join(image["repo_tags"]),
            str(len(image["layers"])),
            f"{(image.get('size') or 0) / 1e6:.1f} MB",
        )
    return images


def _files(manifest: Manifest) -> Table:
    files = Table(title="Files")
    for column in ("path", "size", "SHA-256"):
        files.add_column(column)
    for entry in manifest.files:
        files.add_row(entry["path"], f"{entry['size']:,}", entry["sha256"])
    return files
