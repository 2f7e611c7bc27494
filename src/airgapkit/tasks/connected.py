"""The connected side's tasks: the base image pulled, saved and checked, the app packed and its
packages audited, and the export that carries both; airgapkit itself in a kit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .. import oci
from ..app import npm
from ..engine import images
from ..errors import AirgapError
from ..flags import parse_day, parse_report_pairs
from ..flows import audit as app_audit
from ..flows import bundles
from ..flows import export as export_flow
from ..gate import checkpoint
from ..gate.candidates import choose
from ..kit import make as kit_make
from ..kit import targets as kit_targets
from ..oci import reference
from ..settings import Gate, Kit, Outgoing, StackSettings
from .common import HELP, base_source, client, config, project, recorded, task

APP_REPORT_HELP = Outgoing.FLAGS["app_report"].help


@task(
    help={
        "image": "Image to pull (default: the configured base_image).",
        "if_missing": "Use the local copy when the engine already has the image; pull only if absent.",
        "source": HELP["source"],
        "platform": HELP["platform"],
        "output": "With the registry source: the tar to write (default: <build_dir>/<image>.tar).",
    }
)
def pull(c, image="", if_missing=False, source="", platform="", output=""):
    """Pull an image with per-layer progress (docker pull); from its registry into a tar with no engine."""
    settings, base = project(c, base_image=image), base_source(c, source, platform)
    ref = settings.base_image
    engine = export_flow.engine_for(base, ref, lambda: client(c))
    if engine is not None:
        images.pull(
            engine, ref, if_missing=if_missing, otherwise="use --if-missing with a local copy"
        )
        return
    dest = Path(output) if output else settings.build_dir / reference.tar_name(ref)
    oci.export_to_file(ref, dest, platform=base.platform, access=base.access)


@task(
    iterable=["image"],
    help={
        "image": "Image to save; repeat for several (default: the configured base image).",
        "output": "Tar file to write (default: <build_dir>/<image>.tar).",
    },
)
def save(c, image=None, output=""):
    """Save images to a tar, streamed, with repo tags kept (docker save --output)."""
    settings = project(c)
    refs = image or [settings.base_image]
    dest = Path(output) if output else settings.build_dir / reference.tar_name(refs[0])
    images.save(client(c), refs, dest)


@task(
    help={
        "app": "Node.js app folder holding package.json (default: the configured app).",
        "output": "Folder for the .tgz (default: the configured build_dir).",
        "fix": 'Set "bundledDependencies": true in package.json when it is missing.',
    }
)
def pack(c, app="", output="", fix=False):
    """Install and pack the app with its bundled dependencies (npm install && npm pack)."""
    settings = project(c, app=app)
    out_named = "--output" if output else "build_dir"
    npm.pack(
        settings.app, Path(output) if output else settings.build_dir, fix=fix, out_named=out_named
    )


@task(
    name="check-image",
    help={
        "image": "Image to check: local (never pulled), or read from its registry (--source).",
        "report": "Scanner JSON report made on the connected side (trivy image -f json, grype -o json).",
        "kind": "base: size, Node LTS, vulnerabilities; app: also non-root and no secrets in any layer.",
        "app_report": "Also judge the app's npm packages by this report (npm audit --json, or Trivy, "
        "Grype, OSV-Scanner JSON of the app's SBOM).",
        "app": "With --app-report: the app folder (installed) whose SBOM the report must match "
        "(default: the configured app).",
        "max_size_mb": "Size limit in MB of 10^6 bytes (default: policy.max_size_mb, 200).",
        "min_support_months": "Months of Node support that must be left (default: 6).",
        "today": HELP["today"],
        "source": HELP["source"],
        "platform": HELP["platform"],
    },
)
def check_image(
    c,
    image,
    report="",
    kind="base",
    max_size_mb=None,
    min_support_months=None,
    today="",
    source="",
    platform="",
    app_report="",
    app="",
):
    """Check an image against the selection rules: a table, and a non-zero exit when one fails."""
    limits = Gate.from_config(
        config(c), max_size_mb=max_size_mb, min_support_months=min_support_months
    ).limits
    base = base_source(c, source, platform)
    engine = export_flow.engine_for(base, image, lambda: client(c))
    if engine is None and kind != "base":
        raise AirgapError("the app rules read the image's layers: check an app image in the engine")
    app_dir = project(c, app=app).app
    packages = (
        app_audit.judged_report(app_dir, Path(app_report), limits=limits) if app_report else None
    )
    judged = {
        "report": Path(report) if report else None,
        "limits": limits,
        "today": parse_day(today),
        "fresh_as_of": date.today(),  # the connected side: a fresher report can be had
        "app": packages,
        "can_accept": False,  # check-image has no --accept-risk
    }
    if engine is None:
        facts = oci.image_facts(image, platform=base.platform, access=base.access)
        checkpoint.gate_registry(facts, **judged)
    else:
        checkpoint.gate(engine, image, kind=kind, **judged)


@task(
    help={
        "app": "Node.js app folder (default: the configured app); its dependencies are installed first.",
        "app_report": APP_REPORT_HELP,
    }
)
def audit(c, app="", app_report=""):
    """Check the app's own npm packages for known vulnerabilities, as export will: a table."""
    settings, gate = project(c, app=app), Gate.from_config(config(c))
    app_audit.audit(
        settings.app,
        given=Path(app_report) if app_report else None,
        build_dir=settings.build_dir,
        registry=gate.audit_registry,
        limits=gate.limits,
    )


