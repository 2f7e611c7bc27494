"""zipaes: the pyzipper internals it relies on still exist (an upgrade breaks here, loudly), its
faster classes write what pyzipper's own would, and what pyzipper reports arrives as typed errors."""

from __future__ import annotations

import os

import pyzipper
from archives import PW

from airgapkit.crossing import zipaes


def test_encrypter_output_is_pyzippers_byte_for_byte(monkeypatch):
    """Same password and salt: the faster encrypter writes exactly what pyzipper's own would, over
    chunk sizes that cut AES blocks, and the same HMAC."""
    theirs = pyzipper.zipfile_aes.AESZipEncrypter(PW.encode(), nbits=256, force_wz_aes_version=2)
    monkeypatch.setattr(zipaes.secrets, "token_bytes", lambda n: theirs.salt[:n])
    ours = zipaes.AESEncrypter(PW.encode(), nbits=256, force_wz_aes_version=2)
    assert ours.encryption_header() == theirs.encryption_header()
    data = os.urandom(700_001)
    cuts = [0, 1, 17, 4096, 300_000, 300_013, 700_001]
    for a, b in zip(cuts, cuts[1:], strict=False):
        assert bytes(ours.encrypt_view(memoryview(data)[a:b])) == theirs.encrypt(data[a:b])
    assert ours.encrypt(b"") + ours.flush() == theirs.encrypt(b"") + theirs.flush()
