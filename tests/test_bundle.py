"""bundle: create streams images and files into one archive with its manifest; open_verified checks
the hash before decrypting and refuses the wrong kind; load_images streams into a real engine."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from archives import PW, flip_byte, write_archive
from invoking import wait_until

from airgapkit.crossing import bundle, digest, sumsfile
from airgapkit.crossing.archive import ArchiveWriter
from airgapkit.crossing.manifest import MANIFEST, Manifest
from airgapkit.delta import apply
from airgapkit.engine import identity, images
from airgapkit.engine.source import saved
from airgapkit.errors import AirgapError, IntegrityError
from airgapkit.oci.reference import tar_name
from conftest import UNDER_CI

APP = {"name": "demo", "version": "1", "image_name": "demo"}


def made(tmp_path: Path, kind: str = "base", files: dict[str, bytes] | None = None) -> Path:
    """A bundle of files only (no image), its hash delivered beside the archive as <name>.sha256."""
    files = {"app/app.tgz": os.urandom(50_000)} if files is None else files
    for arcname, data in files.items():
        (tmp_path / Path(arcname).name).write_bytes(data)
    dest = tmp_path / "media" / bundle.archive_name(APP, kind)
    sha = bundle.create(  # the writer: its hash was taken as it wrote
        dest,
        Manifest(kind=kind, app=dict(APP)),
        images=[],
        files=[(tmp_path / Path(a).name, a) for a in files],
        password=PW,
        level=6,
    ).sha256
    bundle.deliver(dest, sha, dest.parent)
    return dest


def test_bundle_create_returns_the_hash_written(tmp_path, monkeypatch):
    (tmp_path / "app.tgz").write_bytes(os.urandom(50_000))
    monkeypatch.setattr(digest, "sha256_file", lambda *_a, **_k: pytest.fail("second read"))
    manifest = Manifest(kind="base", app={"image_name": "demo", "version": "1"})
    dest = tmp_path / "media" / "demo-1-base.zip"
    sha = bundle.create(  # the writer: its hash was taken as it wrote
        dest,
        manifest,
        images=[],
        files=[(tmp_path / "app.tgz", "app/app.tgz")],
        password=PW,
        level=6,
    ).sha256
    assert sha == hashlib.sha256(dest.read_bytes()).hexdigest()


def test_deliver_writes_a_hash_file_sha256sum_accepts(tmp_path):
    archive = made(tmp_path)
    check = subprocess.run(
        ["sha256sum", "-c", f"{archive.name}.sha256"],
        cwd=archive.parent,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and f"{archive.name}: OK" in check.stdout


def test_open_verified_reads_the_manifest_and_checks_each_member(tmp_path):
    payload = os.urandom(70_000)
    archive = made(tmp_path, files={"app/app.tgz": payload, "reports/scan.json": b"{}"})
    with bundle.open_verified(archive, None, PW, kind="base") as opened:
        assert opened.manifest.kind == "base" and opened.manifest.app == APP
        assert [m["path"] for m in opened.manifest.files] == ["app/app.tgz", "reports/scan.json"]
        assert opened.manifest.member("app/app.tgz") == {
            "path": "app/app.tgz",
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        with opened.open_member("app/app.tgz") as stream:
            assert stream.read() == payload
        out = opened.extract("reports/scan.json", tmp_path / "work")
    assert out == tmp_path / "work" / "reports" / "scan.json" and out.read_bytes() == b"{}"


def test_a_member_that_differs_from_its_manifest_entry_is_refused(tmp_path):
    """The manifest's SHA-256 is checked when a member is read to its end."""
    dest = tmp_path / "media" / "demo-1-base.zip"
    manifest = Manifest(kind="base", app=dict(APP))
    manifest.files.append({"path": "app/app.tgz", "size": 4, "sha256": "0" * 64})
    with ArchiveWriter(dest, PW, progress=False) as w:
        w.add_bytes("app/app.tgz", b"real")
        w.add_bytes(MANIFEST, manifest.to_json())
    bundle.deliver(dest, w.sha256, dest.parent)
    with bundle.open_verified(dest, None, PW, kind="base") as opened:
        with pytest.raises(IntegrityError, match="0{64} is listed"):
            opened.open_member("app/app.tgz").read()
        with pytest.raises(IntegrityError, match="0{64} is listed"):
            opened.extract("app/app.tgz", tmp_path / "work")
    assert not (tmp_path / "work" / "app" / "app.tgz").exists()


