"""Trust at the crossing: bundles signed on the way out and checked on the way in, with the SBOM
and the env contract they carry.

Out (``export``, ``release``): ``signing_key`` loads the configured key once, before any work, so
a wrong passphrase fails in the first second rather than after a long ``docker save``; ``signer``
is what ``crossing.bundle.create`` calls with the manifest's bytes. ``export_extras`` makes the
SBOM (npm's, with the base image's identity recorded in the manifest, where the image was pulled
and still has its registry digest) and the env contract from the app's ``.env.example``;
``carried`` and ``release_extras`` carry both forward into the release bundle, the base image added
to the SBOM, with the report on the app's packages, and record the base bundle and its signer (the
chain from connected side to prod).

In (``release``, ``deploy``, ``inspect``, ``sbom``, ``extract``): ``check`` reads ``manifest.json``
first (a wrong archive password fails there, with its own message), then the signature, and
refuses per ``trust.keys`` before anything is loaded or extracted. ``env_contract`` picks the
contract a deploy checks the env file against: the one the bundle carries, else the local example.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console

from .. import display
from ..app import envfiles
from ..crossing.archive import ArchiveReader
from ..crossing.manifest import MANIFEST, Manifest
from ..display import safe
from ..engine import identity, images
from ..errors import AirgapError
from ..settings import Trust
from . import contract, keys, sbom, signing

SBOM_MEMBER = "sbom/cyclonedx.json"
CONTRACT_MEMBER = contract.MEMBER
SIGNATURE_LIMIT = 64 * 1024  # a signature document is a few hundred bytes


def say(line: str) -> None:
    print(f"airgapkit: {line}", file=sys.stderr)


# --- out: signing ---------------------------------------------------------------------------------


def signing_key(trust: Trust | None) -> keys.SigningKey | None:
    """The configured signing key, opened with its passphrase; None when bundles go unsigned."""
    if trust is None or trust.sign_key is None:
        return None
    passphrase = keys.passphrase(passphrase_file=trust.passphrase_file, confirm=False)
    key = keys.load_signing_key(trust.sign_key, passphrase)
    say(f"the bundle will be signed with {key.source} ({key.fingerprint})")
    return key


def signer(key: keys.SigningKey | None) -> Callable[[bytes], tuple[str, bytes]] | None:
    """What ``bundle.create`` calls with the manifest's bytes: the signature member, or None."""
    if key is None:
        return None
    return lambda manifest: (signing.SIGNATURE_MEMBER, signing.sign(manifest, key))


# --- in: checking ---------------------------------------------------------------------------------


def trusted_keys(trust: Trust | None) -> signing.TrustedKeys:
    """The keys ``trust.keys`` lists (none when no trust is configured)."""
    if trust is None:
        return signing.TrustedKeys()
    return signing.load_trusted(trust.keys, trust.base_dir)


def _signed_parts(reader: ArchiveReader) -> tuple[bytes, bytes | None]:
    """manifest.json's bytes (decrypted first: a wrong password fails here), then the signature's."""
    manifest = reader.read_bytes(MANIFEST)
    if signing.SIGNATURE_MEMBER not in reader.names():
        return manifest, None
    return manifest, reader.read_bytes(signing.SIGNATURE_MEMBER, limit=SIGNATURE_LIMIT)


def check(
    reader: ArchiveReader, source: str, trusted: signing.TrustedKeys | None
) -> signing.Verdict | None:
    """The bundle's signature checked against the trusted keys; None for an archive that holds no
    manifest (not a bundle). Refuses by ``SignatureError``; prints the verdict's warning."""
    if MANIFEST not in reader.names():
        return None
    return _checked(reader, source, trusted)[0]


def _checked(reader: ArchiveReader, source: str, trusted: signing.TrustedKeys | None):
    manifest, signature = _signed_parts(reader)
    verdict = signing.verify(manifest, signature, trusted or signing.TrustedKeys(), source=source)
    if verdict.warning:
        display.warn(verdict.warning)
    elif verdict.trusted:
        say(f"{source} is {describe_signature(verdict)}")
    return verdict, manifest, signature


def vouch(trusted: signing.TrustedKeys, source: str) -> Callable[[ArchiveReader], dict | None]:
    """For ``channels.extract``: a bundle's members checked against its (signed) manifest.

    A plain archive (no manifest) is no bundle: it is extracted as before, warned about when trust
    is configured, since nothing in it is signed.
    """

    def members(reader: ArchiveReader) -> dict | None:
        if MANIFEST not in reader.names():
            if trusted.configured:
                display.warn(
                    f"{source} holds no manifest.json: not a bundle, so no signature was checked"
                )
            return None
        _, manifest_bytes, signature = _checked(reader, source, trusted)
        listed = {f["path"]: f["sha256"] for f in Manifest.from_json(manifest_bytes, source).files}
        listed[MANIFEST] = hashlib.sha256(manifest_bytes).hexdigest()
        if signature is not None:
            listed[signing.SIGNATURE_MEMBER] = hashlib.sha256(signature).hexdigest()
        return listed

    return members


