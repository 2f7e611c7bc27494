"""Tasks for either side: hashes, encrypted archives and safe extraction as the document does them;
a bundle's manifest and SBOM read; signing keys; this machine's history; airgapkit updated from a
kit; and the whole round trip on one machine."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import display, fsutil
from ..crossing import channels, digest, passwords, sumsfile, sumsreport, sumsverify
from ..demo import round_trip
from ..errors import AirgapError
from ..flows import bundles
from ..flows.inspect import print_manifest
from ..gate import render
from ..history import show as show_history
from ..kit import selfupdate
from ..platform import PRIVATE
from ..settings import Crossing, Incoming, Outgoing, Places, history_of
from ..trust import keys, seal
from ..trust import sbom as sbom_doc
from .common import HELP, INCOMING_HELP, client, config, project, task, trust_of


@task(
    name="hash",
    help={
        "files": "Files to hash: comma-separated, globs allowed (quote them).",
        "output": "SHA256SUMS to write (default: SHA256SUMS beside the first file); other entries kept.",
        "check": "Verify against this SHA256SUMS (or saved sha256sum / Get-FileHash output) instead.",
        "folder": "With --check: folder holding the listed files (default: the hash file's folder).",
        "ignore_missing": "With --check: skip listed files absent from the folder (sha256sum's flag).",
    },
)
def hash_(c, files="", output="", check="", folder="", ignore_missing=False):
    """SHA-256 of files as a Get-FileHash-like table, kept in SHA256SUMS (Get-FileHash, sha256sum)."""
    if check:
        report = (
            sumsverify.check_files(digest.expand(files), Path(check))
            if files
            else sumsverify.check_sums(
                Path(check), Path(folder) if folder else None, ignore_missing=ignore_missing
            )
        )
        sumsreport.print_report(report)
        return report.raise_for_problems()
    paths = digest.expand(files)
    dest = fsutil.output_file(Path(output), "--output") if output else None
    sumsreport.print_hashes(sumsfile.record(paths, dest or paths[0].parent / sumsfile.SUMS_NAME))


@task(
    auto_shortflags=False,
    help={
        "files": "Files to put in the archive: comma-separated, globs allowed (quote them).",
        "output": "Archive to write (default: <out_dir>/<first file's name>.zip): goes on the media.",
        "sums": "Its SHA256SUMS (default: <hashes_dir>/SHA256SUMS): goes by a second channel.",
        "password_file": "File holding the password (else AIRGAPKIT_PASSWORD, else a prompt asked twice).",
        "generate_password": "Make a 192-bit password, written to <password_dir>/<archive>.password "
        f"({PRIVATE}).",
        "level": Outgoing.FLAGS["level"].help,
        "allow_weak_password": "Accept a password the strength rule refuses (PBKDF2 at 1,000 rounds).",
        "split": Outgoing.FLAGS["split"].help,
        "force": "Replace an existing archive (and its line in the hash file).",
    },
)
def archive(
    c,
    files,
    output="",
    sums="",
    password_file="",
    generate_password=False,
    level=-1,
    allow_weak_password=False,
    split="",
    force=False,
):
    """Encrypt files into an AES-256 zip; write its hash and password to separate places (7z a)."""
    places, paths = Places.from_config(config(c)), digest.expand(files)
    crossing = Crossing.from_config(config(c), level=level, split=split)
    dest = Path(output or places.out_dir / f"{paths[0].name}.zip")
    channels.print_crossing(
        channels.create(
            paths,
            dest,
            sums=Path(sums or places.hashes_dir / sumsfile.SUMS_NAME),
            password_file=Path(password_file) if password_file else None,
            generate_password=places.password_dir / f"{dest.name}.password"
            if generate_password
            else None,
            allow_weak=allow_weak_password,
            level=crossing.level,
            split=crossing.split,
            force=force,
        )
    )


@task(
    auto_shortflags=False,
    help={
        "archive": "The archive that came on the media.",
        "sums": "Its SHA256SUMS (or Get-FileHash output) that came by the second channel; checked first.",
        "dest": "Folder to extract into (default: the configured build_dir).",
        "password_file": HELP["password_file"],
        "force": "Overwrite files that already exist in the destination.",
    },
)
def extract(c, archive, sums="", dest="", password_file="", force=False):
    """Check an archive's SHA-256 (and a bundle's signature), then decrypt and extract it safely (7z x)."""
    if not sums:
        raise AirgapError(
            f"give --sums FILE: the hashes of {archive} that came by the second channel"
        )
    password = passwords.resolve(
        password_file=Path(password_file) if password_file else None, confirm=False, allow_weak=True
    )
    vouch = seal.vouch(seal.trusted_keys(trust_of(c)), archive)
    for path in channels.extract(
        Path(archive),
        Path(dest) if dest else project(c).build_dir,
        password,
        Path(sums),
        force=force,
        vouch=vouch,
    ):
        print(f"extracted {display.safe(path)}")  # member names are data from the other side


@task(
    help={
        **INCOMING_HELP,
        "sums": HELP["verify_sums"],
        "json": "Print the manifest as JSON instead (keep it for a later --since).",
    }
)
def inspect(c, bundle, password_file="", sums="", json=False):
    """Print a bundle's manifest as tables, its signer, SBOM and env contract, extracting nothing."""
    incoming = Incoming.from_flags(bundle, sums=sums, password_file=password_file)
    with bundles.reading(incoming, seal.trusted_keys(trust_of(c))) as opened:
        if json:
            sys.stdout.write(opened.manifest.to_json().decode() + "\n")
            return
        print_manifest(opened.manifest)
        seal.print_trust(opened.manifest, opened.signature)