def test_the_hash_is_checked_before_anything_is_decrypted(tmp_path):
    archive = made(tmp_path)
    flip_byte(archive, -1)
    with pytest.raises(IntegrityError, match="differs"):  # not a password error: nothing decrypted
        bundle.open_verified(archive, None, "Not-The-Password-42!", kind="base")


def test_the_wrong_kind_is_refused_naming_the_task_that_takes_it(tmp_path):
    archive = made(tmp_path, kind="base")
    with pytest.raises(AirgapError) as exc:
        bundle.open_verified(archive, None, PW, kind="release")
    assert str(exc.value).endswith(
        "is a base bundle, but this step needs a release bundle (inv deploy takes the one inv "
        "release made)"
    )


def test_missing_sums_bundle_or_manifest_is_said_so(tmp_path):
    archive = made(tmp_path)
    (archive.parent / f"{archive.name}.sha256").unlink()
    with pytest.raises(IntegrityError, match="no hash file for .*--sums"):
        bundle.open_verified(archive, None, PW, kind="base")
    with pytest.raises(AirgapError, match="does not exist"):
        bundle.open_verified(tmp_path / "absent.zip", None, PW, kind="base")
    plain = write_archive(tmp_path / "other" / "plain.zip", {"a.txt": b"a"})
    sums = tmp_path / "plain.zip.sha256"
    bundle.deliver(plain, digest.sha256_file(plain), tmp_path)
    with pytest.raises(AirgapError, match="no manifest.json inside"):
        bundle.open_verified(plain, sums, PW, kind="base")