# --- the SBOM and the contract, carried -----------------------------------------------------------


@dataclass
class Extras:
    """What trust adds to an outgoing bundle: members, and the manifest's fields about them."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    fields: dict = field(default_factory=dict)
    bom: dict | None = None  # the SBOM itself, which the app packages' report is held against

    def apply(self, manifest: Manifest) -> Manifest:
        for name, value in self.fields.items():
            setattr(manifest, name, value)
        return manifest


def _contract_field(made: contract.Contract) -> dict:
    return {"member": CONTRACT_MEMBER, "keys": list(made.keys)}


def _sbom_field(bom: dict, identity: sbom.ImageIdentity) -> dict:
    return {
        "member": SBOM_MEMBER,
        "packages": sbom.package_count(bom),
        "base_image": asdict(identity),
    }


def engine_image(client, ref: str) -> sbom.ImageIdentity:
    """The base image's identity as the engine that pulled it knows it (with its repo digest)."""
    image = images.require_image(client, ref)
    return sbom.ImageIdentity.from_attrs(ref, image.attrs, identity.of(client, image))


def registry_image(ref: str, remote) -> sbom.ImageIdentity:
    """The base image's identity as its registry gave it (``oci.RegistryImage``)."""
    return sbom.ImageIdentity(ref, remote.image.image_id, remote.repo_digest)


def export_extras(*, app_dir: Path, image: sbom.ImageIdentity, app: dict, out_dir: Path) -> Extras:
    """The SBOM of the app's installed tree and its env contract, for the base bundle; ``image``
    is recorded as the base image (added to the SBOM itself on the dev side, by release).

    Call after ``npm.pack`` (which installs the dependencies ``npm sbom`` reads).
    """
    stem = f"{app['image_name']}-{app['version']}"
    bom = sbom.generate(app_dir)
    extras = Extras(
        [(sbom.write(bom, out_dir / f"{stem}-sbom.json"), SBOM_MEMBER)],
        {"sbom": _sbom_field(bom, image)},
        bom,
    )
    example = Path(app_dir) / ".env.example"
    if example.is_file():
        made = contract.from_example(example, f"{app['name']} {app['version']}")
        path = contract.write(made, out_dir / f"{stem}-contract.env.example")
        extras.files.append((path, CONTRACT_MEMBER))
        extras.fields["contract"] = _contract_field(made)
    else:
        display.warn(f"{app_dir} has no .env.example: the bundle carries no env contract")
    return extras


@dataclass(frozen=True)
class Carried:
    """What a base bundle hands on to the release: its SBOM, its contract, and itself (the chain)."""

    sbom_path: Path | None
    sbom_field: dict | None
    contract_path: Path | None
    contract_field: dict | None
    base_bundle: dict
    # The report on the app's packages and its summary (the manifest's app_report), when it has one.
    app_report_path: Path | None = None
    app_report_field: dict | None = None


def carried(opened, work: Path) -> Carried:
    """Take the SBOM and the contract out of an opened base bundle (checked against its manifest)."""
    manifest, verdict = opened.manifest, opened.signature
    sbom_path = opened.extract(SBOM_MEMBER, work) if manifest.sbom else None
    contract_path = opened.extract(CONTRACT_MEMBER, work) if manifest.contract else None
    if verdict is None:  # opened without a trust check: the manifest's hash taken here
        verdict = signing.Verdict(
            manifest_sha256=hashlib.sha256(opened.reader.read_bytes(MANIFEST)).hexdigest()
        )
    base_bundle = {
        "archive": opened.path.name,
        "manifest_sha256": verdict.manifest_sha256,
        "signer": verdict.signer if verdict.trusted else None,  # a fact only once checked
    }
    if verdict.signed and not verdict.trusted:
        base_bundle["unchecked_signer"] = verdict.signer
    app_member = (manifest.app_report or {}).get("member")
    app_report_path = opened.extract(app_member, work) if app_member else None
    return Carried(
        sbom_path,
        manifest.sbom,
        contract_path,
        manifest.contract,
        base_bundle,
        app_report_path,
        manifest.app_report,
    )


