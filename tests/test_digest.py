"""digest: streamed SHA-256 of files and of what passes a writer, against hashlib and sha256sum."""

from __future__ import annotations

import hashlib
import io
import subprocess

import pytest

from airgapkit.crossing import digest


@pytest.fixture
def files(tmp_path):
    (tmp_path / "node20a.tar").write_bytes(b"tar bytes " * 100_000)
    (tmp_path / "module.tgz").write_bytes(bytes(range(256)) * 999)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes with space.txt").write_text("hello\n")
    return tmp_path


def real_sha256sum(*args, cwd):
    return subprocess.run(["sha256sum", *args], cwd=cwd, capture_output=True, text=True)


def test_sha256_file_matches_hashlib_and_sha256sum(files):
    path = files / "node20a.tar"
    ours = digest.sha256_file(path)
    assert ours == hashlib.sha256(path.read_bytes()).hexdigest()
    assert real_sha256sum(path.name, cwd=files).stdout.split()[0] == ours


def test_hashing_writer_hashes_and_counts_what_passes(tmp_path):
    sink = io.BytesIO()
    writer = digest.HashingWriter(sink)
    for chunk in (b"abc", bytearray(b"def"), memoryview(b"ghi")):
        writer.write(chunk)
    assert sink.getvalue() == b"abcdefghi"
    assert writer.size == 9
    assert writer.hexdigest() == hashlib.sha256(b"abcdefghi").hexdigest()