@task(
    name="choose-base",
    positional=["candidates"],
    iterable=["report"],
    help={
        "candidates": "Local images to compare, separated by commas (Invoke takes one positional).",
        "report": "IMAGE=FILE: a candidate's scanner JSON report; repeat for several.",
        "report_dir": "Folder of trivy/grype JSON reports, matched to candidates by image ID or name.",
        "today": HELP["today"],
    },
)
def choose_base(c, candidates=None, report=None, report_dir="", today=""):
    """The procedure's base-image table for several local candidates, best first."""
    refs = (candidates or "").replace(",", " ").split() or [project(c).base_image]
    choose(
        client(c),
        refs,
        reports=parse_report_pairs(report or []),
        report_dir=Path(report_dir) if report_dir else None,
        limits=Gate.from_config(config(c)).limits,
        today=parse_day(today),
    )


@task(
    outgoing=Outgoing.flags(),
    help={
        "app": "Node.js app folder (default: the configured app).",
        "base_image": "Base image (default: the configured one); from the engine, a local copy is used.",
        "since": HELP["since"],
        "source": HELP["source"],
        "platform": HELP["platform"],
    },
)
def export(c, app="", base_image="", since="", source="", platform="", *, outgoing: Outgoing):
    """Connected side: base image and packed app in one encrypted bundle, hash and password apart."""
    settings = project(c, app=app, base_image=base_image)
    delivery = recorded(
        c,
        "export",
        export_flow.export_base,
        lambda: client(c),
        source=base_source(c, source, platform),
        app_dir=settings.app,
        base_image=settings.base_image,
        build_dir=settings.build_dir,
        gate=outgoing.gate,
        crossing=outgoing.crossing,
        since=since,
        trust=outgoing.trust,
        stack=StackSettings.from_config(config(c)),
    )
    bundles.print_delivery(delivery, "release")


@task(
    outgoing=Outgoing.flags(omit=Outgoing.GATE_FLAGS),
    help={
        "platform": "Platforms to carry, comma-separated: linux/amd64, linux/arm64, windows/amd64, "
        "darwin/amd64, darwin/arm64 (default: kit.platforms, else this machine's).",
        "python": "Python versions to carry, comma-separated: 3.10-3.13 (default: kit.python, else "
        "this one's).",
        "executable": "Add the single airgapkit program for this machine (PyInstaller), for a far "
        "side with no Python.",
    },
)
def kit(c, platform="", python="", executable=False, *, outgoing: Outgoing):
    """Connected side: airgapkit and its dependencies for machines with no network, as a crossing."""
    carried = Kit.from_config(config(c), platform=platform, python=python)
    made = kit_make.make(
        kit_targets.parse(carried.platforms, carried.python),
        outgoing.crossing,
        outgoing.trust,
        executable=executable,
    )
    kit_make.print_kit(made)
