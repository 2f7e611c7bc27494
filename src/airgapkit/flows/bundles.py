"""The bundles the flows make and open at the air gap: one made for a crossing, one that arrived.

An outgoing bundle's three parts go to three places (``settings.Places``): the archive to the
media folder, its SHA-256 to the second channel, its password to the third. An incoming bundle is
checked against its separately delivered hash before anything in it is decrypted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .. import display, fsutil, locks
from ..app import npm
from ..crossing import bundle, channels, passwords
from ..crossing.manifest import Manifest
from ..delta import plan
from ..engine import source
from ..oci import RegistryImage
from ..platform import shells
from ..settings import Crossing, Incoming, Places
from ..trust import seal
from ..trust.signing import TrustedKeys

console = display.console(stderr=True)


def check_places(places: Places) -> None:
    """Refuse places that are files, or the same folder, or nested: each part travels on its own.

    The flows call it before their first step, so a wrong folder costs no pull, pack or build.
    """
    fsutil.require_folder(places.out_dir, "--out-dir")
    fsutil.require_folder(places.hashes_dir, "--hashes-dir")
    fsutil.require_folder(places.password_dir, "--password-dir")
    channels.check_separate(
        archive_folder=places.out_dir,
        hashes_folder=places.hashes_dir,
        password_folder=places.password_dir,
    )


@contextmanager
def output_lock(places: Places, doing: str) -> Iterator[None]:
    """One flow at a time writes into a media folder: two would mix their archives' parts."""
    folder = places.out_dir.resolve()
    with locks.held("output", str(folder), f"{doing} into {places.out_dir}") as lock:
        if lock.stale:
            console.print(locks.describe_stale(lock.stale))
        yield


def locked_output(doing: str):
    """Run a flow that takes ``crossing=`` under its media folder's lock (``output_lock``).

    The places are checked first, so a wrong folder is refused before the lock is even taken.
    """

    def wrap(flow):
        @functools.wraps(flow)
        def locked(*args, crossing: Crossing, **kwargs):
            check_places(crossing.places)
            with output_lock(crossing.places, doing):
                return flow(*args, crossing=crossing, **kwargs)

        return locked

    return wrap


def outgoing_password(crossing: Crossing) -> str | None:
    """The password given for a new archive (a file only), or None when one is to be generated.

    AIRGAPKIT_PASSWORD is not read here: on the dev side it holds the incoming bundle's password,
    and the release bundle must not travel under the same one.
    """
    if not crossing.password_file:
        return None
    return passwords.resolve(
        password_file=crossing.password_file,
        env_var="",
        confirm=False,
        allow_weak=crossing.allow_weak_password,
    )


def make_bundle(
    client,
    manifest: Manifest,
    crossing: Crossing,
    *,
    images: Sequence[str | source.SavedImage],
    files: list[tuple[Path, str]],
    registry_images: Sequence[RegistryImage] = (),
    watch=None,
    before_manifest=None,
    image_filters: dict | None = None,
    sign=None,
) -> bundle.Delivery:
    """Write the archive to the media folder, its hash and (new) password to the other two.

    ``images`` are saved from the engine (``engine.source``); ``registry_images`` stream from their
    registries.
    ``sign`` (``trust.seal.signer``) signs the manifest; None leaves the bundle unsigned.
    """
    places = crossing.places
    check_places(places)
    name = bundle.archive_name(manifest.app, manifest.kind)
    given = outgoing_password(crossing)
    password = given or passwords.new_password()
    return bundle.write(  # the three parts made final together, the archive last
        places.out_dir / name,
        manifest,
        images=[*source.saved(client, images), *registry_images],
        files=files,
        password=password,
        level=crossing.level,
        hashes_dir=places.hashes_dir,
        password_file=None if given else places.password_dir / f"{name}.password",
        split=crossing.split,
        watch=watch,
        before_manifest=before_manifest,
        image_filters=image_filters,
        sign=sign,
        force=crossing.force,
    )


def check_earlier(crossing: Crossing, app: dict, kind: str) -> None:
    """Refuse, unless ``--force``, to write over an earlier delivery of the same bundle in these
    places (``channels.check_earlier``); the flows ask before their first step."""
    check_earlier_archive(crossing, bundle.archive_name(app, kind))


def check_earlier_archive(crossing: Crossing, name: str) -> None:
    """``check_earlier`` for the archive called ``name`` (a kit's, say)."""
    places = crossing.places
    password = None if crossing.password_file else places.password_dir / f"{name}.password"
    sums = places.hashes_dir / f"{name}.sha256"
    channels.check_earlier(places.out_dir / name, (sums, password), crossing.force)


def app_record(meta: npm.PackageMeta) -> dict:
    """What a manifest says of the app."""
    return {
        "name": meta.name,
        "version": meta.version,
        "image_name": meta.image_name,
        "tgz": meta.tgz_name,
    }


def report_files(report: Path | None) -> list[tuple[Path, str]]:
    """A scanner report as a bundle member, carried for the gate on the other side."""
    return [(report, f"reports/{report.name}")] if report else []


def incoming_password(incoming: Incoming) -> str:
    """The password of an arrived bundle: its file, AIRGAPKIT_PASSWORD, or a prompt."""
    return passwords.resolve(password_file=incoming.password_file, confirm=False, allow_weak=True)


def open_incoming(
    incoming: Incoming, kind: str | None, trusted: TrustedKeys | None = None, **options
) -> bundle.OpenBundle:
    """The arrived bundle, opened once its archive matched its hash; ``kind`` is what it must be
    (None: either). ``options`` go to ``bundle.open_verified`` (``require_sums``).

    Its signature is checked against ``trusted`` (``trust.keys``) before anything in it is used:
    ``opened.signature`` says who signed it.
    """
    opened = bundle.open_verified(
        incoming.archive, incoming.sums, incoming_password(incoming), kind=kind, **options
    )
    try:
        opened.signature = seal.check(opened.reader, str(opened.path), trusted)
    except BaseException:
        opened.close()
        raise
    return opened


@contextmanager
def reading(incoming: Incoming, trusted: TrustedKeys | None = None):
    """A bundle opened to read, not to load (inspect, sbom): either kind, its archive hash checked
    when a hash file is at hand, its signature per ``trusted`` (``opened.signature``)."""
    with open_incoming(incoming, None, trusted, require_sums=False) as opened:
        yield opened


def print_delivery(delivery: bundle.Delivery, next_task: str, flags: Sequence[str] = ()) -> None:
    """Say exactly what to carry, by which channel, and what to run on the other side (in either
    shell: the other side's system is not known here)."""
    channels.print_channels(delivery.archive, delivery.sums, delivery.password)
    print_requirements(delivery.manifest)
    argv = ["inv", next_task, delivery.archive.name, *flags, "--sums", delivery.sums.name]
    if delivery.password:
        argv += ["--password-file", delivery.password.name]
    for shell, line in shells.for_either(argv):  # one line each, to copy whole
        label = f" ({shell})" if shell else ""
        display.plain().print(f"On the other side{label}: {line}")


def print_requirements(manifest: Manifest | None) -> None:
    """For a delta: what the far side must hold before it takes the bundle."""
    table = plan.requirements_table(manifest) if manifest else None
    if table is not None:
        display.wide().print(table)
