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
    layers need Docker 23.0 or later to load), ``files`` one ``{path, size,
    sha256}`` per member, ``gate`` the image rules as they stood when the bundle was made."""

    kind: str
    app: dict
    images: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    created: str = ""
    created_by: str = f"airgapkit {__version__}"
    gate: dict | None = None
    # A delta (--since) leaves out what the far side already holds. ``requires``: every image it
    # must hold there, {ref, id, carried_by} and the "layers" (diff IDs) it must have; an image
    # carried in part names it with "for" (that image's ID) and "layers" (the diff IDs taken from
    # it). ``since``: the bundle it is a delta of, {archive, kind, version}. Empty and None for a
    # full bundle.
    requires: list[dict] = field(default_factory=list)
    since: dict | None = None
    # Set by trust/seal.py; absent (None) in bundles made without them:
    sbom: dict | None = None  # the SBOM member: {member, packages, base_image}
    contract: dict | None = None  # the env contract member: {member, keys}
    base_bundle: dict | None = (
        None  # a release's base bundle: {archive, manifest_sha256, signer, unchecked_signer}
    )
    # The app's npm packages judged on the connected side (gate/appreports.AppSummary.record()):
    # {source, date, dated_by, packages, counts, unscored, worst, member}; None: no report was had.
    app_report: dict | None = None
    # A stack (flows/stack.py): its Compose file, the app's service, every other service's image
    # and env contract; None for a single app.
    stack: dict | None = None

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
        problem = _problem(body, TOP, "")
        if problem:
            raise AirgapError(
                f"{source}: manifest.json {problem}; it was not made by this airgapkit version or "
                "was altered: make the bundle again"
            )
        body.pop("format"), body.pop("format_version")
        return cls(**body)

    def member(self, path: str) -> dict:
        for entry in self.files:
            if entry["path"] == path:
                return entry
        raise AirgapError(f"the bundle's manifest lists no member {path!r}")

    def members(self, prefix: str) -> list[dict]:
        return [entry for entry in self.files if entry["path"].startswith(prefix)]


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


# --- the schema: every key declared, its type checked; unknown and missing keys refused --------------
#
# A record is (required keys, optional keys), each key mapped to its type: a Python type, a record,
# [type] for a list of it, or Maybe(type) for that type or null. A new manifest field is added here as
# an optional key (with a default in Manifest), so bundles made before it stay readable.


@dataclass(frozen=True)
class Maybe:
    kind: object


SHA256 = "sha256"  # a 64-digit lower-case hex string
SIZE = "size"  # an integer of 0 or more

RULE = ({"rule": str, "passed": bool, "measured": str, "limit": str, "why": str}, {})
GATE = (
    {
        "image": str,
        "kind": str,
        "passed": bool,
        "failures": [str],
        "accepted_risk": str,
        "rules": [RULE],
    },
    {"image_id": str, "checked_on": str},
)
APP = ({"name": str, "version": str, "image_name": str}, {"tgz": str})
IMAGE = (
    {"ref": str, "member": str, "id": str, "repo_tags": [str], "layers": [str]},
    {"size": Maybe(SIZE), "source": str, "repo_digest": str, "platform": str, "compression": str},
)
FILE = ({"path": str, "size": SIZE, "sha256": SHA256}, {})
# A delta's prerequisite (an image the far side must hold) and the bundle it is a delta of.
REQUIREMENT = ({"ref": str, "id": str, "carried_by": str}, {"for": str, "layers": [str]})
SINCE = ({"archive": str, "kind": str, "version": str}, {})
# trust/seal.py: the SBOM and the env contract a bundle carries, and a release's base bundle.
SBOM_IMAGE = ({"ref": str, "image_id": str}, {"repo_digest": Maybe(str)})
SBOM = ({"member": str, "packages": SIZE}, {"base_image": Maybe(SBOM_IMAGE)})
CONTRACT = ({"member": str, "keys": [str]}, {})
# ``signer``: a key checked against trust.keys when the release was made; ``unchecked_signer``: the
# key a signature named when none could be checked (no trust.keys), never taken for a fact.
BASE_BUNDLE = (
    {"archive": str, "manifest_sha256": SHA256, "signer": Maybe(str)},
    {"unchecked_signer": str},
)
# gate/appreports.py: the app packages' report, its counts per severity and its worst findings.
APP_FINDING = (
    {"package": str, "version": str, "id": str, "severity": str, "score": str, "fixed": str},
    {},
)
SEVERITY_COUNTS = (
    dict.fromkeys(("critical", "high", "medium", "low", "none", "unspecified"), SIZE),
    {},
)
APP_REPORT = (
    {
        "source": str,
        "date": str,
        "dated_by": str,
        "packages": SIZE,
        "counts": SEVERITY_COUNTS,
        "unscored": SIZE,
        "worst": [APP_FINDING],
    },
    {"member": Maybe(str)},
)
# flows/stack.py: the Compose file carried, each service's image and env contract.
STACK_SERVICE = (
    {"name": str, "image": str, "id": str},
    {"repo_digest": str, "gate": Maybe(GATE)},
)
STACK_CONTRACT = ({"service": str, "env_file": str, "member": str, "keys": [str]}, {})
STACK = (
    {"member": str, "pinned": bool, "app_service": str, "services": [STACK_SERVICE]},
    {"contracts": [STACK_CONTRACT]},
)
TOP = (
    {"format": str, "format_version": int, "kind": str, "app": APP},
    {
        "images": [IMAGE],
        "files": [FILE],
        "created": str,
        "created_by": str,
        "gate": Maybe(GATE),
        "requires": [REQUIREMENT],
        "since": Maybe(SINCE),
        "sbom": Maybe(SBOM),
        "contract": Maybe(CONTRACT),
        "base_bundle": Maybe(BASE_BUNDLE),
        "app_report": Maybe(APP_REPORT),  # format version 2
        "stack": Maybe(STACK),  # format version 2
    },
)
KINDS = ("base", "release")


def _problem(value, kind, where: str) -> str | None:
    """What is wrong with ``value`` against ``kind`` (None when it fits), naming where."""
    at = f" at {where}" if where else ""
    if isinstance(kind, Maybe):
        return None if value is None else _problem(value, kind.kind, where)
    if isinstance(kind, tuple):
        return _record_problem(value, kind, where)
    if isinstance(kind, list):
        if not isinstance(value, list):
            return f"has {_name(value)} where a list belongs{at}"
        for i, item in enumerate(value):
            if problem := _problem(item, kind[0], f"{where}[{i}]"):
                return problem
        return None
    if kind == SHA256:
        ok = isinstance(value, str) and len(value) == 64 and all(c in _HEX for c in value)
        return None if ok else f"has {_name(value)} where a SHA-256 belongs{at}"
    if kind == SIZE:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"has {_name(value)} where a size belongs{at}"
    if kind is int and isinstance(value, bool):
        return f"has {_name(value)} where a number belongs{at}"
    if not isinstance(value, kind):
        return f"has {_name(value)} where {_TYPE_NAMES[kind]} belongs{at}"
    return None


def _record_problem(value, kind: tuple, where: str) -> str | None:
    required, optional = kind
    at = f" at {where}" if where else ""
    if not isinstance(value, dict):
        return f"has {_name(value)} where an object belongs{at}"
    for key in value:
        if key not in required and key not in optional:
            return f"has a key it does not know{at}: {display.safe(key)!s:.60}"
    for key in required:
        if key not in value:
            return f"lacks the key {key}{at}"
    for key, sub in {**required, **optional}.items():
        if key in value and (problem := _problem(value[key], sub, f"{where}.{key}".lstrip("."))):
            return problem
    if where == "" and value.get("kind") not in KINDS:
        return f"has kind {display.safe(value.get('kind'))!s:.40}, not base or release"
    return None


_HEX = set("0123456789abcdef")
_TYPE_NAMES = {str: "a string", int: "a number", bool: "true or false", dict: "an object"}


def _name(value) -> str:
    return {
        type(None): "null",
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
