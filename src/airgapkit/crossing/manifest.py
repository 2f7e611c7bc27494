"""The bundle's manifest: what a bundle is, and the size and SHA-256 of every member.

It travels inside the archive as ``manifest.json``, written last, when every member's hash is known.
``format`` and ``format_version`` say which airgapkit can read it.

The format's rule: this airgapkit reads every bundle format it ever wrote (``READABLE_FORMATS``: a
prod that updated airgapkit must still deploy last month's release to roll back;
``tests/fixtures/bundles/`` keeps a bundle of each earlier format, and a test reads them). A bundle
of a newer format than this airgapkit writes is refused with one line that names both versions and
says to carry the newer airgapkit (its kit) across; never half understood. A field added to the
schema takes the next format version (an older reader refuses a key it does not know), as an
optional key, so bundles of the earlier versions (which lack it) stay valid under the one schema. A
change that older readers would misread (a key's meaning, a required key, the archive's layout)
takes the next version too, and the reader keeps a path for each earlier one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import __version__, display
from ..errors import AirgapError
from .records import (
    AppRecord,
    AppReportRecord,
    BaseBundleRecord,
    ContractRecord,
    FileRecord,
    GateRecord,
    ImageRecord,
    RequirementRecord,
    SbomRecord,
    SinceRecord,
    StackRecord,
    declared,
    problem,
    typed,
)

FORMAT = "airgapkit-bundle"
# 2 added app_report, base_bundle.unchecked_signer and stack, which a reader of 1 refuses as unknown
# keys. Every key a version adds is optional, so the one schema below reads every version listed.
FORMAT_VERSION = 2  # the bundle format this airgapkit writes
READABLE_FORMATS = (1, 2)  # every format it reads: each one airgapkit ever wrote, none ever dropped
MANIFEST = "manifest.json"  # its member name in the archive
# The signature over manifest.json's bytes (trust/signing.py): made after it, so never listed in it.
SIGNATURE = "manifest.json.sig"


@dataclass
class Manifest:
    """``kind`` is ``base`` (made by export) or ``release`` (made by release). ``images`` holds one
    record per image (ref, member, id, tags, layers, size; an image read from its registry also
    ``source: registry``, its ``repo_digest`` and ``platform``, and ``compression: zstd`` when its
    layers need Docker 23.0 or later to load), ``files`` one ``{path, size, sha256}`` per member,
    ``gate`` the image rules as they stood when the bundle was made.

    The fields are the schema (``records``): a field without a default is a required key, and each
    record's class declares its keys and their types. A manifest read from a bundle holds those
    records, whose unknown keys were refused and whose reads name a key they do not declare.
    """

    kind: str
    app: AppRecord
    images: list[ImageRecord] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    created: str = ""
    created_by: str = f"airgapkit {__version__}"
    gate: GateRecord | None = None
    # A delta (--since) leaves out what the far side already holds. ``requires``: every image it
    # must hold there, {ref, id, carried_by} and the "layers" (diff IDs) it must have; an image
    # carried in part names it with "for" (that image's ID) and "layers" (the diff IDs taken from
    # it). ``since``: the bundle it is a delta of, {archive, kind, version}. Empty and None for a
    # full bundle.
    requires: list[RequirementRecord] = field(default_factory=list)
    since: SinceRecord | None = None
    # Set by trust/seal.py; absent (None) in bundles made without them:
    sbom: SbomRecord | None = None  # the SBOM member: {member, packages, base_image}
    contract: ContractRecord | None = None  # the env contract member: {member, keys}
    # a release's base bundle: {archive, manifest_sha256, signer, unchecked_signer}
    base_bundle: BaseBundleRecord | None = None
    # The app's npm packages judged on the connected side (gate/appreports.AppSummary.record()):
    # {source, date, dated_by, packages, counts, unscored, worst, member}; None: no report was had.
    app_report: AppReportRecord | None = None  # format version 2
    # A stack (flows/stack.py): its Compose file, the app's service, every other service's image
    # and env contract; None for a single app.
    stack: StackRecord | None = None  # format version 2

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(body, indent=2, sort_keys=False).encode()

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> Manifest:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise AirgapError(f"{source}: manifest.json is not valid JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise AirgapError(
                f"{source}: manifest.json is not a JSON object; not an airgapkit bundle"
            )
        version = body.get("format_version")
        if body.get("format") == FORMAT and _is_number(version) and version > FORMAT_VERSION:
            raise AirgapError(newer_format(source, version, body.get("created_by")))
        if body.get("format") != FORMAT or version not in READABLE_FORMATS:
            readable = " or ".join(map(str, READABLE_FORMATS))
            raise AirgapError(
                f"{source}: not an airgapkit bundle of format version {readable} "
                f"(found {body.get('format')!r} {version!r}); "
                "make it again with this airgapkit version"
            )
        found = problem(body, Manifest, keys=_body_keys()) or _kind_problem(body)
        if found:
            raise AirgapError(
                f"{source}: manifest.json {found}; it was not made by this airgapkit version or "
                "was altered: make the bundle again"
            )
        body.pop("format"), body.pop("format_version")
        return cls(**typed(body, cls))

    def member(self, path: str) -> dict:
        for entry in self.files:
            if entry["path"] == path:
                return entry
        raise AirgapError(f"the bundle's manifest lists no member {path!r}")

    def members(self, prefix: str) -> list[dict]:
        return [entry for entry in self.files if entry["path"].startswith(prefix)]


KINDS = ("base", "release")
# The whole of manifest.json: its format, then the manifest's fields.
_BODY = {"format": (str, True), "format_version": (int, True)}


def _body_keys() -> dict:
    return {**_BODY, **declared(Manifest)}


def _kind_problem(body: dict) -> str | None:
    if body.get("kind") not in KINDS:
        return f"has kind {display.safe(body.get('kind'))!s:.40}, not base or release"
    return None


def newer_format(source: Path, version: int, made_by: object) -> str:
    """The one line refusing a bundle newer than this airgapkit reads."""
    by = f", made by {display.safe(made_by):.40}" if isinstance(made_by, str) and made_by else ""
    return (
        f"{source} is a bundle of format version {version}{by}; this airgapkit {__version__} "
        f"reads up to format version {FORMAT_VERSION}: carry the newer airgapkit across (its "
        "kit, made by inv kit where it is installed), install it here, then run this again"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
