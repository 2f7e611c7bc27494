"""``inv kit``: airgapkit and everything it needs, for machines with no network, as a crossing.

The kit is one AES-256 archive like every bundle (its SHA-256 and its password in folders of their
own, signed when a signing key is configured), holding:

- ``targets/<platform>-py<version>/``: the wheels of airgapkit and every dependency for that
  target, and their lock ``requirements.txt`` (``pip install --require-hashes`` form);
- ``install.sh``, ``install.ps1`` and ``install.py`` (``installer.py``): the far side's install;
- ``executables/<platform>/airgapkit`` with ``--executable``: the single program for this machine;
- ``manifest.json``: airgapkit's version, the bundle formats it reads and writes, the targets and
  every member's size and SHA-256; ``manifest.json.sig``, its signature, when signed.

Everything is resolved and built in a work folder first: a target that cannot be carried stops the
run before anything is written under the three places.
"""

from __future__ import annotations

import importlib.metadata
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path

from .. import __version__, display, fsutil
from ..crossing import bundle, channels, passwords
from ..crossing import manifest as bundle_manifest
from ..crossing.archive import ArchiveWriter
from ..crossing.manifest import MANIFEST
from ..errors import AirgapError
from ..flows import bundles
from ..settings import Crossing, Trust
from ..trust import seal
from . import freeze, installer, resolve
from .targets import Target, here

SCRIPTS = ("install.sh", "install.ps1")


@dataclass(frozen=True)
class Kit:
    """What ``make`` wrote: the bundle's three places, the version carried, each target's size."""

    delivery: bundle.Delivery
    version: str
    sizes: dict[str, int]  # target id -> bytes of its wheels
    program_size: int = 0  # bytes of the single program, 0 when none was made


def archive_name(version: str) -> str:
    return f"airgapkit-{version}-kit.zip"


def carried_version(root: Path, source: Path, installed: Path | None) -> str:
    """The version of the wheel built from ``source``; when that is this airgapkit's own source,
    it must be the version its installed metadata says (else the install is stale)."""
    version = resolve.wheel_version(root)
    if installed is not None and source.resolve() == installed.resolve():
        metadata = importlib.metadata.version("airgapkit")
        if metadata != version:
            raise AirgapError(
                f"{source} builds airgapkit {version} but the installed metadata says {metadata}: "
                f"run pip install -e {source} again, then inv kit"
            )
    return version


def members(resolved: list[resolve.Resolved], program: Path | None) -> list[tuple[Path, str]]:
    """Every file the kit carries, with its member name."""
    scripts = files("airgapkit.kit") / "scripts"
    carried = [(Path(str(scripts / name)), name) for name in SCRIPTS]
    carried.append((Path(installer.__file__), "install.py"))
    for each in resolved:
        for path in sorted(each.folder.iterdir()):
            carried.append((path, f"targets/{each.target.id}/{path.name}"))
    if program is not None:
        carried.append((program, program_member(program)))
    return carried


def program_member(program: Path) -> str:
    """``executables/linux-amd64/airgapkit``: a program runs on the platform it was made on."""
    return f"executables/{here().platform.replace('/', '-')}/{program.name}"


def manifest_bytes(version: str, resolved: list[resolve.Resolved], program, listed) -> bytes:
    writes = bundle_manifest.FORMAT_VERSION
    body = {
        "format": installer.KIT_FORMAT,
        "format_version": installer.KIT_FORMAT_VERSION,
        "airgapkit": version,
        # the bundle formats the carried airgapkit writes, and reads: every one it ever wrote
        "bundle_format": {"writes": writes, "reads": list(range(1, writes + 1))},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "created_by": f"airgapkit {__version__}",
        "targets": [
            {
                "id": each.target.id,
                "platform": each.target.platform,
                "python": each.target.python,
                "lock": f"targets/{each.target.id}/{installer.LOCK}",
            }
            for each in resolved
        ],
        "executables": [
            {"platform": here().platform, "path": program_member(program), "glibc": freeze.glibc()}
        ]
        if program is not None
        else [],
        "files": [
            {"path": name, "size": size, "sha256": sha} for name, (sha, size) in listed.items()
        ],
    }
    return json.dumps(body, indent=2).encode() + b"\n"


