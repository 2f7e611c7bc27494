"""Steps 3-4, the air-gapped dev side: the export verified, the app image built offline from its
.tgz, tried, gated, and bundled for test/prod."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from .. import fsutil, history, locks
from ..app import buildcontext, envfiles
from ..crossing import bundle
from ..crossing.manifest import Manifest
from ..delta import apply, plan
from ..engine import identity, images, lifecycle
from ..engine.client import engine_address
from ..errors import IntegrityError
from ..gate import appreports, checkpoint, layerscan, rules
from ..phases import SAVE_AND_ARCHIVE, phase
from ..settings import Crossing, Gate, Incoming, Smoke, Trust
from ..trust import seal
from ..trust.signing import TrustedKeys
from . import stack as stack_flow
from .bundles import check_earlier, locked_output, make_bundle, open_incoming, report_files

PACKAGED_DOCKERFILES = Path(__file__).resolve().parent.parent / "dockerfiles"


@locked_output("release")
def release(
    client,
    *,
    incoming: Incoming,
    dockerfile: Path,
    variant: str,
    smoke: Smoke,
    crossing: Crossing,
    gate: Gate,
    no_cache: bool = False,
    since: str = "",
    trust: Trust | None = None,
    run: history.Run | None = None,
) -> bundle.Delivery:
    """Verify the export bundle, build the app image offline, smoke-test it, bundle it for prod.

    The export's signature is checked per ``trust.keys`` before its image is loaded; its SBOM and
    env contract are carried forward, and the release is signed with the dev side's key.
    ``since`` (``last`` or a manifest file): carry only the app layers the far side lacks.
    """
    key = seal.signing_key(trust)  # a wrong passphrase fails now, not after the build
    run = run or history.unrecorded("release")
    with tempfile.TemporaryDirectory(prefix="airgapkit-release-") as tmp:
        work = Path(tmp)
        app, base_image, tgz, report, previous, carried, stack = unpack_export(
            client,
            incoming,
            work,
            gate.report,
            seal.trusted_keys(trust),
            since=since,
            run=run,
            before_load=lambda app: check_earlier(crossing, app, "release"),
        )
        ref = f"{app['image_name']}:{app['version']}"
        with phase("build"):
            build_app(
                client,
                tgz,
                dockerfile,
                ref,
                work_dir=work,
                variant=variant,
                base_image=base_image,
                port=smoke.ports.container_port,
                no_cache=no_cache,
                offline=True,
            )
        extras = seal.release_extras(carried, work)
        manifest = extras.apply(Manifest(kind="release", app=app))
        refs, stack_files = [ref], []
        with phase("smoke test"):
            if stack is None:
                smoke_test(client, ref, smoke)
            else:  # the whole stack tried, its file pinned; its other images carried beside it
                more, stack_files = stack_flow.release_stack(
                    client, stack, app_ref=ref, smoke=smoke, app_contract=carried.contract_path,
                    manifest=manifest, previous=previous, work=work,
                )  # fmt: skip
                refs += [r for r in more if r != ref]
        with phase(SAVE_AND_ARCHIVE):  # the secrets scan and the gate on it included
            delivery = make_bundle(
                client,
                manifest,
                crossing,
                images=refs,
                files=[*report_files(report), *extras.files, *stack_files],
                watch=layerscan.scan_and_measure,
                before_manifest=gate_scanned(client, ref, report, gate, carried_packages(carried)),
                image_filters=plan.leave_out_layers(client, manifest, ref, previous),
                sign=seal.signer(key),
            )
        run.note_bundle(manifest, delivery.archive, delivery.sha256)
        run.note_signer(key and key.fingerprint)
        return delivery


def gate_scanned(client, ref: str, report: Path | None, gate: Gate, packages=None):
    """The app image's gate, run on the secrets found in the layers as they streamed into the
    release archive (the image is read once); a failure leaves no archive behind, only its temp.

    ``packages``: the app's packages as the export judged them (``carried_packages``)."""

    def judge(manifest: Manifest, scanned: dict[str, layerscan.Scanned]) -> None:
        if scanned[ref].size is not None:  # the containerd store would save the image again
            identity.remember_size(images.require_image(client, ref), scanned[ref].size)
        verdict = checkpoint.gate(
            client,
            ref,
            kind="app",
            report=report,
            limits=gate.limits,
            accept_risk=gate.accept_risk,
            findings=scanned[ref].findings,
            app=packages,
        )
        manifest.gate = verdict.record()

    return judge


def carried_packages(carried: seal.Carried) -> rules.AppEvidence:
    """The app packages' report the export carried, judged again here under this side's policy;
    the dev side has no network and no installed tree, so it judges the counts the export made."""
    if carried.app_report_field is not None:
        return appreports.AppSummary.from_record(carried.app_report_field)
    return appreports.Unavailable(
        f"{carried.base_bundle['archive']} carries no report on the app's packages; export it again "
        "with one"
    )


