"""The one way a file gets its final name: written aside, synced, renamed; nothing left on failure."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

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


def special_files(folder: Path) -> dict[str, Path]:
    """A FIFO, a device node (a copy of /dev/full's, made here: never the system's own) and two
    symbolic links, in ``folder``."""
    made = {name: folder / name for name in ("fifo", "device", "link", "dangling")}
    os.mkfifo(made["fifo"])
    os.mknod(made["device"], stat.S_IFCHR | 0o666, os.makedev(1, 7))  # /dev/full's numbers
    (folder / "target").write_bytes(b"target")
    made["link"].symlink_to(folder / "target")
    made["dangling"].symlink_to(folder / "nowhere")
    return made


@pytest.mark.parametrize("kind", ["fifo", "device", "link", "dangling"])
def test_a_special_file_is_never_replaced(tmp_path, kind):
    dest = special_files(tmp_path)[kind]
    before = os.lstat(dest)
    with pytest.raises(AirgapError, match=rf"^{dest} is a .*not a regular file.*name another file"):
        fsutil.write_atomic(dest, b"x" * 74_000)
    after = os.lstat(dest)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )
    assert (tmp_path / "target").read_bytes() == b"target"
    assert not [p for p in tmp_path.iterdir() if fsutil.is_leftover(p)]


def test_an_output_file_needs_its_folder_and_no_special_file(tmp_path):
    assert fsutil.output_file(tmp_path / "x.json", "--output") == tmp_path / "x.json"
    missing = tmp_path / "no" / "such" / "x.json"
    with pytest.raises(AirgapError, match=rf"^--output {missing}: {missing.parent} does not exist"):
        fsutil.output_file(missing, "--output")
    assert not (tmp_path / "no").exists()
    with pytest.raises(AirgapError, match="is a folder"):
        fsutil.output_file(tmp_path, "--output")
    with pytest.raises(AirgapError, match="is a FIFO, not a regular file"):
        fsutil.output_file(special_files(tmp_path)["fifo"], "--output")


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


def test_pinned_file_notices_a_change_but_not_a_replacement(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"checked")
    with fsutil.PinnedFile(path) as f:
        os.replace(tmp_path / "a.bin", tmp_path / "gone.bin")
        path.write_bytes(b"another file under the name")
        f.check_unchanged()  # this descriptor still reads the file that was opened
        assert f.read() == b"checked"
    with fsutil.PinnedFile(path) as f:
        with open(path, "ab") as g:
            g.write(b"!")
        with pytest.raises(AirgapError, match="changed while it was being read"):
            f.check_unchanged()
    with pytest.raises(AirgapError, match="not a regular file"):
        fsutil.PinnedFile(Path("/dev/null"))


def test_free_space_and_sizes_read_like_a_person_says_them(tmp_path):
    assert fsutil.human_size(512) == "512 bytes"
    assert fsutil.human_size(3_400_000) == "3.4 MB"
    assert fsutil.human_size(1_260_000_000) == "1.3 GB"
    fsutil.check_free_space(tmp_path / "not" / "yet", 1, "a small file")
    with pytest.raises(AirgapError, match="needs .* in .* but only .* is free there"):
        fsutil.check_free_space(tmp_path, 10**18, "an exabyte")


def test_only_unlocked_leftovers_of_ours_are_removed(tmp_path, capsys):
    ours = fsutil.temp_path(tmp_path / "x.zip")
    ours.write_bytes(b"half")
    fresh = fsutil.temp_path(tmp_path / "y.zip")
    fresh.write_bytes(b"just made")
    old = time.time() - 60
    os.utime(ours, (old, old))
    (tmp_path / "x.zip.part").write_bytes(b"not ours")
    assert fsutil.remove_leftovers(tmp_path) == [ours]
    assert fresh.exists() and (tmp_path / "x.zip.part").exists()
    assert "removed 1 leftover file(s)" in capsys.readouterr().err
    with fsutil.AtomicFile(tmp_path / "z.bin") as out:  # a writer holds its lock
        os.utime(out.tmp, (old, old))
        assert fsutil.remove_leftovers(tmp_path) == [] and out.tmp.exists()
        out.file.write(b"z")
    assert (tmp_path / "z.bin").read_bytes() == b"z"
