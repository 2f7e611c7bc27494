"""digest: streamed SHA-256 of files and of what passes a writer, against hashlib and sha256sum."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

import pytest

from airgapkit import fsutil
from airgapkit.crossing import digest
from airgapkit.errors import AirgapError


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


def test_big_files_hash_in_chunks_the_same(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 * fsutil.CHUNK + 12_345))
    assert digest.sha256_file(path, progress=False) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest.hash_files([path], progress=False) == {path: digest.sha256_file(path)}


def test_unreadable_inputs_are_one_line_each(tmp_path):
    with pytest.raises(AirgapError, match="no such file"):
        digest.sha256_file(tmp_path / "absent")
    with pytest.raises(AirgapError, match="is a folder"):
        digest.sha256_file(tmp_path)


def test_expand_keeps_order_globs_and_refuses_what_is_not_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("b.tar", "a.tar", "c.tgz"):
        (tmp_path / name).write_bytes(b"x")
    assert digest.expand("c.tgz, *.tar, c.tgz") == [Path("c.tgz"), Path("a.tar"), Path("b.tar")]
    assert digest.expand(["a.tar"]) == [Path("a.tar")]
    with pytest.raises(AirgapError, match="no files named"):
        digest.expand(" , ")
    with pytest.raises(AirgapError, match="matches no file"):
        digest.expand("*.zip")
    with pytest.raises(AirgapError, match="absent.tar: no such file"):
        digest.expand("absent.tar")