def write(name: str, version: str, resolved, program, crossing: Crossing, key) -> bundle.Delivery:
    """The archive to the media folder, its hash and (new) password to the other two, all final
    together, the archive last (as every bundle)."""
    places = crossing.places
    dest = places.out_dir / name
    given = bundles.outgoing_password(crossing)
    password = given or passwords.new_password()
    password_file = None if given else places.password_dir / f"{name}.password"
    channels.clear_leftovers(places.out_dir, places.hashes_dir, places.password_dir)
    writer = ArchiveWriter(dest, password, crossing.level, split=crossing.split, commit=False)
    with writer as archive:
        for path, member in members(resolved, program):
            archive.add_file(path, member)
        data = manifest_bytes(version, resolved, program, dict(archive.members))
        archive.add_bytes(MANIFEST, data)
        sign = seal.signer(key)
        if sign is not None:
            archive.add_bytes(*sign(data))
    sums = places.hashes_dir / f"{name}.sha256"
    entries = {name: writer.sha256, **channels.part_entries(writer)}
    secret = (password, password_file) if password_file else None
    channels.finalise(
        writer, sums, entries, secret, forbidden_dir=places.out_dir, replace_password=True
    )
    return bundle.Delivery(dest, sums, password_file, writer.sha256)


def make(
    targets: list[Target],
    crossing: Crossing,
    trust: Trust | None,
    *,
    executable: bool = False,
    source: Path | None = None,
) -> Kit:
    """Resolve, fetch and build everything for ``targets`` (and this machine, for the program),
    then write the kit. ``source``: airgapkit's source folder (default: this one's)."""
    bundles.check_places(crossing.places)
    key = seal.signing_key(trust)  # a wrong passphrase fails now, not after the downloads
    uv = resolve.Uv.configured()
    installed = resolve.installed_source() if source is None else None
    source = Path(source or installed)
    if executable and here() not in targets:
        targets = [*targets, here()]
    with bundles.output_lock(crossing.places, "kit"):
        with tempfile.TemporaryDirectory(prefix="airgapkit-kit-") as tmp:
            work = Path(tmp)
            root = resolve.build_wheel(uv, source, work / "root", "airgapkit")
            version = carried_version(root, source, installed)
            bundles.check_earlier_archive(crossing, archive_name(version))  # before the downloads
            resolved = resolve.resolve(targets, root, work, uv)
            program = None
            if executable:
                mine = next(each for each in resolved if each.target == here())
                program = freeze.build(mine, work)
            delivery = write(archive_name(version), version, resolved, program, crossing, key)
            sizes = {
                each.target.id: sum(p.stat().st_size for p in each.folder.glob("*.whl"))
                for each in resolved
            }
            program_size = program.stat().st_size if program is not None else 0
    return Kit(delivery, version, sizes, program_size)


def print_kit(kit: Kit) -> None:
    """What was made, which channel each part takes, and what the far side runs."""
    delivery = kit.delivery
    channels.print_channels(delivery.archive, delivery.sums, delivery.password)
    out = display.plain()
    for target, size in kit.sizes.items():
        out.print(f"target {display.safe(target)}: {fsutil.human_size(size)} of wheels")
    name, sums = delivery.archive.name, delivery.sums.name
    password = f" --password-file {delivery.password.name}" if delivery.password else ""
    out.print("On the other side, with the tools the procedure uses (7z asks for the password):")
    out.print(
        f"  sha256sum -c {sums} && 7z x {name} -oairgapkit-kit && sh airgapkit-kit/install.sh"
    )
    out.print(
        f"  Windows: Get-FileHash {name}  (compare with {sums}); 7z x {name} -oairgapkit-kit; "
        ".\\airgapkit-kit\\install.ps1"
    )
    out.print(
        f"Or, where airgapkit is installed: airgapkit self-update {name} --sums {sums}{password}"
    )
    if kit.program_size:
        out.print(
            "No Python there: the single program is in the kit under executables/ "
            f"({fsutil.human_size(kit.program_size)}; chmod +x it after 7z x)"
        )
