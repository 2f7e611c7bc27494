"""pyzipper's WinZip AES (AE-2, AES-256) behind a few named functions and typed errors.

This is the one module that imports pyzipper and pycryptodome (``Cryptodome``), and the only one
that knows their internals. The rest of airgapkit calls ``open_writer``, ``new_member``,
``open_member_writer``, ``ZipWriter.abandon``, ``open_reader``, ``MemberStream``, ``is_encrypted``
and ``stored_data_size``, and catches the errors below instead of reading pyzipper's messages.

What changes from pyzipper's own classes is the cost per byte and how the archive reaches the disk;
the bytes written and the checks made are pyzipper's:

- HMAC-SHA1 from the standard library (OpenSSL, about 4x pycryptodome's here) and AES-CTR into one
  reused buffer, for both the encrypter and the decrypter; no CRC-32 over AE-2 members, which store
  0 and are authenticated by the HMAC;
- ``ForwardSink``: the archive is written forward only, so each member's sizes go in a data
  descriptor and every byte passes a SHA-256 once, in file order;
- ``CountingDecompressor``: counts what a member really expands to, since pyzipper silently cuts
  it at the declared size;
- deflate and inflate through ``deflate.py``: a member is deflated on every core (ISA-L or zlib-ng)
  and inflated by ISA-L, in place of the one-thread zlib objects pyzipper makes; an AES member's
  bytes are read and decrypted on a thread of their own (``ExtFile._read2``) while it is inflated.

The pyzipper internals relied on (``zipfile._ZipWriteFile`` and its private fields, ``ZipInfo.
_compresslevel``, ``ZipExtFile._decompressor``, ``_read2``, ``read_init``, ``_fileobj``,
``_compress_left``, ``_zinfo``, ``_expected_crc``, ``ZipFile.fp``, the decrypter and encrypter
fields) are each asserted by ``tests/test_zipaes.py``, so an upgrade that moves one breaks there,
loudly; pyproject.toml pins the 0.4 series.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import stat
import struct
import zlib
from pathlib import Path
from typing import IO

import pyzipper
from Cryptodome.Cipher import AES
from Cryptodome.Util import Counter
from pyzipper.zipfile import CRCZipDecrypter, _ZipWriteFile
from pyzipper.zipfile_aes import (
    WZ_AES_V2,
    WZ_KEY_LENGTHS,
    WZ_SALT_LENGTHS,
    AESZipDecrypter,
    AESZipEncrypter,
    AESZipExtFile,
    AESZipInfo,
)

from .. import pipes
from ..fsutil import MEMBER_CHUNK
from . import deflate
from .digest import HashingWriter

# AES-256, AE-2 (no CRC; the HMAC authenticates)
AES_KWARGS = {"nbits": 256, "force_wz_aes_version": 2}
PASSWORD_VERIFIER = 2  # bytes after the salt
HMAC_SIZE = 10  # bytes after the data
_UNIX = 3  # ZipInfo.create_system: the mode bits in external_attr are read as unix ones

# What pyzipper (and zlib, struct underneath it) raise for an archive that is not well formed.
_MALFORMED = (
    pyzipper.BadZipFile,
    EOFError,
    ValueError,
    struct.error,
    *deflate.INFLATE_ERRORS,
    NotImplementedError,
    KeyError,
    IndexError,
    RuntimeError,
)


# --- typed errors ---------------------------------------------------------------------------------


class ZipAesError(Exception):
    """Something pyzipper found, as a type that can be told apart without reading its message."""


class WrongPassword(ZipAesError):
    """The password does not open the member (its verifier does not match)."""


class AuthenticationFailed(ZipAesError):
    """The member's HMAC does not match its encrypted bytes: altered or damaged."""


class DataBeyondDeclaredSize(ZipAesError):
    """The member's data goes on past the size the archive declares for it."""


