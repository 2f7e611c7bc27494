"""The one way a file gets its final name: written aside, synced, renamed; nothing left on failure."""

from __future__ import annotations

import os
import stat

import pytest

from airgapkit import fsutil
from airgapkit.errors import AirgapError


def test_the_file_appears_only_when_complete(tmp_path):
    dest = tmp_path / "out" / "a.bin"
    with fsutil.AtomicFile(dest) as out:
        out.file.write(b"half")
        assert not dest.exists()
        (temp,) = list(dest.parent.iterdir())
        assert fsutil.is_leftover(temp)
        out.file.write(b" and the rest")
    assert dest.read_bytes() == b"half and the rest"
    assert list(dest.parent.iterdir()) == [dest]


def test_a_failure_leaves_nothing_and_the_old_file_as_it_was(tmp_path):
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), fsutil.AtomicFile(dest) as out:
        out.file.write(b"new")
        raise KeyboardInterrupt
    assert dest.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [dest]


def test_mode_is_set_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        path = fsutil.write_atomic(tmp_path / "s", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    secret = fsutil.write_atomic(tmp_path / "p", b"x", mode=0o600)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_overwrite_false_refuses_an_existing_or_newly_appeared_file(tmp_path):
    dest = tmp_path / "p"
    dest.write_bytes(b"first")
    with pytest.raises(AirgapError, match="already exists"):
        fsutil.write_atomic(dest, b"second", overwrite=False)
    other = tmp_path / "q"
    with pytest.raises(AirgapError, match="already exists"):
        with fsutil.AtomicFile(other, overwrite=False) as out:
            out.file.write(b"mine")
            other.write_bytes(b"someone else's")  # appears while we write
    assert other.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "q"]


def test_several_files_appear_in_the_order_committed(tmp_path):
    parts = [fsutil.AtomicFile(tmp_path / name).open() for name in ("sums", "password", "zip")]
    for part in parts:
        part.file.write(part.dest.name.encode())
        part.finish()
    assert not any((tmp_path / n).exists() for n in ("sums", "password", "zip"))
    for part in parts:
        part.commit()
    assert (tmp_path / "zip").read_bytes() == b"zip"


def test_a_folder_is_not_a_file_name(tmp_path):
    with pytest.raises(AirgapError, match="is a folder"):
        fsutil.write_atomic(tmp_path, b"x")


def test_leftover_names_are_only_ours(tmp_path):
    assert fsutil.is_leftover(fsutil.temp_path(tmp_path / "x.zip"))
    for name in (".x.zip.part", "x.zip", ".x.zip.0123456789ab.part", "x.airgapkit-part"):
        assert not fsutil.is_leftover(tmp_path / name)


def test_is_inside(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert fsutil.is_inside(tmp_path / "a" / "b", tmp_path / "a")
    assert fsutil.is_inside(tmp_path / "link" / "b", tmp_path / "a")
    assert fsutil.is_inside(tmp_path / "a", tmp_path / "a")
    assert not fsutil.is_inside(tmp_path / "ab", tmp_path / "a")
