"""Tar archives as streams of chunks: members read one at a time and written out again, the same."""

from __future__ import annotations

import io
import tarfile

import pytest
from saved_images import chunks, contents, tar

from airgapkit import tarstream
from airgapkit.errors import AirgapError


def rewritten(archive: bytes, size: int = 7) -> bytes:
    out = [
        c
        for info, data in tarstream.members(chunks(archive, size))
        for c in tarstream.member(info, data)
    ]
    return b"".join([*out, tarstream.end()])


def test_members_written_out_again_make_the_same_archive():
    long_name = "blobs/sha256/" + "a" * 90 + "/layer.tar"  # past the 100 bytes of a plain header
    archive = tar(
        ("dir/", None),
        ("dir/file", b"x" * 1000),
        ("dir/empty", b""),
        ("dir/link", "file"),
        (long_name, b"layer"),
    )
    assert contents(rewritten(archive)) == contents(archive)


def test_a_member_made_here():
    archive = b"".join([*tarstream.file_member("manifest.json", b"[]"), tarstream.end()])
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        (info,) = t.getmembers()
        assert (info.name, info.size, t.extractfile(info).read()) == ("manifest.json", 2, b"[]")


def test_a_member_cut_short_is_refused():
    info = tarfile.TarInfo("layer.tar")
    info.size = 10
    with pytest.raises(AirgapError, match="ended after 4 of 10 bytes"):
        b"".join(tarstream.member(info, io.BytesIO(b"1234")))


@pytest.mark.parametrize("size", [1, 3, 4096])
def test_the_reader_gives_the_bytes_whatever_the_chunks(size):
    data = bytes(range(256)) * 40
    assert tarstream.reader(chunks(data, size)).read() == data
