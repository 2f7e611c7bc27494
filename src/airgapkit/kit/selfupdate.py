"""``airgapkit self-update KIT.zip``: a new airgapkit from a kit, beside the one running.

The kit is checked as every bundle is: its archive against the separately delivered SHA-256 before
anything is decrypted, its signature against ``trust.keys``, every member it extracts against its
manifest. Then ``installer.into_prefix`` installs the new version beside the old one and makes it the
current one only once it answers ``airgapkit --version``: a failed or interrupted update leaves the
old one in use, untouched.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .. import display
from ..crossing import extraction, sumsfile, sumsverify, volumes
from ..crossing.archive import ArchiveReader
from ..crossing.manifest import MANIFEST, SIGNATURE
from ..errors import AirgapError, IntegrityError, UnsafeArchive
from ..flows import bundles
from ..settings import Incoming
from ..trust import seal
from ..trust.signing import TrustedKeys
from . import installer


class KitError(AirgapError):
    """A kit that cannot be installed here, or an airgapkit that cannot update itself."""


def install_root() -> Path:
    """The prefix a kit installed this airgapkit under (it runs from PREFIX/<version>)."""
    if getattr(sys, "frozen", False):
        raise KitError(
            "this airgapkit is a single program: replace its file with the one under the kit's "
            "executables/ folder (7z x KIT.zip)"
        )
    home = Path(sys.prefix)
    if installer.current_version(home.parent) != home.name:
        raise KitError(
            f"this airgapkit ({home}) was not installed from a kit, so it cannot install the new "
            "one beside itself: unpack the kit (7z x KIT.zip) and run its install.sh or install.ps1"
        )
    return home.parent


def kit_sums(incoming: Incoming) -> Path:
    sums = incoming.sums or sumsfile.find_sums(incoming.archive)
    if sums is None:
        raise IntegrityError(
            f"no hash file for {incoming.archive}; give the .sha256 that came by the second "
            "channel with --sums"
        )
    return sums


def read_kit(reader: ArchiveReader, source: str) -> dict:
    """The kit's manifest (a bundle's is refused, as anything else that is not a kit)."""
    if MANIFEST not in reader.names():
        raise KitError(f"{source} holds no {MANIFEST}: it is not an airgapkit kit")
    try:
        manifest = installer.parse_manifest(reader.read_bytes(MANIFEST), source)
    except installer.InstallError as exc:
        raise KitError(str(exc)) from exc
    listed = {entry["path"] for entry in manifest["files"]}
    for name in sorted(set(reader.names()) - listed - {MANIFEST, SIGNATURE}):
        raise UnsafeArchive(
            f"{source} holds {display.safe(name)}, which its manifest does not list"
        )
    return manifest


def extract_target(incoming: Incoming, trusted: TrustedKeys, work: Path) -> tuple[dict, dict]:
    """This machine's target out of the kit, every file checked; (manifest, target)."""
    source = str(incoming.archive)
    password = bundles.incoming_password(incoming)
    sums = kit_sums(incoming)
    with volumes.open_archive(incoming.archive) as archive:
        sumsverify.verify_archive(archive, sums)
        with ArchiveReader(archive, password) as reader:
            seal.check(reader, source, trusted)  # refuses by trust.keys before anything is used
            manifest = read_kit(reader, source)
            try:
                target = installer.choose_target(
                    manifest, installer.this_platform(), installer.this_python(), source
                )
            except installer.InstallError as exc:
                raise KitError(str(exc)) from exc
            prefix = f"targets/{target['id']}/"
            expected = {
                e["path"]: e["sha256"] for e in manifest["files"] if e["path"].startswith(prefix)
            }
            extraction.extract_members(reader, list(expected), work, expected=expected)
    return manifest, target


def update(incoming: Incoming, trusted: TrustedKeys) -> tuple[str, str, Path]:
    """Install the kit's airgapkit beside this one and make it current: (old, new, prefix)."""
    prefix = install_root()
    with tempfile.TemporaryDirectory(prefix="airgapkit-self-update-") as tmp:
        manifest, target = extract_target(incoming, trusted, Path(tmp))
        try:
            old, new = installer.into_prefix(Path(tmp), manifest, target, prefix, sys.executable)
        except installer.InstallError as exc:
            raise KitError(
                f"{exc}; airgapkit {installer.current_version(prefix)} stays in use"
            ) from exc
    return old, new, prefix
