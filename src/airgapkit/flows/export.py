"""Steps 1-2, the connected side: the base image and the packed app in one bundle for the crossing.

The base image comes from the engine (pulled if missing, ``docker save``d into the bundle) or
straight from its registry (``oci``: no engine at all, the layers stored compressed as the registry
holds them); ``base_source`` chooses, and ``auto`` takes the engine when it answers and has the image.

One gate judges what crosses: the base image's rules and the app's own npm packages (npm audit of
the installed tree, or ``--app-report``), in one table, with one verdict and one accepted risk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .. import display, fsutil, history, oci
from ..app import npm
from ..crossing import bundle
from ..crossing.manifest import Manifest
from ..delta import plan
from ..engine import images, source
from ..errors import AirgapError, EngineUnavailable
from ..gate import appreports, checkpoint, rules
from ..gate.limits import resolve
from ..phases import SAVE_AND_ARCHIVE, phase
from ..settings import BaseSource, Crossing, Gate, StackSettings, Trust
from ..trust import seal
from ..trust.keys import SigningKey
from . import audit
from . import stack as stack_flow
from .bundles import app_record, check_earlier, locked_output, make_bundle, report_files

console = display.plain(stderr=True)


@locked_output("export")
def export(
    client,
    *,
    app_dir: Path,
    base_image: str,
    build_dir: Path,
    crossing: Crossing,
    gate: Gate,
    since: str = "",
    trust: Trust | None = None,
    run: history.Run | None = None,
    stack: StackSettings | None = None,
) -> bundle.Delivery:
    """Pull (or reuse) and gate the base image, pack the app, and bundle both for the crossing,
    with the app's SBOM and env contract, signed when a signing key is configured or given.
    A ``compose.yaml`` in the app folder adds the images of its other services (flows/stack.py).

    ``since`` (``last`` or a manifest file): leave the base image out when the far side has it.
    """
    begun = _begin(app_dir, build_dir, trust, since, run, gate, stack)
    check_earlier(crossing, app_record(begun.meta), "base")
    with phase("pull"):
        images.pull(
            client, base_image, if_missing=True, otherwise="name a local image with --base-image"
        )
        if begun.stack is not None:  # an image that cannot be had stops the export before work
            stack_flow.pull_images(client, begun.stack)
    with phase("gate"):
        judged = checkpoint.evaluate(
            client,
            base_image,
            kind="base",
            report=gate.report,
            limits=gate.limits,
            fresh_as_of=date.today(),
        )
        image = seal.engine_image(client, base_image)
    # A base that travels whole is asked of the engine before the app is packed: the engine makes
    # its tar (all of it before the first byte, on the classic store) while npm works.
    early = source.SavedImage(client, base_image).start() if begun.previous is None else None
    try:
        with phase("pack"):
            manifest, files = _packed(begun, app_dir, build_dir, image, judged, gate)
        refs = plan.leave_out_base(client, manifest, base_image, begun.previous)
        if begun.stack is not None:
            more, stack_files = stack_flow.export_images(
                client, begun.stack, manifest, app_dir=app_dir, work=build_dir, gate=gate,
                settings=stack, previous=begun.previous,
            )  # fmt: skip
            refs, files = [*refs, *(r for r in more if r not in refs)], [*files, *stack_files]
        with phase(SAVE_AND_ARCHIVE):
            delivery = make_bundle(
                client,
                manifest,
                crossing,
                images=[early if early is not None and r == base_image else r for r in refs],
                files=files,
                sign=seal.signer(begun.key),
            )
    finally:
        if early is not None:
            early.close()  # unread when the export stopped before the archive
    return begun.recorded(manifest, delivery)


def export_base(
    connect: Callable[[], object], *, source: BaseSource, base_image: str, **job
) -> bundle.Delivery:
    """``export`` from the configured source; ``connect`` is called only when the engine is used.

    ``job`` holds the other keyword arguments of ``export`` (app_dir, build_dir, crossing, ...).
    """
    client = engine_for(source, base_image, connect)
    if client is not None:
        return export(client, base_image=base_image, **job)
    return export_from_registry(source=source, base_image=base_image, **job)


def engine_for(source: BaseSource, ref: str, connect: Callable[[], object]):
    """The engine client when the image is to come from the engine, else None (the registry)."""
    if source.source == "engine":
        return connect()
    if source.source == "registry":
        return None
    try:  # auto
        client = connect()
    except EngineUnavailable:
        console.print(f"no Docker Engine answers: reading {ref} from its registry")
        return None
    if images.find_image(client, ref) is None:
        console.print(f"the engine has no {ref}: reading it from its registry")
        return None
    return client


@locked_output("export")
def export_from_registry(
    *,
    source: BaseSource,
    app_dir: Path,
    base_image: str,
    build_dir: Path,
    crossing: Crossing,
    gate: Gate,
    since: str = "",
    trust: Trust | None = None,
    run: history.Run | None = None,
    stack: StackSettings | None = None,
) -> bundle.Delivery:
    """The base image straight from its registry, gated on its facts, streamed into the bundle."""
    begun = _begin(app_dir, build_dir, trust, since, run, gate, stack)
    check_earlier(crossing, app_record(begun.meta), "base")
    if begun.stack is not None:
        raise AirgapError(
            f"{begun.stack.source}: a stack's images are saved from the engine; export it with "
            "--source engine (base_source: engine)"
        )
    with oci.open_image(base_image, platform=source.platform, access=source.access) as remote:
        with phase("gate"):
            facts = remote.facts()
            judged = checkpoint.judge_registry(
                facts, report=gate.report, limits=gate.limits, fresh_as_of=date.today()
            )
        image = seal.registry_image(base_image, remote)
        with phase("pack"):
            manifest, files = _packed(begun, app_dir, build_dir, image, judged, gate)
        held = plan.require_base(manifest, base_image, facts.image_id, begun.previous)
        with phase("download & archive"):
            delivery = make_bundle(
                None,
                manifest,
                crossing,
                images=[],
                registry_images=[] if held else [remote],
                files=files,
                sign=seal.signer(begun.key),
            )
        return begun.recorded(manifest, delivery)


@dataclass
class _Begun:
    """What both exports settle before the base image is touched."""

    key: SigningKey | None
    run: history.Run
    meta: npm.PackageMeta
    previous: plan.Previous | None
    stack: stack_flow.compose.Stack | None = None  # the app folder's compose.yaml, checked

    def recorded(self, manifest: Manifest, delivery: bundle.Delivery) -> bundle.Delivery:
        self.run.note_bundle(manifest, delivery.archive, delivery.sha256)
        self.run.note_signer(self.key and self.key.fingerprint)
        return delivery


def _begin(
    app_dir: Path, build_dir: Path, trust, since: str, run, gate: Gate, stack=None
) -> _Begun:
    """The checks that fail fast: the signing key's passphrase (not after the long save), the build
    folder, a given report on the app's packages, package.json, the delivery ``since`` names, and a
    stack's compose.yaml."""
    key = seal.signing_key(trust)
    fsutil.require_folder(build_dir, "build_dir")
    if gate.app_report is not None:
        appreports.detect(gate.app_report)
    run = run or history.unrecorded("export")
    meta = npm.read_package(app_dir)
    run.note_app(app_record(meta))
    previous = plan.previous(since, history=run.history, app=meta.name, kind="base")
    read = stack_flow.read(app_dir, stack) if stack is not None else None
    return _Begun(key, run, meta, previous, read)


