"""Steps 1-2, the connected side: the base image and the packed app in one bundle for the crossing."""

from __future__ import annotations

from pathlib import Path

from ..app import npm
from ..crossing import bundle
from ..crossing.manifest import Manifest
from ..engine import images
from ..gate import checkpoint
from ..settings import Crossing, Gate, Trust
from ..trust import seal
from .bundles import app_record, make_bundle, report_files


def export(
    client,
    *,
    app_dir: Path,
    base_image: str,
    build_dir: Path,
    crossing: Crossing,
    gate: Gate,
    trust: Trust | None = None,
) -> bundle.Delivery:
    """Pull (or reuse) and gate the base image, pack the app, and bundle both for the crossing,
    with the app's SBOM and env contract, signed when a signing key is configured or given."""
    key = seal.signing_key(trust)  # a wrong passphrase fails now, not after the long save
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
    app = app_record(meta)
    extras = seal.export_extras(
        client, app_dir=app_dir, base_image=base_image, app=app, out_dir=build_dir
    )
    manifest = extras.apply(Manifest(kind="base", app=app, gate=verdict.record()))
    return make_bundle(
        client,
        manifest,
        crossing,
        images=[base_image],
        files=[(tgz, f"app/{tgz.name}"), *report_files(gate.report), *extras.files],
        sign=seal.signer(key),
    )