def unpack_export(
    client,
    incoming: Incoming,
    work: Path,
    report: Path | None,
    trusted: TrustedKeys | None = None,
    *,
    since: str = "",
    run: history.Run | None = None,
    before_load: Callable[[dict], None] | None = None,
):
    """Load the export's base image; take out its .tgz, (unless one is given) its report, and what
    it carries for the release (SBOM, contract, its signer).

    Also the delivery ``since`` names (None without it), found before anything is loaded
    (``before_load(app)`` may refuse then too), and the stack the export carries (None for a
    single app).
    """
    run = run or history.unrecorded("release")
    with phase("verify"):
        opened = open_incoming(incoming, "base", trusted)
    with opened:
        app = opened.manifest.app
        run.note_app(app)
        if before_load is not None:
            before_load(app)
        previous = plan.previous(since, history=run.history, app=app["name"], kind="release")
        apply.check_prerequisites(client, opened.manifest, opened.path)
        with phase("load"):
            apply.load_images(client, opened)
            check_loaded(client, opened.manifest.images)
        apply.tag_prerequisites(client, opened.manifest)
        tgz = opened.extract(f"app/{app['tgz']}", work)
        report = report or carried_report(opened, work)
        carried = seal.carried(opened, work)
        stack = stack_flow.carried(opened, work)
        base = apply.base_image_ref(opened.manifest)
        return app, base, tgz, report, previous, carried, stack


def check_loaded(client, records: list[dict]) -> None:
    """Each image the bundle recorded is in the engine under its name with the recorded ID.

    The ID is the digest of the image's config, which names every layer's content (the same on
    both image stores, ``engine.identity``); for an image read from its registry, that config is
    the one its repository digest led to when it was exported.
    """
    for record in records:
        if record.get("repo_tags"):
            loaded = identity.of_ref(client, record["ref"])
        else:  # untagged: found by its ID and layers, or named missing
            found = identity.find(client, record["id"], layers=record.get("layers") or ())
            loaded = record["id"] if found else identity.of_ref(client, record["id"])
        if loaded != record["id"]:
            source = f" (from {record['repo_digest']})" if record.get("repo_digest") else ""
            raise IntegrityError(
                f"the image loaded as {record['ref']} has ID {loaded}, not the {record['id']} its "
                f"bundle recorded{source}; the bundle does not hold what it says: make it again"
            )


def carried_report(opened: bundle.OpenBundle, work: Path) -> Path | None:
    """The image's scanner report that came in the export bundle, if one did (not the report on
    the app's packages, which ``seal.carried`` takes)."""
    app_member = (opened.manifest.app_report or {}).get("member")
    reports = [r for r in opened.manifest.members("reports/") if r["path"] != app_member]
    return opened.extract(reports[0]["path"], work) if reports else None


def build_app(
    client,
    tgz: Path,
    dockerfile: Path,
    ref: str,
    *,
    work_dir: Path,
    variant: str,
    base_image: str,
    port: int,
    build_args: dict | None = None,
    no_cache: bool = False,
    offline: bool = True,
) -> str:
    """Stage a clean context from the .tgz, build ref from it, drop the untagged first stage (its
    steps stay as the next build's cache)."""
    fsutil.require_folder(work_dir, "build_dir")
    context, dockerfile_name, args = buildcontext.stage(
        tgz,
        find_dockerfile(dockerfile),
        work_dir / "context",
        variant=variant,
        base_image=base_image,
        port=port,
    )
    image_id = images.build(
        client,
        context,
        ref,
        dockerfile=dockerfile_name,
        build_args={**args, **(build_args or {})},
        no_cache=no_cache,
        offline=offline,
    )
    images.drop_stage_images(client, buildcontext.STAGE_LABEL)
    return image_id


def smoke_test(client, ref: str, smoke: Smoke) -> None:
    """Start the image on a loopback port, wait for its health path, then remove it. One smoke
    test of an image name at a time on this engine: a container one killed left is removed."""
    watch = lifecycle.Watch(smoke.ports, smoke.health_path, smoke.timeout, smoke.log_dir)
    env = envfiles.load(smoke.env_file) if smoke.env_file else None
    key = f"{engine_address()} {lifecycle.trials_of(ref)}"
    with locks.held("smoke", key, f"smoke test of {ref}"):
        lifecycle.trial_run(client, ref, watch=watch, env=env)


def find_dockerfile(configured: Path) -> Path:
    """The configured Dockerfile, else the copy that ships with airgapkit under the same name.

    The air-gapped side runs in folders of its own, where the project's dockerfiles/ is not at hand.
    """
    if configured.is_file() or configured.is_absolute():
        return configured
    packaged = PACKAGED_DOCKERFILES / configured.name
    return packaged if packaged.is_file() else configured
