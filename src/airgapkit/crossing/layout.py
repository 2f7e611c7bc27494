"""The zip's own records read directly and held against its central directory.

A member's HMAC covers its encrypted data, not the zip records around it: the central directory (what
a reader lists, plans and checks sizes by) and the local header in front of the data (what a
streaming tool reads) could say different things about one member. ``check`` reads every local
header and data descriptor and refuses any disagreement with the central directory: name, flags,
compression method, AES strength and version, CRC, sizes; and any bytes the directory does not
account for (members that overlap, or one left out of the directory: the records must follow each
other from the first byte to the directory).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnsafeArchive

_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # zip APPNOTE 4.3.7
_LOCAL_SIG = b"PK\x03\x04"
_DESCRIPTOR_SIG = b"PK\x07\x08"
_ZIP64_EXTRA = 0x0001
_AES_EXTRA = 0x9901
_AES_METHOD = 99
_DATA_DESCRIPTOR = 0x8
_UTF8 = 0x800
_MAX32 = 0xFFFFFFFF


@dataclass
class Local:
    """What a local header (and its data descriptor, when it has one) says of a member."""

    name: bytes
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    aes: tuple[int, int, int] | None  # (version, strength, actual method)
    end: int  # offset just past the member's data and descriptor


def check(fp, infos: list, directory_offset: int, archive: Path) -> None:
    """Refuse the archive if a local header disagrees with its central directory entry, or two
    members' bytes overlap (or run into the central directory)."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    expected = 0  # the records follow each other with nothing between them
    if ordered and ordered[0].header_offset < 0:
        raise UnsafeArchive(
            f"{archive}: its central directory points before the start of the file; the end of the "
            "archive is damaged or crafted: fetch it again"
        )
    for info in ordered:
        if info.header_offset != expected:
            raise _unaccounted(archive, info.header_offset, expected)
        local = read_local(fp, info, archive)
        _compare(local, info, archive)
        expected = local.end
    if expected != directory_offset:
        raise _unaccounted(archive, directory_offset, expected)


def _unaccounted(archive: Path, found: int, expected: int) -> UnsafeArchive:
    what = "overlap" if found < expected else "lie between them that the directory does not list"
    return UnsafeArchive(
        f"{archive}: its members' bytes {what} (offset {found}, {expected} expected; a member "
        "left out of the central directory?); refusing the archive (a crafted or damaged zip)"
    )


def read_local(fp, info, archive: Path) -> Local:
    fp.seek(info.header_offset)
    raw = fp.read(_LOCAL.size)
    if len(raw) != _LOCAL.size or raw[:4] != _LOCAL_SIG:
        raise _refuse(archive, info, "has no local header where the central directory says")
    (_, _, flags, method, _, _, crc, csize, usize, name_len, extra_len) = _LOCAL.unpack(raw)
    name, extra = fp.read(name_len), fp.read(extra_len)
    fields = _extra_fields(extra)
    zip64 = fields.get(_ZIP64_EXTRA)
    usize, csize = _zip64_sizes(zip64, usize, csize)
    aes = None
    if (body := fields.get(_AES_EXTRA)) is not None and len(body) == 7:
        version, _vendor, strength, actual = struct.unpack("<H2sBH", body)
        aes = (version, strength, actual)
    data_end = info.header_offset + _LOCAL.size + name_len + extra_len + info.compress_size
    end = data_end
    if flags & _DATA_DESCRIPTOR:
        crc, csize, usize, end = _descriptor(fp, data_end, zip64 is not None or _big(info))
    return Local(name, flags, method, crc, csize, usize, aes, end)


def _compare(local: Local, info, archive: Path) -> None:
    central_name = info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8 else "cp437")
    if local.name != central_name:
        raise _refuse(
            archive,
            info,
            "has another name in its local header than in the central directory",
        )
    if local.flags != info.flag_bits:
        raise _refuse(
            archive,
            info,
            "has other flags in its local header than in the central directory",
        )
    wz = getattr(info, "wz_aes_version", None)
    if wz is not None:
        expected = (wz, info.wz_aes_strength, info.compress_type)
        if local.method != _AES_METHOD or local.aes != expected:
            raise _refuse(
                archive,
                info,
                "has another encryption or method in its local header than in the central directory",
            )
    elif local.method != info.compress_type or local.aes is not None:
        raise _refuse(
            archive,
            info,
            "has another compression method in its local header than in the central directory",
        )
    if (local.compress_size, local.file_size) != (info.compress_size, info.file_size):
        raise _refuse(
            archive,
            info,
            "has other sizes in its local header or data descriptor than in the central directory",
        )
    if local.crc != info.CRC:
        raise _refuse(
            archive,
            info,
            "has another CRC in its local header or data descriptor than in the central directory",
        )


def _refuse(archive: Path, info, what: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"{archive}: member {info.filename!r} {what}; refusing the archive (a crafted or damaged "
        "zip)"
    )


def _extra_fields(extra: bytes) -> dict[int, bytes]:
    fields, at = {}, 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        fields.setdefault(kind, extra[at + 4 : at + 4 + size])
        at += 4 + size
    return fields


def _zip64_sizes(body: bytes | None, usize: int, csize: int) -> tuple[int, int]:
    """Sizes from the ZIP64 extra where the header holds 0xFFFFFFFF (in that order)."""
    if body is None:
        return usize, csize
    values = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
    if usize == _MAX32 and values:
        usize = values.pop(0)
    if csize == _MAX32 and values:
        csize = values.pop(0)
    return usize, csize


def _big(info) -> bool:
    return info.file_size >= _MAX32 or info.compress_size >= _MAX32


def _descriptor(fp, at: int, zip64: bool) -> tuple[int, int, int, int]:
    """(crc, compressed size, size, end) of the data descriptor at ``at`` (signature optional)."""
    fp.seek(at)
    head = fp.read(4)
    if head == _DESCRIPTOR_SIG:
        at += 4
    else:
        fp.seek(at)
    fmt = "<IQQ" if zip64 else "<III"
    raw = fp.read(struct.calcsize(fmt))
    if len(raw) != struct.calcsize(fmt):
        return (-1, -1, -1, at)  # cut short: the comparison refuses it
    crc, csize, usize = struct.unpack(fmt, raw)
    return crc, csize, usize, at + len(raw)