def release_extras(carried: Carried, work: Path) -> Extras:
    """The base bundle's SBOM with the base image added, its contract, and the chain."""
    extras = Extras(fields={"base_bundle": carried.base_bundle})
    source = carried.base_bundle["archive"]
    if carried.sbom_path is not None:
        identity = sbom.ImageIdentity(**carried.sbom_field["base_image"])
        bom = sbom.add_base_image(sbom.read(carried.sbom_path), identity)
        extras.files.append((sbom.write(bom, work / "release-sbom.json"), SBOM_MEMBER))
        extras.fields["sbom"] = _sbom_field(bom, identity)
    else:
        display.warn(f"{source} carries no SBOM: the release bundle carries none either")
    if carried.contract_path is not None:
        extras.files.append((carried.contract_path, CONTRACT_MEMBER))
        extras.fields["contract"] = carried.contract_field
    if carried.app_report_field is not None:
        extras.fields["app_report"] = carried.app_report_field
        if carried.app_report_path is not None:
            extras.files.append((carried.app_report_path, carried.app_report_field["member"]))
    return extras


def read_sbom(opened) -> dict:
    """The SBOM an opened bundle carries, checked against the manifest's SHA-256 as it is read."""
    manifest = opened.manifest
    if not manifest.sbom:
        raise AirgapError(
            f"{opened.path} carries no SBOM; it was made without one (an older airgapkit)"
        )
    entry = manifest.member(manifest.sbom["member"])
    if entry["size"] > sbom.READ_LIMIT:
        raise sbom.SbomError(
            f"{opened.path}: {display.safe(entry['path'])} is {entry['size']} bytes, more than "
            f"an SBOM's {sbom.READ_LIMIT}; refusing to read it"
        )
    with opened.open_member(entry["path"]) as stream:
        data = stream.read()
    return sbom.parse(data, f"{opened.path}:{display.safe(entry['path'])}")


def checked_env(opened, env_file: Path, local_example: Path) -> dict[str, str]:
    """A deploy's env file checked against the release's env contract (else the local example),
    then loaded; says which contract it used. Refuses a key the contract lists and the file lacks."""
    with tempfile.TemporaryDirectory(prefix="airgapkit-contract-") as tmp:
        contract_file, described_as = env_contract(opened, Path(tmp), local_example)
        say(f"{env_file} checked against {described_as}")
        contract.check(env_file, contract_file, described_as=described_as)
    return envfiles.load(env_file, warn=False)  # check warned of what there is to warn


def env_contract(opened, work: Path, local_example: Path) -> tuple[Path, str]:
    """The contract a deploy checks the env file against, and the words that name it.

    The one the release carries, so prod checks what the version being deployed reads; a local
    example only for a bundle that carries none.
    """
    if opened.manifest.contract:
        path = opened.extract(opened.manifest.contract["member"], work)
        return path, f"the env contract carried by {opened.path.name}"
    return local_example, f"the local {local_example} ({opened.path.name} carries no env contract)"


# --- saying so ------------------------------------------------------------------------------------


def describe_signature(verdict: signing.Verdict | None) -> str:
    if verdict is None or not verdict.signed:
        return "unsigned"
    if verdict.trusted:
        return f"signed by {verdict.signer} (trusted: {verdict.key_source})"
    return f"signed by {verdict.signer} (not checked: no trusted keys configured)"


def print_trust(
    manifest: Manifest, verdict: signing.Verdict | None, out: Console | None = None
) -> None:
    """The bundle's signer, SBOM, env contract and, for a release, the base bundle it came from."""
    out = out or display.console()
    # Manifest data, shown as written: never read as markup, control characters escaped.
    line = functools.partial(out.print, markup=False, highlight=False)
    line(f"signature: {describe_signature(verdict)}")
    if manifest.sbom:
        image = manifest.sbom.get("base_image") or {}
        identity = image.get("repo_digest") or image.get("image_id")
        line(
            f"SBOM: {manifest.sbom['packages']} npm packages ({safe(manifest.sbom['member'])}), "
            f"base image {safe(image.get('ref'))} {safe(identity)}"
        )
    else:
        line("SBOM: none")
    if manifest.contract:
        names = manifest.contract["keys"]
        line(f"env contract: {len(names)} keys: {safe(', '.join(names))}")
    if manifest.base_bundle:
        base = manifest.base_bundle
        line(f"made from: {safe(base['archive'])}, {_base_signer(base)}")


def _base_signer(base: dict) -> str:
    """Who signed a release's base bundle, as checked when the release was made."""
    if base["signer"]:
        return f"signed by {safe(base['signer'])}"
    if base.get("unchecked_signer"):
        return (
            f"signed by {safe(base['unchecked_signer'])} (not checked: no trusted keys were "
            "configured where the release was made)"
        )
    return "unsigned"
