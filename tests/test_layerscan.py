"""The layer scanner on real ``docker save`` tars made here, both layouts (classic ``layer.tar`` and
OCI ``blobs/``), with whiteouts, real keys from ``cryptography``, and a stream too big to hold."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
import tracemalloc
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from gate_support import private_key_pem

from airgapkit.engine import identity
from airgapkit.errors import AirgapError
from airgapkit.gate import layerscan
from airgapkit.gate.layerscan import SecretFinding, holds_private_key, scan_layers

MIB = 1 << 20


def layer(*entries: tuple[str, bytes | None], compress: bool = False) -> bytes:
    """A layer tar; an entry with None for data is a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


def saved(*layers: bytes, oci: bool = False, manifest: str = "last") -> bytes:
    """A ``docker save`` tar of these layers, bottom first: classic or OCI layout.

    ``manifest`` is "first", "last" or "none" (the engine writes it last; the order is no promise).
    """
    names = [
        f"blobs/sha256/{hashlib.sha256(data).hexdigest()}"
        if oci
        else f"{hashlib.sha256(data).hexdigest()}/layer.tar"
        for data in layers
    ]
    config = json.dumps({"rootfs": {"type": "layers"}}).encode()
    config_name = f"blobs/sha256/{hashlib.sha256(config).hexdigest()}" if oci else "cfg.json"
    members = sorted(
        zip(names, layers, strict=True)
    )  # blobs come in digest order, not bottom first
    members.append((config_name, config))
    doc = json.dumps([{"Config": config_name, "RepoTags": ["x:1"], "Layers": names}]).encode()
    if manifest == "first":
        members.insert(0, ("manifest.json", doc))
    elif manifest == "last":
        members.append(("manifest.json", doc))
    return layer(*members)


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def scan(data: bytes, size: int = 64 * 1024) -> list[SecretFinding]:
    return scan_layers(chunks(data, size))


def pem(key, fmt=s.PrivateFormat.PKCS8, encryption=None) -> bytes:
    return key.private_bytes(s.Encoding.PEM, fmt, encryption or s.NoEncryption())


# --- what is found, and where --------------------------------------------------------------------


def test_an_env_file_deleted_later_is_found_with_its_place():
    image = saved(
        layer(("bin/", None), ("bin/sh", b"#!")),
        layer(("app/", None), ("app/.env", b"DB_PASSWORD=hunter2\n")),
        layer(("app/.wh..env", b"")),
    )
    (found,) = scan(image)
    assert (found.path, found.what, found.index, found.of) == ("/app/.env", ".env file", 2, 3)
    assert found.deleted_later
    assert found.describe() == (
        "/app/.env (.env file) in layer 2 of 3, deleted in a later layer but still in the image"
    )


def test_an_opaque_directory_deletes_what_the_lower_layers_had_in_it():
    image = saved(
        layer(("app/conf/.env.prod", b"K=v\n"), ("app/config2/.env", b"K=v\n")),
        layer(("app/conf/.wh..wh..opq", b""), ("app/conf/readme", b"empty now")),
    )
    by_path = {f.path: f for f in scan(image)}
    assert by_path["/app/conf/.env.prod"].deleted_later
    assert not by_path["/app/config2/.env"].deleted_later  # a sibling is not under the directory


def test_files_at_the_root_and_dot_slash_names_are_found():
    image = saved(
        layer((".env", b"K=v\n"), ("./.env.prod", b"K=v\n"), ("./root/.ssh/id_rsa", b"x")),
        layer(("./.wh..env", b"")),
    )
    by_path = {f.path: f for f in scan(image)}
    assert set(by_path) == {"/.env", "/.env.prod", "/root/.ssh/id_rsa"}
    assert by_path["/.env"].deleted_later and not by_path["/.env.prod"].deleted_later


def test_a_deletion_below_the_file_does_not_count():
    image = saved(layer(("app/.wh..env", b"")), layer(("app/.env", b"K=v\n")))
    (found,) = scan(image)
    assert found.index == 2 and not found.deleted_later


def test_templates_and_lookalikes_are_not_secrets():
    image = saved(
        layer(
            ("app/.env.example", b"DB_PASSWORD=\n"),
            ("app/.env.sample", b"DB_PASSWORD=\n"),
            ("app/src/env.js", b"module.exports = process.env"),
            ("app/src/dotenv.js", b""),
            (
                "app/README.md",
                b"key: -----BEGIN PRIVATE KEY-----\\nXXXX\\n-----END PRIVATE KEY-----",
            ),
            ("app/.env", None),  # a directory named .env holds no settings itself
        )
    )
    assert scan(image) == []


