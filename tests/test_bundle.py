"""bundle: create streams images and files into one archive with its manifest; open_verified checks
the hash before decrypting and refuses the wrong kind; load_images streams into a real engine."""

from __future__ import annotations

import hashlib
import os

import pytest
from archives import PW

from airgapkit.crossing import digest


def test_bundle_create_returns_the_hash_written(tmp_path, monkeypatch):
    from airgapkit.crossing import bundle

    (tmp_path / "app.tgz").write_bytes(os.urandom(50_000))
    monkeypatch.setattr(digest, "sha256_file", lambda *_a, **_k: pytest.fail("second read"))
    manifest = bundle.Manifest(kind="base", app={"image_name": "demo", "version": "1"})
    dest = tmp_path / "media" / "demo-1-base.zip"
    sha = bundle.create(
        None,
        dest,
        manifest,
        images=[],
        files=[(tmp_path / "app.tgz", "app/app.tgz")],
        password=PW,
        level=6,
    )
    assert sha == hashlib.sha256(dest.read_bytes()).hexdigest()
