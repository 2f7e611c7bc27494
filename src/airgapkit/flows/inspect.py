"""What a bundle holds, printed for a person: its kind and app, its images, its members, the
image rules as they stood when it was made, and the app packages' known vulnerabilities
(``inv inspect``).

Everything in a manifest came across the air gap: it is shown as data (``display``), never as
terminal sequences or Rich markup.
"""

from __future__ import annotations

from rich.table import Table

from .. import display, fsutil
from ..crossing.manifest import Manifest
from ..delta import plan
from ..gate import render


def print_manifest(manifest: Manifest) -> None:
    """The bundle's kind, app and date, then its images, its members and its gate record."""
    out = display.console()
    app = manifest.app
    out.print(
        f"[bold]{display.markup(manifest.kind)} bundle[/bold] of {display.markup(app['name'])} "
        f"{display.markup(app['version'])}, made {display.markup(manifest.created)} by "
        f"{display.markup(manifest.created_by)}"
    )
    out.print(_images(manifest), _files(manifest))
    if manifest.stack:  # which image each service of the stack runs
        out.print(_stack(manifest.stack))
    if needs := plan.requirements_table(manifest):  # a delta: what the far side must hold
        out.print(needs)
    if manifest.gate:
        gate = _escaped(manifest.gate)  # the gate's renderer reads markup in strings
        out.print(render.record_table(gate))
        if risk := render.accepted_risk_line(gate):
            out.print(risk)
    if manifest.app_report:  # the app's packages, as the connected side counted them
        out.print(render.app_report_table(manifest.app_report))


def _escaped(value):
    """A copy of a manifest value with every string made safe for markup."""
    if isinstance(value, str):
        return display.markup(value)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def _images(manifest: Manifest) -> Table:
    images = Table(title="Images")
    for column in ("ref", "id", "repo tags", "layers", "size"):
        images.add_column(column)
    for image in manifest.images:
        images.add_row(
            display.text(image["ref"]),
            display.text(image["id"][:19]),
            display.text(", ".join(image["repo_tags"])),
            str(len(image["layers"])),
            fsutil.human_size(image.get("size") or 0),
        )
    return images


def _stack(stack: dict) -> Table:
    pinned = "pinned" if stack["pinned"] else "as written"
    table = Table(title=f"Stack ({display.markup(stack['member'])}, {pinned})")
    for column in ("service", "image", "id", "repo digest", "env contract"):
        table.add_column(column)
    table.add_row(display.text(stack["app_service"]), "the app", "", "", "the app's")
    contracts = {c["service"]: c["member"] for c in stack.get("contracts", [])}
    for service in stack["services"]:
        cells = (
            service["name"],
            service["image"],
            service["id"][:19],
            service.get("repo_digest", ""),
            contracts.get(service["name"], "none"),
        )
        table.add_row(*(display.text(cell) for cell in cells))
    return table


def _files(manifest: Manifest) -> Table:
    files = Table(title="Files")
    for column in ("path", "size", "SHA-256"):
        files.add_column(column)
    for entry in manifest.files:
        files.add_row(display.text(entry["path"]), f"{entry['size']:,}", entry["sha256"])
    return files
