"""Archives for the crossing tests: written by airgapkit, or crafted with pyzipper to be hostile."""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import pyzipper
from pyzipper.zipfile_aes import AESZipInfo

from airgapkit.crossing import digest, sumsfile
from airgapkit.crossing.archive import ArchiveWriter

PW = "Tq8#vLx2!mZr5@kWp9$e"
SEVENZIP = "7z"


def sample_payload() -> dict[str, bytes]:
    """An image tar's worth of random bytes with a compressible tail, and a small packed app."""
    return {"node20a.tar": os.urandom(300_000) + b"layer " * 50_000, "module.tgz": os.urandom(5000)}


def write_archive(dest: Path, members: dict[str, bytes], level: int = 6, password=PW) -> Path:
    with ArchiveWriter(dest, password, level=level, progress=False) as w:
        for name, data in members.items():
            w.add_bytes(name, data)
    return dest


def sums_for(archive: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    sums = folder / "SHA256SUMS"
    sumsfile.write_sums({archive.name: digest.sha256_file(archive)}, sums)
    return sums


def delivered(tmp_path: Path, payload: dict[str, bytes]) -> tuple[Path, Path, Path]:
    """An archive on the media, its SHA256SUMS apart, and a destination holding one file already."""
    archive = write_archive(tmp_path / "media" / "x.zip", payload)
    sums = sums_for(archive, tmp_path / "hashes")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("was here")
    return archive, sums, dest


def crafted(dest: Path, infos: list[tuple[AESZipInfo, bytes]], password=PW) -> Path:
    """A zip written by pyzipper from hand-made ZipInfo records (names and attributes as given)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        with pyzipper.AESZipFile(
            dest, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        ) as zf:
            zf.setpassword(password.encode())
            for info, data in infos:
                info.compress_type = pyzipper.ZIP_DEFLATED
                zf.writestr(info, data)
    return dest


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def patch_declared_size(archive: Path, name: bytes, new_size: int) -> None:
    """Make the archive declare ``new_size`` bytes for member ``name`` (a lie), told the same in the
    central directory and in the member's data descriptor, so the records agree with each other."""
    data = bytearray(archive.read_bytes())
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, new_size)  # uncompressed size in the central directory
    (compressed,) = struct.unpack_from("<I", data, at + 20)
    (local,) = struct.unpack_from("<I", data, at + 42)
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    descriptor = local + 30 + name_len + extra_len + compressed
    assert data[descriptor : descriptor + 4] == b"PK\x07\x08"
    struct.pack_into("<Q", data, descriptor + 16, new_size)  # and in the ZIP64 data descriptor
    archive.write_bytes(bytes(data))


def flip_byte(path: Path, at: int, mask: int = 0x01) -> None:
    """Flip bits of one byte of ``path`` in place (negative ``at`` counts from the end)."""
    data = bytearray(path.read_bytes())
    data[at] ^= mask
    path.write_bytes(bytes(data))