def _packed(begun: _Begun, app_dir: Path, build_dir: Path, image, judged, gate: Gate):
    """The packed app, its SBOM, env contract and packages' report; the gate's verdict on the base
    image and the app's packages together; and the manifest that lists them."""
    tgz = npm.pack(app_dir, build_dir)
    app = app_record(begun.meta)
    extras = seal.export_extras(app_dir=app_dir, image=image, app=app, out_dir=build_dir)
    limits = resolve(gate.limits)
    packages, report = audit.check(
        app_dir,
        extras.bom,
        given=gate.app_report,
        out=build_dir / f"{app['image_name']}-{app['version']}-app-npm-audit.json",
        registry=gate.audit_registry,
        limits=limits,
        today=date.today(),
    )
    judged.results.append(rules.rule_app_vulnerabilities(packages, limits.allowed))
    verdict = checkpoint.verdict(judged, gate.accept_risk, None)
    manifest = extras.apply(Manifest(kind="base", app=app, gate=verdict.record()))
    files = [(tgz, f"app/{tgz.name}"), *report_files(gate.report), *extras.files]
    if report is not None:
        manifest.app_report = packages.record()
        files.append((report, _app_member(packages.member, files)))
    return manifest, files


def _app_member(member: str, files: list[tuple[Path, str]]) -> str:
    """The app report's member name, unless the image report already took it."""
    if any(name == member for _, name in files):
        raise AirgapError(
            f"the image report is named like the app's report in the bundle ({member}); "
            "give the image report another file name"
        )
    return member
