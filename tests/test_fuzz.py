"""Fuzz: bytes changed across a small archive's zip records and across a bundle's manifest.

Every outcome must be a byte-identical extraction or a one-line refusal (an AirgapError), never a
traceback and never a file outside the destination. The outer SHA-256 is recomputed for each case,
so what is tested is the parser, not the hash check in front of it. The case count and outcomes are
printed (``pytest -s``) and asserted.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from archives import PW

from airgapkit.crossing import bundle, channels, digest, sumsfile
from airgapkit.crossing.archive import ArchiveWriter
from airgapkit.crossing.manifest import MANIFEST, Manifest
from airgapkit.errors import AirgapError

MEMBERS = {"app/app.tgz": bytes(range(256)) * 12 + b"tail", "manifest.txt": b"hello, other side"}
MASKS = (0x01, 0x80, 0xFF)


@pytest.fixture
def work(tmp_path):
    """A folder in memory when the machine has one (thousands of small synced writes), else tmp."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private folder inside it
    if not (shm.is_dir() and shm.stat().st_mode & 0o002):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="agk-fuzz-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _regions(raw: bytes) -> list[int]:
    """Every byte of each local header, data descriptor, the central directory and end records."""
    positions: set[int] = set()
    at = 0
    while raw[at : at + 4] == b"PK\x03\x04":
        name_len, extra_len = struct.unpack_from("<HH", raw, at + 26)
        positions.update(range(at, at + 30 + name_len + extra_len))
        descriptor = raw.index(b"PK\x07\x08", at)
        positions.update(range(descriptor, descriptor + 24))
        at = descriptor + 24
    positions.update(range(at, len(raw)))  # central directory, ZIP64 end records, end record
    return sorted(positions)


def _run(archive: Path, work: Path, outcomes: Counter, kind: str) -> None:
    """One case: the archive's hash recomputed, then extracted (or opened as a bundle)."""
    sums = work / "hashes" / "SHA256SUMS"
    sumsfile.write_sums({archive.name: digest.sha256_file(archive, progress=False)}, sums)
    dest = work / "sandbox" / "dest"
    before = sorted(p.name for p in (work / "sandbox").iterdir())
    try:
        if kind == "archive":
            channels.extract(archive, dest, PW, sums)
            for name, data in MEMBERS.items():
                assert (dest / name).read_bytes() == data, f"{name} differs after extraction"
        else:
            with bundle.open_verified(archive, sums, PW, kind="base") as opened:
                opened.extract("app/app.tgz", dest)
            assert (dest / "app" / "app.tgz").read_bytes() == MEMBERS["app/app.tgz"]
        outcomes["identical"] += 1
    except AirgapError as exc:
        assert "\n" not in str(exc), str(exc)
        outcomes[type(exc).__name__] += 1
    after = sorted(p.name for p in (work / "sandbox").iterdir() if p.name != "dest")
    assert after == [n for n in before if n != "dest"], "something landed outside the destination"
    shutil.rmtree(dest, ignore_errors=True)


def test_fuzz_the_zip_records(work, capsys):
    tmp_path = work
    (tmp_path / "sandbox").mkdir()
    pristine = tmp_path / "pristine.zip"
    with ArchiveWriter(pristine, PW, progress=False) as w:
        for name, data in MEMBERS.items():
            w.add_bytes(name, data)
    raw = pristine.read_bytes()
    archive = tmp_path / "media" / "x.zip"
    archive.parent.mkdir()
    outcomes: Counter = Counter()
    for at in _regions(raw):
        for mask in MASKS:
            changed = bytearray(raw)
            changed[at] ^= mask
            archive.write_bytes(bytes(changed))
            _run(archive, tmp_path, outcomes, "archive")
    with capsys.disabled():
        print(f"\nzip records: {sum(outcomes.values())} cases: {dict(outcomes)}")
    assert sum(outcomes.values()) == 3 * len(_regions(raw)) > 1000
    assert outcomes["identical"] > 0 and outcomes["identical"] < sum(outcomes.values())


def _bundle_with(manifest_json: bytes, dest: Path) -> None:
    with ArchiveWriter(dest, PW, progress=False) as w:
        w.add_bytes("app/app.tgz", MEMBERS["app/app.tgz"])
        w.add_bytes(MANIFEST, manifest_json)


def test_fuzz_the_manifest(work, capsys):
    tmp_path = work
    """The manifest changed before it is encrypted: the HMAC holds, the schema is what is tested."""
    (tmp_path / "sandbox").mkdir()
    manifest = Manifest(kind="base", app={"name": "demo", "version": "1", "image_name": "demo"})
    data = MEMBERS["app/app.tgz"]
    manifest.files.append({"path": "app/app.tgz", "size": len(data), "sha256": _sha(data)})
    text = manifest.to_json()
    archive = tmp_path / "media" / "demo-1-base.zip"
    outcomes: Counter = Counter()
    for at in range(len(text)):
        for mask in MASKS[:1]:
            changed = bytearray(text)
            changed[at] ^= mask
            _bundle_with(bytes(changed), archive)
            _run(archive, tmp_path, outcomes, "bundle")
    for change in (b"[]", b"null", b'{"format": "airgapkit-bundle"}', json.dumps([1] * 5).encode()):
        _bundle_with(change, archive)
        _run(archive, tmp_path, outcomes, "bundle")
    with capsys.disabled():
        print(f"\nmanifest: {sum(outcomes.values())} cases: {dict(outcomes)}")
    assert sum(outcomes.values()) == len(text) + 4 > 400
    assert outcomes["identical"] > 0


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