@pytest.mark.docker
def test_an_image_goes_in_by_save_and_comes_out_by_load(
    docker_client, unique_name, cleanup_images, tmp_path
):
    """A small image of its own: saved into the bundle, removed, loaded back from the bundle."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "marker").write_text(unique_name)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\n")
    ref = f"{unique_name}:1"
    image_id = images.build(docker_client, context, ref, offline=True)
    cleanup_images.append(ref)
    built = identity.of_ref(docker_client, ref)
    dest = tmp_path / "media" / "demo-1-release.zip"
    sha = bundle.create(  # the writer: its hash was taken as it wrote
        dest,
        Manifest(kind="release", app=dict(APP)),
        images=saved(docker_client, [ref]),
        files=[],
        password=PW,
        level=6,
    ).sha256
    sums = bundle.deliver(dest, sha, tmp_path / "hashes")
    docker_client.images.remove(ref, force=True)
    with bundle.open_verified(dest, sums, PW, kind="release") as opened:
        (record,) = opened.manifest.images
        assert record["ref"] == ref and record["repo_tags"] == [ref]
        assert record["member"] == f"images/{tar_name(ref)}"
        assert apply.load_images(docker_client, opened) == [ref]
    loaded = docker_client.images.get(ref)
    assert identity.of(docker_client, loaded) == record["id"] == built  # the config digest
    assert image_id in (loaded.id, loaded.id.split(":", 1)[-1])  # the engine's own ID, as built


@pytest.mark.docker
def test_a_split_bundle_is_read_from_its_volumes_into_the_engine(
    docker_client, unique_name, cleanup_images, tmp_path
):
    """write(): volumes, hash file and password made final together; the far side gives the
    first volume and the image is loaded from the volumes in order, with no joined copy."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "blob").write_bytes(os.urandom(400_000))
    (context / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n")
    ref = f"{unique_name}:1"
    images.build(docker_client, context, ref, offline=True)
    cleanup_images.append(ref)
    media = tmp_path / "media"
    delivery = bundle.write(
        media / "demo-1-release.zip",
        Manifest(kind="release", app=dict(APP)),
        images=saved(docker_client, [ref]),
        files=[],
        password=PW,
        level=0,
        hashes_dir=tmp_path / "hashes",
        password_file=tmp_path / "secret" / "demo-1-release.zip.password",
        split=150_000,
    )
    assert sorted(p.name for p in media.iterdir()) == [
        f"demo-1-release.zip.{n:03d}" for n in range(1, len(list(media.iterdir())) + 1)
    ]
    assert len(list(media.iterdir())) >= 3
    listed = sumsfile.read_sums(delivery.sums)
    assert set(listed) == {"demo-1-release.zip"} | {p.name for p in media.iterdir()}
    assert delivery.password.read_text().strip() == PW
    docker_client.images.remove(ref, force=True)
    with bundle.open_verified(
        media / "demo-1-release.zip.001", delivery.sums, PW, kind="release"
    ) as opened:
        assert apply.load_images(docker_client, opened) == [ref]
    docker_client.images.get(ref)


def test_a_bundle_written_again_with_fewer_volumes_lists_only_its_own(tmp_path):
    """The same bundle written again into the same folders, split larger: its hash file lists the
    new volumes only, and the far side opens it."""
    (tmp_path / "image.tar").write_bytes(os.urandom(300_000))
    media, hashes = tmp_path / "media", tmp_path / "hashes"
    for split in (64_000, 128_000):
        delivery = bundle.write(
            media / "demo-1-base.zip",
            Manifest(kind="base", app=dict(APP)),
            images=[],
            files=[(tmp_path / "image.tar", "app/image.tar")],
            password=PW,
            level=0,
            hashes_dir=hashes,
            password_file=tmp_path / "secret" / "demo-1-base.zip.password",
            split=split,
            force=True,
        )
    volumes = sorted(p.name for p in media.iterdir())
    assert len(volumes) == 3
    assert set(sumsfile.read_sums(delivery.sums)) == {"demo-1-base.zip", *volumes}
    with bundle.open_verified(media / volumes[0], delivery.sums, PW, kind="base") as opened:
        assert opened.manifest.member("app/image.tar")["size"] == 300_000


# A kill in the window between the hash file's rename and the archive's: strace holds the writer
# there (an injected delay after the hash folder's sync, the step right after the hash file gets
# its name), and the test kills it by PID. The kill is real; only its moment is arranged.
KILLED_WRITE = """
import sys
from pathlib import Path
from airgapkit.crossing import bundle
from airgapkit.crossing.manifest import Manifest
root = Path(sys.argv[1])
bundle.write(
    root / "media" / "demo-1-base.zip", Manifest(kind="base", app={APP!r}),
    images=[], files=[(root / "image.tar", "app/image.tar")], password=sys.argv[2], level=0,
    hashes_dir=root / "hashes", password_file=root / "secret" / "demo-1-base.zip.password",
    split=int(sys.argv[3]), force=True,
)
"""


def write_bundle(root: Path, split: int, password: str, **options) -> bundle.Delivery:
    return bundle.write(
        root / "media" / "demo-1-base.zip",
        Manifest(kind="base", app=dict(APP)),
        images=[],
        files=[(root / "image.tar", "app/image.tar")],
        password=password,
        level=0,
        hashes_dir=root / "hashes",
        password_file=root / "secret" / "demo-1-base.zip.password",
        split=split,
        **options,
    )


def opens_with_what_lies_beside_it(root: Path) -> bool:
    """Whether the archive under its final name (if any) is the one its hash file lists and its
    password file opens: never a mix of two deliveries."""
    volumes = sorted((root / "media").glob("demo-1-base.zip*"))
    if not volumes:
        return True  # nothing to open, nothing to mistake
    password = (root / "secret" / "demo-1-base.zip.password").read_text().strip()
    sums = root / "hashes" / "demo-1-base.zip.sha256"
    with bundle.open_verified(volumes[0], sums, password, kind="base") as opened:
        return opened.manifest.member("app/image.tar")["size"] == 300_000


def test_an_earlier_delivery_is_replaced_only_with_force(tmp_path):
    (tmp_path / "image.tar").write_bytes(os.urandom(300_000))
    first = write_bundle(tmp_path, 64_000, PW)
    volumes = sorted((tmp_path / "media").iterdir())
    for left in (volumes, [first.sums], [first.password]):  # any of the three is refused
        with pytest.raises(AirgapError, match="earlier delivery of demo-1-base.zip.*--force"):
            write_bundle(tmp_path, 128_000, PW + "x")
        for path in left:
            path.unlink()
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())
    write_bundle(tmp_path, 128_000, PW + "x")
    write_bundle(tmp_path, 64_000, PW + "y", force=True)
    assert len(list((tmp_path / "media").iterdir())) == 5
    assert opens_with_what_lies_beside_it(tmp_path)


