"""Steps 1-2, the connected side: the base image and the packed app in one bundle for the crossing."""

from __future__ import annotations

from pathlib import Path

from ..app import npm
from ..crossing import bundle
from ..crossing.manifest import Manifest
from ..engine import images
from ..gate import checkpoint
from ..settings import Crossing, Gate
from .bundles import app_record, make_bundle, report_files


def export(
    client, *, app_dir: Path, base_image: str, build_dir: Path, crossing: Crossing, gate: Gate
) -> bundle.Delivery:
    """Pull (or reuse) and gate the base image, pack the app, and bundle both for the crossing."""
    images.pull(client, base_image, if_missing=True)
    verdict = checkpoint.gate(
        client,
        base_image,
        kind="base",
        report=gate.report,
        limits=gate.limits,
        accept_risk=gate.accept_risk,
    )
    meta = npm.read_package(app_dir)
    tgz = npm.pack(app_dir, build_dir)
    manifest = Manifest(kind="base", app=app_record(meta), gate=verdict.record())
    return make_bundle(
        client,
        manifest,
        crossing,
        images=[base_image],
        files=[(tgz, f"app/{tgz.name}"), *report_files(gate.report)],
    )
