"""Steps 1-2, the connected side: the base image and the packed app in one bundle for the crossing."""

from __future__ import annotations

from pathlib import Path

from .. import history
from ..app import npm
from ..crossing import bundle
from ..crossing.manifest import Manifest
from ..delta import plan
from ..engine import images
from ..gate import checkpoint
from ..settings import Crossing, Gate
from .bundles import app_record, make_bundle, report_files


def export(
    client,
    *,
    app_dir: Path,
    base_image: str,
    build_dir: Path,
    crossing: Crossing,
    gate: Gate,
    since: str = "",
    run: history.Run | None = None,
) -> bundle.Delivery:
    """Pull (or reuse) and gate the base image, pack the app, and bundle both for the crossing.

    ``since`` (``last`` or a manifest file): leave the base image out when the far side has it.
    """
    run = run or history.unrecorded("export")
    meta = npm.read_package(app_dir)
    run.note_app(app_record(meta))
    previous = plan.previous(since, history=run.history, app=meta.name, kind="base")
    images.pull(client, base_image, if_missing=True)
    verdict = checkpoint.gate(
        client,
        base_image,
        kind="base",
        report=gate.report,
        limits=gate.limits,
        accept_risk=gate.accept_risk,
    )
    tgz = npm.pack(app_dir, build_dir)
    manifest = Manifest(kind="base", app=app_record(meta), gate=verdict.record())
    delivery = make_bundle(
        client,
        manifest,
        crossing,
        images=plan.leave_out_base(client, manifest, base_image, previous),
        files=[(tgz, f"app/{tgz.name}"), *report_files(gate.report)],
    )
    run.note_bundle(manifest, delivery.archive, delivery.sha256)
    return delivery