class DamagedArchive(ZipAesError):
    """The archive or a member is not well formed (truncated, bad CRC, unknown method, ...)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it ends too soon"
    return str(exc) or type(exc).__name__


# --- writing --------------------------------------------------------------------------------------


class AESEncrypter(AESZipEncrypter):
    """pyzipper's WinZip AES encrypter, same format and keys, with the reader's faster backends.

    As for ``AESDecrypter``: hashlib's HMAC-SHA1 (OpenSSL) runs about 4x pycryptodome's here, and
    AES-CTR into one reused buffer runs nearly twice as fast as returning a fresh one per call.
    Only what ``AES_KWARGS`` sets is taken: AE-1's optional CRC rules are not used.
    """

    def __init__(self, pwd: bytes, nbits: int = 256, force_wz_aes_version: int | None = None):
        # replaces pyzipper's: it would derive keys and build pycryptodome's HMAC only to discard them
        if not pwd:
            raise ValueError("WinZip AES encryption needs a password")
        self.aes_strength = {128: 1, 192: 2, 256: 3}[nbits]
        self.force_wz_aes_version = force_wz_aes_version
        self.conditionally_include_crc = self.min_bytes_to_include_crc = None
        key_len = WZ_KEY_LENGTHS[self.aes_strength]
        self.salt = secrets.token_bytes(WZ_SALT_LENGTHS[self.aes_strength])
        keys = hashlib.pbkdf2_hmac("sha1", pwd, self.salt, 1000, 2 * key_len + PASSWORD_VERIFIER)
        self.encpwdverify = keys[2 * key_len :]
        self.encrypter = AES.new(
            keys[:key_len], AES.MODE_CTR, counter=Counter.new(nbits=128, little_endian=True)
        )
        self.hmac = hmac.new(keys[key_len : 2 * key_len], digestmod=hashlib.sha1)
        self._out = bytearray()

    def encrypt_view(self, data) -> memoryview:
        """Encrypt into the reused buffer; the view is valid only until the next call."""
        if len(self._out) < len(data):
            self._out = bytearray(len(data))
        view = memoryview(self._out)[: len(data)]
        self.encrypter.encrypt(data, output=view)
        self.hmac.update(view)  # the HMAC covers the encrypted bytes
        return view

    def encrypt(self, data) -> bytes:
        # pyzipper's close() appends the HMAC to what this returns, so it must be a fresh object
        return bytes(self.encrypt_view(data))

    def flush(self) -> bytes:
        return self.hmac.digest()[: self.hmac_size]


class WriteFile(_ZipWriteFile):
    """pyzipper's member writer, with two costs per byte removed: the CRC-32 for AE-2 members (they
    store CRC 0 in every header and descriptor; the HMAC authenticates instead), and a copy (the
    data is encrypted into the encrypter's buffer and written from there). AE-1 keeps its CRC.
    A deflated member goes through ``deflate.ParallelDeflater`` instead of one zlib object."""

    def __init__(self, zf, zinfo, zip64, encrypter=None):
        super().__init__(zf, zinfo, zip64, encrypter)
        self._with_crc = getattr(zinfo, "wz_aes_version", None) != WZ_AES_V2
        if zinfo.compress_type == pyzipper.ZIP_DEFLATED:
            level = zinfo._compresslevel or deflate.DEFAULT_LEVEL
            self._compressor = deflate.ParallelDeflater(level)

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        nbytes = len(data)
        self._file_size += nbytes
        if self._with_crc:
            self._crc = zlib.crc32(data, self._crc)
        if self._compressor:
            data = self._compressor.compress(data)
        if data:  # deflate often holds back a whole chunk: nothing to encrypt or write
            data = self._encrypter.encrypt_view(data)
            self._compress_size += len(data)
            self._fileobj.write(data)
        return nbytes


class ZipWriter(pyzipper.AESZipFile):
    """pyzipper's writer with the encrypter and member writer above; every member is encrypted."""

    zipwritefile_cls = WriteFile

    def get_encrypter(self) -> AESEncrypter:
        return AESEncrypter(self.pwd, **self.encryption_kwargs)

    def abandon(self) -> None:
        """Drop the archive being written: ``close()`` (and pyzipper's ``__del__``) then write no
        central directory into a file that is about to be removed."""
        self.fp = None


class ForwardSink(HashingWriter):
    """Where pyzipper writes the archive: forward only, hashing every byte on its way to the file.

    zipfile decides in ``ZipFile.__init__`` whether it may seek back: it calls ``tell()`` and then
    ``seek()`` to that offset, and an OSError there (io.UnsupportedOperation is one) makes it write
    data descriptors instead of patching headers. So ``tell`` works (zipfile needs offsets for the
    central directory) and ``seek`` refuses; the hash then sees the bytes exactly as the file holds
    them.
    """

    def tell(self) -> int:
        return self.size

    def seek(self, *_args):
        raise io.UnsupportedOperation(
            "the archive is written forward only, so it can be hashed as it is written"
        )

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self._fileobj.flush()


def _method(level: int) -> int:
    return pyzipper.ZIP_DEFLATED if level else pyzipper.ZIP_STORED


def open_writer(sink: ForwardSink, password: bytes, level: int) -> ZipWriter:
    """An AES-256 zip writer into ``sink``: level 0 stores, 1-9 deflate; ZIP64 allowed."""
    zf = ZipWriter(
        sink,
        "w",
        compression=_method(level),
        compresslevel=level or None,
        allowZip64=True,
        encryption=pyzipper.WZ_AES,
        encryption_kwargs=AES_KWARGS,
    )
    zf.setpassword(password)
    return zf


def new_member(name: str, date_time: tuple, level: int) -> AESZipInfo:
    """A member record: deflated at ``level`` (stored at 0), a regular file of mode 0644."""
    info = AESZipInfo(name, date_time=date_time)
    info.compress_type = _method(level)
    info._compresslevel = level or None  # pyzipper's only way to give one member its level
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.create_system = _UNIX
    return info


def open_member_writer(zf: ZipWriter, info: AESZipInfo) -> WriteFile:
    """A writable member; ZIP64 from the start, so no size needs to be known in advance."""
    return zf.open(info, "w", force_zip64=True)


# --- reading --------------------------------------------------------------------------------------


class CountingDecompressor:
    """Stands in for the decompressor pyzipper made for a member and counts what it produces.

    pyzipper cuts a member's output at its declared size and drops the rest silently; counting the
    decompressor's own output is how a member larger than it declares is noticed.
    """

    def __init__(self, inner):
        self._inner = inner
        self.produced = 0

    def decompress(self, data, max_length=-1):
        out = (
            self._inner.decompress(data, max_length)
            if max_length != -1
            else self._inner.decompress(data)
        )
        self.produced += len(out)
        return out

    def __getattr__(self, name):
        return getattr(self._inner, name)


class AESDecrypter(AESZipDecrypter):
    """pyzipper's WinZip AES decrypter, same keys and checks, cheaper per byte, typed errors.

    Measured on 1 MiB chunks here: pycryptodome's HMAC-SHA1 runs at about 400 MB/s where hashlib's
    (OpenSSL) runs at 1600, and AES-CTR returning a fresh buffer per call runs at half the speed of
    decrypting into one reused buffer. Key derivation is the same PBKDF2-HMAC-SHA1, 1000 rounds.
    """

    def __init__(self, zinfo, pwd, encryption_header):  # replaces pyzipper's: other backends
        self.filename = zinfo.filename
        key_len = WZ_KEY_LENGTHS[zinfo.wz_aes_strength]
        salt_len = WZ_SALT_LENGTHS[zinfo.wz_aes_strength]
        salt, verifier = encryption_header[:salt_len], encryption_header[salt_len:]
        keys = hashlib.pbkdf2_hmac("sha1", pwd, salt, 1000, 2 * key_len + PASSWORD_VERIFIER)
        if not hmac.compare_digest(keys[2 * key_len :], verifier):
            raise WrongPassword(f"wrong password for member {zinfo.filename!r}")
        self.decypter = AES.new(
            keys[:key_len], AES.MODE_CTR, counter=Counter.new(nbits=128, little_endian=True)
        )
        self.hmac = hmac.new(keys[key_len : 2 * key_len], digestmod=hashlib.sha1)
        self._out = bytearray()

    def decrypt(self, data):
        self.hmac.update(data)  # the HMAC covers the encrypted bytes
        if len(self._out) != len(data):
            self._out = bytearray(len(data))
        self.decypter.decrypt(data, output=self._out)
        return bytes(self._out)

    def check_hmac(self, hmac_check):
        if not hmac.compare_digest(self.hmac.digest()[: self.hmac_size], hmac_check):
            raise AuthenticationFailed(f"bad HMAC for member {self.filename!r}")


class ZipCryptoDecrypter(CRCZipDecrypter):
    """pyzipper's decrypter for the old ZipCrypto members (7-Zip still writes them when asked), with
    its one refusal typed: its constructor raises RuntimeError only when the check byte differs."""

    def __init__(self, zinfo, pwd, encryption_header):
        try:
            super().__init__(zinfo, pwd, encryption_header)
        except RuntimeError as exc:
            raise WrongPassword(f"wrong password for member {zinfo.filename!r}") from exc


class ExtFile(AESZipExtFile):
    """pyzipper's member reader with the decrypters above, and no CRC-32 run for AE-2 members:
    AE-2 stores CRC 0 and pyzipper checks none for it (the HMAC authenticates instead), yet it would
    compute one over every byte. A nonzero stored CRC is still computed and checked."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._zinfo.wz_aes_version == WZ_AES_V2 and not self._expected_crc:
            self._expected_crc = None

    def setup_aeszipdecrypter(self):
        super().setup_aeszipdecrypter()
        return AESDecrypter

    def setup_crczipdecrypter(self):
        super().setup_crczipdecrypter()
        return ZipCryptoDecrypter

    _ahead: pipes.Ahead | None = None  # an AES member's bytes read and decrypted ahead (_read2)

    def read_init(self):
        self._stop_ahead()  # a seek back starts the member again
        super().read_init()
        self._held = b""

    def _read2(self, n):
        if not isinstance(self._decrypter, AESDecrypter) or self._compress_left <= 0:
            return super()._read2(n)
        if self._ahead is None:
            self._ahead = pipes.Ahead(self._decrypted(self._compress_left), name="decrypt")
            self._chunks = iter(self._ahead)
        if not self._held:
            self._held = next(self._chunks, b"")
            if not self._held:
                raise EOFError
        if self._compress_type == pyzipper.ZIP_STORED:  # a stored member's read1(n) keeps to n
            held = memoryview(self._held)
            data, self._held = bytes(held[: max(n, 1)]), held[max(n, 1) :]
        else:  # what inflating does not take waits in the inflater's unconsumed_tail
            data, self._held = self._held, b""
        self._compress_left -= len(data)
        return data

    def _decrypted(self, size: int):
        """The member's ``size`` stored bytes, decrypted, a chunk at a time (EOFError if cut)."""
        while size > 0:
            data = self._fileobj.read(min(size, MEMBER_CHUNK))
            if not data:
                raise EOFError
            size -= len(data)
            yield self._decrypter.decrypt(data)

    def _stop_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def close(self):
        try:
            self._stop_ahead()
        finally:
            super().close()


class ZipReader(pyzipper.AESZipFile):
    zipextfile_cls = ExtFile


def open_reader(path: Path | IO[bytes], password: bytes) -> ZipReader:
    """The archive's central directory read; DamagedArchive if it is not a zip. OSError (missing,
    unreadable) passes through as it is."""
    try:
        zf = ZipReader(path, "r")
    except (*_MALFORMED, OSError) as exc:  # a damaged tail makes pyzipper seek out of the file
        if isinstance(exc, OSError) and not hasattr(path, "read"):
            raise  # the path itself cannot be opened: not the archive's fault
        raise DamagedArchive(_describe(exc)) from exc
    zf.setpassword(password)
    return zf


AES_256 = "AES-256"
_AES_NAMES = {1: "AES-128", 2: "AES-192", 3: AES_256}


def is_encrypted(info) -> bool:
    """Whether the member's data is encrypted (general purpose flag bit 0)."""
    return bool(info.flag_bits & 0x1)


def encryption_of(info) -> str | None:
    """How a member is encrypted: None, ``ZipCrypto`` (the legacy zip cipher), or ``AES-128``,
    ``AES-192``, ``AES-256`` (WinZip AE-1/AE-2)."""
    if not is_encrypted(info):
        return None
    if getattr(info, "wz_aes_version", None) is None:
        return "ZipCrypto"
    strength = getattr(info, "wz_aes_strength", None)
    return _AES_NAMES.get(strength, f"AES of unknown strength {strength}")


def directory_offset(zf: ZipReader) -> int:
    """Where the central directory starts (what no member's bytes may run into)."""
    return zf.start_dir


def stored_data_size(info) -> int | None:
    """The bytes of data a stored AES member holds: its compressed size less the salt, password
    verifier and HMAC around it. None for any other member (deflated ones are counted as read)."""
    if info.compress_type != pyzipper.ZIP_STORED or not getattr(info, "wz_aes_version", None):
        return None
    salt = WZ_SALT_LENGTHS.get(getattr(info, "wz_aes_strength", None) or 3, 16)
    return info.compress_size - salt - PASSWORD_VERIFIER - HMAC_SIZE


class MemberStream:
    """One member opened for reading: ``read1(n)`` decrypts and inflates one step.

    ``b""`` means the member ended with its HMAC (and CRC, where there is one) checked and no data
    past its declared size. Raises WrongPassword when opened, AuthenticationFailed,
    DataBeyondDeclaredSize or DamagedArchive while read; OSError passes through.
    """

    def __init__(self, zf: ZipReader, info):
        self.info = info
        try:
            self._fp = zf.open(info, "r")
        except _MALFORMED as exc:
            raise DamagedArchive(_describe(exc)) from exc
        self._counter = None
        if self._fp._decompressor is not None:  # stored members have none
            # ISA-L's inflater where installed (about twice zlib's speed); nothing is read yet
            self._counter = self._fp._decompressor = CountingDecompressor(deflate.inflater())

    def read1(self, n: int) -> bytes:
        try:
            data = self._fp.read1(n)  # one decrypt/inflate step: no joining of partial reads
        except AuthenticationFailed as exc:
            # pyzipper stops at the declared size and checks the HMAC where the data goes on
            if self._beyond_declared_size():
                raise self._too_much() from exc
            raise
        except _MALFORMED as exc:
            if encryption_of(self.info) == "ZipCrypto":
                raise self._zipcrypto_refusal() from exc
            raise DamagedArchive(_describe(exc)) from exc
        if not data and self._beyond_declared_size():
            raise self._too_much()
        return data

    def _beyond_declared_size(self) -> bool:
        if self._counter is not None:
            return self._counter.produced > self.info.file_size or not getattr(
                self._counter, "eof", True
            )
        return self._fp._compress_left > 0

    def _zipcrypto_refusal(self) -> WrongPassword:
        # ZipCrypto checks one byte of the password up front: one wrong password in 256 passes it,
        # and only the garbage it decrypts to (bad deflate data, a CRC mismatch) tells.
        return WrongPassword(
            f"wrong password for member {self.info.filename!r}, or the member is damaged "
            "(its legacy ZipCrypto cipher cannot tell which)"
        )

    def _too_much(self) -> DataBeyondDeclaredSize:
        return DataBeyondDeclaredSize(
            f"member {self.info.filename!r} holds more than its declared {self.info.file_size} bytes"
        )

    def close(self) -> None:
        self._fp.close()