@task(
    help={
        **INCOMING_HELP,
        "sums": HELP["verify_sums"],
        "output": "Write the CycloneDX JSON to this file instead of printing a table.",
    }
)
def sbom(c, bundle, password_file="", sums="", output=""):
    """The packages a bundle carries (its CycloneDX SBOM), as a table or written out as JSON."""
    dest = fsutil.output_file(Path(output), "--output") if output else None
    incoming = Incoming.from_flags(bundle, sums=sums, password_file=password_file)
    with bundles.reading(incoming, seal.trusted_keys(trust_of(c))) as opened:
        bom, packages = seal.read_sbom(opened), opened.manifest.app_report
    if dest:
        print(f"wrote {sbom_doc.write(bom, dest)}")
    else:
        display.console().print(sbom_doc.table(bom, incoming.archive.name))
        if packages:
            display.console().print(render.app_report_table(packages))


@task(
    name="history",
    help={
        "app": "Only this app's runs (its package.json name).",
        "json": "Print the entries as JSON, one per line, instead of a table.",
    },
)
def history_(c, app="", json=False):
    """This machine's export, release and deploy runs, oldest first (airgapkit.history)."""
    log = history_of(config(c))
    if log is None:
        raise AirgapError(
            "no history is kept here (airgapkit.history is empty); set it in invoke.yaml"
        )
    entries, notes = log.read()
    for note in notes:
        display.warn(note)
    show_history([e for e in entries if not app or e.app == app], as_json=json)


@task(
    help={
        "out": f"NAME of the pair: writes NAME.key (private, encrypted, {PRIVATE}) and NAME.pub.",
        "key_passphrase_file": "File holding the new key's passphrase (else AIRGAPKIT_KEY_PASSPHRASE, "
        "else a prompt asked twice).",
        "allow_weak_passphrase": "Accept a passphrase the strength rule refuses.",
    }
)
def keygen(c, out, key_passphrase_file="", allow_weak_passphrase=False):
    """Make an Ed25519 signing key pair; share NAME.pub with the sides that check your bundles."""
    passphrase = keys.passphrase(
        passphrase_file=Path(key_passphrase_file) if key_passphrase_file else None, confirm=True
    )
    pair = keys.keygen(Path(out), passphrase, allow_weak=allow_weak_passphrase)
    print(f"private key {pair.private} ({PRIVATE}): keep it on this machine")
    print(f"public key  {pair.public}: add it to trust.keys where bundles are checked")
    print(f"fingerprint {pair.fingerprint}")


@task(
    name="self-update",
    help={
        "kit": "The kit (airgapkit-VERSION-kit.zip) that came on the media.",
        "sums": INCOMING_HELP["sums"].replace("<bundle>", "<kit>"),
        "password_file": INCOMING_HELP["password_file"],
    },
)
def self_update(c, kit, sums="", password_file=""):
    """Install airgapkit from a kit beside this one, once the kit's hash and signature check out."""
    incoming = Incoming.from_flags(kit, sums=sums, password_file=password_file)
    old, new, prefix = selfupdate.update(incoming, seal.trusted_keys(trust_of(c)))
    if old == new:
        print(f"airgapkit {new} is already the one in use ({prefix / new})")
        return
    print(f"airgapkit {old} -> {new}: {new} is in use now, {old} stays in {prefix / old}")


@task(
    help={
        "base_image": "Base image to use instead of the configured one (for a machine that cannot pull it).",
        "workdir": "Folder holding the three machines' folders (default: .demo).",
        "port": "Host port the deployed API answers on (default: 8080).",
    }
)
def demo(c, base_image="", workdir=".demo", port=8080):
    """The whole round trip on this machine: connected, air-gapped dev and prod in three folders."""
    round_trip(
        client(c),
        config(c),
        base_image=project(c, base_image=base_image).base_image,
        workdir=Path(workdir).resolve(),
        port=port,
    )