@pytest.fixture
def strace() -> str:
    """strace, which holds a process at a chosen system call (CI installs it: see .ci/run)."""
    found = shutil.which("strace")
    if not found:
        missing = "strace is not installed (apt-get install strace)"
        if UNDER_CI:
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    return found


def test_a_kill_between_the_final_renames_leaves_no_mixed_delivery(tmp_path, strace):
    (tmp_path / "image.tar").write_bytes(os.urandom(300_000))
    write_bundle(tmp_path, 64_000, PW)
    earlier = (tmp_path / "hashes" / "demo-1-base.zip.sha256").read_bytes()
    hold = 20_000_000  # microseconds after each open of the hash folder
    writer = subprocess.Popen(
        [strace, "-f", "-qq", "-o", "/dev/null", "-P", str(tmp_path / "hashes"),
         "-e", "trace=openat", "-e", f"inject=openat:delay_exit={hold}",
         sys.executable, "-c", KILLED_WRITE.format(APP=APP), str(tmp_path), PW + "-new", "128000"],
    )  # fmt: skip
    try:
        assert wait_until(
            lambda: (tmp_path / "hashes" / "demo-1-base.zip.sha256").read_bytes() != earlier, 60
        )
        child = int(Path(f"/proc/{writer.pid}/task/{writer.pid}/children").read_text().split()[0])
        os.kill(child, signal.SIGKILL)  # the python the test started under strace
    finally:
        writer.wait(30)
    assert opens_with_what_lies_beside_it(tmp_path)
    again = write_bundle(tmp_path, 128_000, PW + "-again", force=True)  # the next run completes it
    assert len(list((tmp_path / "media").iterdir())) == 3 and again.password.is_file()
    assert opens_with_what_lies_beside_it(tmp_path)


def test_a_watched_image_is_read_once_and_a_refusal_leaves_no_archive(
    docker_client, unique_name, cleanup_images, tmp_path, monkeypatch
):
    """The release's single read: the secrets scan reads the stream that goes into the archive,
    and the hook that judges it runs while the archive is still a temporary file."""
    from airgapkit.errors import PolicyViolation
    from airgapkit.gate import layerscan

    context = tmp_path / "context"
    context.mkdir()
    (context / ".env").write_text("DB_PASSWORD=not-for-images\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY .env /srv/.env\n")
    (context / ".dockerignore").write_text("Dockerfile\n")
    ref = f"{unique_name}:1"
    images.build(docker_client, context, ref, offline=True)
    cleanup_images.append(ref)
    saves = []
    real_save = images.save_stream

    def counting(client, refs):  # a spy on the real save: it still streams from the engine
        saves.append(refs)
        return real_save(client, refs)

    monkeypatch.setattr(images, "save_stream", counting)
    seen = {}

    def refuse(manifest, findings):
        seen.update(findings)
        raise PolicyViolation("an env file in the image")

    dest = tmp_path / "media" / "demo-1-release.zip"
    with pytest.raises(PolicyViolation):
        bundle.create(
            dest,
            Manifest(kind="release", app=dict(APP)),
            images=saved(docker_client, [ref]),
            files=[],
            password=PW,
            level=5,
            watch=layerscan.scan_layers,
            before_manifest=refuse,
        )
    assert saves == [[ref]], "the image was saved more than once"
    assert [f.path for f in seen[ref]] == ["/srv/.env"]
    assert not dest.parent.exists() or os.listdir(dest.parent) == []

    def accept(manifest, findings):
        found = ", ".join(f.path for f in findings[ref])
        rule = {"rule": "secrets", "passed": False, "measured": found, "limit": "none", "why": ""}
        manifest.gate = {
            "image": ref,
            "kind": "app",
            "passed": False,
            "failures": ["secrets"],
            "accepted_risk": "a test",
            "rules": [rule],
        }

    sha = bundle.create(
        dest,
        Manifest(kind="release", app=dict(APP)),
        images=saved(docker_client, [ref]),
        files=[],
        password=PW,
        level=5,
        watch=layerscan.scan_layers,
        before_manifest=accept,
    ).sha256
    sums = bundle.deliver(dest, sha, tmp_path / "hashes")
    with bundle.open_verified(dest, sums, PW, kind="release") as opened:
        assert opened.manifest.gate["rules"][0]["measured"] == "/srv/.env"
