"""The app's software bill of materials: CycloneDX JSON made by npm on the connected side.

``generate`` runs ``npm sbom --sbom-format cyclonedx --omit dev`` in the app folder after its
dependencies are installed (``npm ci``), so the SBOM lists every package of the installed runtime
tree, the same packages ``npm ls --all --omit dev`` shows and ``npm pack`` bundles. On the dev side
``add_base_image`` adds the base image the app image was built on, as a ``container`` component
with its name, image ID and repo digest, so one document answers "is this CVE in what runs on
prod?" for the npm packages and the image both. ``rows`` and ``package_count`` read one back for
``inv sbom`` and ``inspect``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from docker.utils import parse_repository_tag
from rich.table import Table

from .. import display
from ..app import npm
from ..errors import AirgapError
from ..fsutil import write_atomic
from ..oci import reference

BOM_FORMAT = "CycloneDX"
ROLE = "airgapkit:role"  # a property naming what airgapkit added to npm's document
BASE_IMAGE_ROLE = "base-image"
_IMAGE_ID, _REPO_DIGEST, _REF = (
    "airgapkit:image:id",
    "airgapkit:image:repo-digest",
    "airgapkit:image:ref",
)
READ_LIMIT = 256 * 1024 * 1024  # an SBOM of tens of thousands of packages is a few tens of MB


class SbomError(AirgapError):
    """An SBOM cannot be made, read, or is not CycloneDX JSON."""


# --- making and checking --------------------------------------------------------------------------


def generate(app_dir: Path, npm_path: str | None = None) -> dict:
    """The CycloneDX SBOM of the app's installed runtime dependency tree, checked."""
    app_dir = Path(app_dir)
    try:
        out = npm.npm_output(
            ["sbom", "--sbom-format", "cyclonedx", "--omit", "dev"],
            app_dir,
            hint="install the app's dependencies (npm ci) and retry",
            npm=npm_path,
        )
    except AirgapError as exc:
        raise SbomError(str(exc)) from exc
    return parse(out.encode(), f"npm sbom in {app_dir}")


def parse(data: bytes, source: str) -> dict:
    """CycloneDX JSON from bytes, checked (see ``check``)."""
    try:
        bom = json.loads(data)
    except ValueError as exc:
        raise SbomError(f"{source} is not JSON ({exc}); make the SBOM again") from exc
    return check(bom, source)


def check(bom, source: str) -> dict:
    """Refuse a document that is not a CycloneDX BOM with a list of components."""
    if not isinstance(bom, dict) or bom.get("bomFormat") != BOM_FORMAT:
        found = bom.get("bomFormat") if isinstance(bom, dict) else type(bom).__name__
        raise SbomError(f"{source} is not a CycloneDX SBOM (bomFormat {found!r}); make it again")
    if not isinstance(bom.get("specVersion"), str):
        raise SbomError(f"{source} has no CycloneDX specVersion; make the SBOM again")
    if not _named_components(bom.get("components", [])):
        raise SbomError(f"{source}: its components are not a list of named components")
    return bom


def _named_components(components) -> bool:
    """A list of components, each named, its properties a list of named ones, and its own
    components (at any depth) the same."""
    return isinstance(components, list) and all(
        isinstance(c, dict)
        and isinstance(c.get("name"), str)
        and _named_properties(c.get("properties") or [])
        and _named_components(c.get("components") or [])
        for c in components
    )


def _named_properties(properties) -> bool:
    return isinstance(properties, list) and all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in properties
    )


def read(path: Path) -> dict:
    """An SBOM file, checked."""
    path = Path(path)
    try:
        if path.stat().st_size > READ_LIMIT:
            raise SbomError(f"{path} is larger than {READ_LIMIT} bytes; not an SBOM airgapkit made")
        data = path.read_bytes()
    except OSError as exc:
        raise SbomError(f"SBOM {path} cannot be read ({exc.strerror}); check the path") from exc
    return parse(data, str(path))


def dumps(bom: dict) -> bytes:
    return json.dumps(bom, indent=2).encode() + b"\n"


def write(bom: dict, dest: Path) -> Path:
    return write_atomic(Path(dest), dumps(bom))