def test_keys_by_name_and_by_armour_and_not_public_ones():
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
    image = saved(
        layer(
            ("root/.ssh/id_ed25519", b"any content"), ("root/.ssh/id_ed25519.pub", b"ssh-ed25519")
        ),
        layer(
            ("app/config/server.key", private_key_pem().encode()), ("app/config/server.pub", public)
        ),
        layer(("app/config/bundle.conf", b"# settings\nkey = " + pem(key) + b"\nport = 1\n")),
    )
    assert [(f.path, f.what, f.index) for f in scan(image)] == [
        ("/root/.ssh/id_ed25519", "SSH private key", 1),
        ("/app/config/server.key", "PEM private key", 2),
        ("/app/config/bundle.conf", "PEM private key", 3),
    ]


# --- the layouts of docker save ------------------------------------------------------------------


def test_oci_layout_with_compressed_layers_is_placed_by_its_manifest():
    image = saved(
        layer(("bin/sh", b"#!"), compress=True),
        layer(("etc/hosts", b"127.0.0.1 localhost\n"), compress=True),
        layer(("app/.env.prod", b"K=v\n"), compress=True),
        oci=True,
    )
    (found,) = scan(image)
    assert found.path == "/app/.env.prod" and (found.index, found.of) == (3, 3)
    assert found.layer.startswith("blobs/sha256/")


@pytest.mark.parametrize("where", ["first", "last"])
def test_the_manifest_may_come_before_or_after_the_layers(where):
    image = saved(layer(("a", b"")), layer(("app/.env", b"K=v\n")), manifest=where)
    assert [(f.index, f.of) for f in scan(image)] == [(2, 2)]


def test_without_a_manifest_layers_are_numbered_as_met():
    image = saved(layer(("app/.env", b"K=v\n")), manifest="none")
    (found,) = scan(image)
    assert (found.index, found.of) == (1, 1)


@pytest.mark.parametrize("size", [1, 7, 512, 10**9])
def test_the_chunk_sizes_of_the_stream_do_not_matter(size):
    image = saved(layer(("a/id_rsa", b"x")), layer(("a/.wh.id_rsa", b"")))
    (found,) = scan(image, size)
    assert found.path == "/a/id_rsa" and found.deleted_later


def test_an_empty_image_has_no_findings():
    assert scan(saved()) == []


# --- memory --------------------------------------------------------------------------------------


def big_saved_image(file_size: int) -> Iterator[bytes]:
    """A ``docker save`` stream with one layer holding a file of ``file_size`` zeros, made as it is
    read: the test never holds it, so the scanner's own memory is what is measured."""
    inner = tarfile.TarInfo("app/data.bin")
    inner.size = file_size
    inner_header = inner.tobuf(format=tarfile.GNU_FORMAT)
    inner_size = len(inner_header) + file_size + 1024  # header, data (whole blocks), end marker
    outer = tarfile.TarInfo("abc/layer.tar")
    outer.size = inner_size
    zeros = bytes(MIB)
    yield outer.tobuf(format=tarfile.GNU_FORMAT)
    yield inner_header
    for _ in range(file_size // MIB):
        yield zeros
    yield bytes(1024)  # the layer's end-of-archive marker
    yield bytes(1024)  # the outer tar's end-of-archive marker


def test_memory_stays_flat_whatever_the_layer_size():
    file_size = 256 * MIB
    tracemalloc.start()
    try:
        assert scan_layers(big_saved_image(file_size)) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a few 1 MiB buffers (the stream's, tar's own at each level), whatever the layer's size
    assert peak < 16 * MIB, (
        f"peak {peak / MIB:.1f} MiB while scanning a {file_size // MIB} MiB layer"
    )


class Zeros(io.RawIOBase):
    """``size`` zero bytes, made as they are read."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_gzip_layer_of_zeros_is_inflated_a_chunk_at_a_time():
    """The containerd store keeps the layers it built gzip-compressed: 256 MiB of zeros weigh
    250 KB so, and inflating what one read brings in at once would hold the whole file."""
    zeros = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=zeros, mode="wb", compresslevel=1) as gz,
        tarfile.open(fileobj=gz, mode="w|") as tar,
    ):
        for name, size in (("app/.env", 14), ("app/data.bin", 256 * MIB)):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"DB_PASSWORD=x\n") if size == 14 else Zeros(size))
    compressed = zeros.getvalue()
    assert len(compressed) < 2 * MIB
    tracemalloc.start()
    try:
        found = scan(saved(compressed, oci=True), size=MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [f.path for f in found] == ["/app/.env"]
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB inflating a 256 MiB layer of zeros"


def test_a_zstd_layer_is_read_not_passed_over():
    """The containerd store keeps zstd layers as they came (a registry-direct export carries them):
    tarfile cannot open one, and a layer the scan cannot open must not count as clean."""
    import zstandard

    plain = layer(("app/.env", b"DB_PASSWORD=x\n"), ("app/app.js", b"ok"))
    compressed = zstandard.ZstdCompressor().compress(plain)
    assert [f.path for f in scan(saved(compressed, oci=True))] == ["/app/.env"]


def test_without_the_zstd_extra_a_zstd_layer_stops_the_scan(monkeypatch):
    import zstandard

    compressed = zstandard.ZstdCompressor().compress(layer(("app/app.js", b"ok")))
    monkeypatch.setitem(sys.modules, "zstandard", None)  # what an install without the extra has
    with pytest.raises(AirgapError, match=r"zstd-compressed.*airgapkit\[zstd\].*release again"):
        scan(saved(compressed, oci=True))


# --- the size learnt on the way (engine.identity.size's measure) ---------------------------------


@pytest.mark.parametrize("oci", [False, True])
@pytest.mark.parametrize("size", [1, 4096, 10**9])
def test_the_layers_tar_lengths_are_summed_as_they_pass(oci, size):
    plain = layer(("bin/sh", b"#!" * 3000))
    packed = [
        layer(("app/.env", b"K=v\n"), compress=oci),
        layer(("a/b", bytes(70_000)), compress=oci),
    ]
    image = saved(plain, *packed, oci=oci)
    scanned = layerscan.scan_and_measure(chunks(image, size))
    tar_lengths = len(plain) + sum(len(gzip.decompress(d) if oci else d) for d in packed)
    assert scanned.size == tar_lengths
    assert [f.path for f in scanned.findings] == ["/app/.env"]


def test_a_blobs_tar_length_is_its_gzip_trailer_lifted_past_4_gib_or_its_own_length():
    isize = (10).to_bytes(4, "little")
    assert identity.tar_length(b"\x1f\x8b\x08\x00", isize, 100) == 10
    assert identity.tar_length(b"\x1f\x8b\x08\x00", isize, 5 * 2**30) == 2 * 2**32 + 10
    assert identity.tar_length(b"app/", isize, 1536) == 1536  # a plain tar
    assert identity.tar_length(identity.ZSTD_MAGIC, isize, 1536) is None


def test_a_zstd_layer_leaves_the_size_untold_and_is_still_scanned():
    import zstandard

    compressed = zstandard.ZstdCompressor().compress(layer(("app/.env", b"K=v\n")))
    scanned = layerscan.scan_and_measure(chunks(saved(layer(("a", b"")), compressed, oci=True)))
    assert scanned.size is None and [f.path for f in scanned.findings] == ["/app/.env"]


# --- PEM armour ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["pkcs8", "openssl-rsa", "openssh", "encrypted-rsa"])
def test_pem_private_keys_in_their_usual_forms_are_recognised(form):
    key = (
        ed25519.Ed25519PrivateKey.generate()
        if form in ("pkcs8", "openssh")
        else rsa.generate_private_key(65537, 2048)
    )
    fmt = {"pkcs8": s.PrivateFormat.PKCS8, "openssh": s.PrivateFormat.OpenSSH}.get(
        form, s.PrivateFormat.TraditionalOpenSSL
    )
    enc = s.BestAvailableEncryption(b"pw") if form == "encrypted-rsa" else s.NoEncryption()
    assert holds_private_key(key.private_bytes(s.Encoding.PEM, fmt, enc))


def test_a_placeholder_key_in_documentation_is_not_a_key():
    doc = b'key="-----BEGIN PRIVATE KEY-----\\nXXXX\\nXXXX\\n-----END PRIVATE KEY-----"\n'
    assert not holds_private_key(doc)