# --- the base image -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageIdentity:
    """What names a base image beyond doubt: the reference used, its image ID, its repo digest."""

    ref: str
    image_id: str
    repo_digest: str | None = None  # none for an image built or imported locally

    @classmethod
    def from_attrs(cls, ref: str, attrs: dict, image_id: str) -> ImageIdentity:
        """From the engine's image attributes (``docker image inspect``) and the image's config
        digest (``engine.identity``)."""
        repository = parse_repository_tag(ref)[0]
        digests = attrs.get("RepoDigests") or []
        same_repo = [d for d in digests if d.split("@", 1)[0] == repository]
        return cls(ref, image_id, (same_repo or digests or [None])[0])


def _image_component(image: ImageIdentity) -> dict:
    repository, tag = parse_repository_tag(image.ref)
    component = {
        "bom-ref": f"{BASE_IMAGE_ROLE}:{image.ref}",
        "type": "container",
        "name": repository,
        "version": tag or "latest",
        "hashes": [{"alg": "SHA-256", "content": image.image_id.removeprefix("sha256:")}],
        "properties": [
            {"name": ROLE, "value": BASE_IMAGE_ROLE},
            {"name": _REF, "value": image.ref},
            {"name": _IMAGE_ID, "value": image.image_id},
        ],
    }
    if image.repo_digest:
        component["properties"].append({"name": _REPO_DIGEST, "value": image.repo_digest})
        digest = image.repo_digest.split("@", 1)[1]
        component["purl"] = (
            f"pkg:oci/{quote(repository.rsplit('/', 1)[-1])}@{quote(digest)}"
            f"?repository_url={quote(_full_repository(repository), safe='/:')}"
            + (f"&tag={quote(tag)}" if tag and not tag.startswith("sha256:") else "")
        )
    return component


def _full_repository(repository: str) -> str:
    """``node`` -> ``docker.io/library/node``: the registry a short name means, written out."""
    return reference.parse(repository).full_name


def _properties(component: dict) -> dict:
    return {
        p.get("name"): p.get("value")
        for p in component.get("properties") or []
        if isinstance(p, dict)
    }


def _is_base_image(component: dict) -> bool:
    return _properties(component).get(ROLE) == BASE_IMAGE_ROLE


def add_base_image(bom: dict, image: ImageIdentity) -> dict:
    """The SBOM with the base image as a component (replacing one added before)."""
    components = [c for c in bom.get("components", []) if not _is_base_image(c)]
    return {**bom, "components": [*components, _image_component(image)]}


def base_image(bom: dict) -> ImageIdentity | None:
    """The base image ``add_base_image`` recorded, if any."""
    for component in bom.get("components", []):
        if _is_base_image(component):
            props = _properties(component)
            return ImageIdentity(props[_REF], props[_IMAGE_ID], props.get(_REPO_DIGEST))
    return None


# --- reading one back -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    version: str
    purl: str
    type: str


def _components(items: list) -> list[dict]:
    """Every component, nested ones included (CycloneDX allows a component to hold others)."""
    found = []
    for component in items:
        found.append(component)
        found += _components(component.get("components") or [])
    return found


def rows(bom: dict) -> list[Row]:
    """One row per component, sorted by name and version."""
    return sorted(
        (
            Row(
                str(c.get("name", "")),
                str(c.get("version", "")),
                str(c.get("purl", "")),
                str(c.get("type", "")),
            )
            for c in _components(bom.get("components", []))
        ),
        key=lambda row: (row.name, row.version),
    )


def counts(bom: dict) -> Counter:
    """Components per CycloneDX type (``library`` for npm packages, ``container`` for the image)."""
    return Counter(row.type for row in rows(bom))


def packages(bom: dict) -> set[tuple[str, str]]:
    """The npm packages in the SBOM, as (name, version): what a report on them must be about."""
    return {(row.name, row.version) for row in rows(bom) if row.type == "library"}


def package_count(bom: dict) -> int:
    """The npm packages in the SBOM (the app itself, in ``metadata``, is not counted)."""
    return counts(bom)["library"]


def table(bom: dict, source: str = "") -> Table:
    """A table of the SBOM's components for the terminal."""
    image = base_image(bom)
    title = f"SBOM{' of ' + source if source else ''}: {package_count(bom)} packages" + (
        f", base image {image.ref}" if image else ""
    )
    out = Table(title=display.text(title))
    for column in ("package", "version", "purl"):
        out.add_column(column)
    for row in rows(bom):  # names from the document: shown escaped, never read as markup
        out.add_row(display.text(row.name), display.text(row.version), display.text(row.purl))
    return out
