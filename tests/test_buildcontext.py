"""app/buildcontext.py: the build context made from the packed .tgz alone, without an engine.

The images built from these contexts are tested in test_dockerfiles.py.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from tgz import craft_tgz

from airgapkit import fsutil
from airgapkit.app import buildcontext
from airgapkit.errors import AirgapError, UnsafeArchive
from airgapkit.settings import config_ports

DOCKERFILES = Path(__file__).resolve().parent.parent / "dockerfiles"
PACKAGE = {
    "package/package.json": b'{"name": "x", "version": "1.0.0", "main": "index.js"}',
    "package/index.js": b"",
    "package/.env.prod": b"SECRET=1",
}


# --- safe extraction of a .tgz --------------------------------------------------------------------


def test_extract_refuses_escapes(tmp_path):
    base = {"package/package.json": b'{"name": "x", "version": "1.0.0"}'}
    for bad in ("package/../../evil.js", "/etc/evil", "other/file.js"):
        tgz = craft_tgz(tmp_path / "bad.tgz", {**base, bad: b"x"})
        with pytest.raises(UnsafeArchive):
            buildcontext.extract_package(tgz, tmp_path / "dest")
    tgz = tmp_path / "link.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        data = base["package/package.json"]
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("package/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tar.addfile(link)
    with pytest.raises(UnsafeArchive, match="points outside the package"):
        buildcontext.extract_package(tgz, tmp_path / "dest2")
    assert not (tmp_path / "evil.js").exists()


def test_extract_drops_env_files(tmp_path):
    tgz = craft_tgz(
        tmp_path / "x-1.0.0.tgz",
        {
            "package/package.json": b'{"name": "x", "version": "1.0.0"}',
            "package/.env": b"SECRET=1",
            "package/config/.env.prod": b"SECRET=1",
            "package/prod.env": b"SECRET=1",
            "package/.npmrc": b"//registry/:_authToken=secret",
            "package/index.js": b"",
        },
    )
    package, dropped = buildcontext.extract_package(tgz, tmp_path / "dest")
    assert sorted(dropped) == [".env", ".npmrc", "config/.env.prod", "prod.env"]
    assert sorted(p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()) == [
        "index.js",
        "package.json",
    ]


# --- the context ----------------------------------------------------------------------------------


def test_stage_refuses_unknown_variant_and_missing_tgz(tmp_path):
    with pytest.raises(AirgapError, match="unknown build variant"):
        buildcontext.stage(tmp_path / "x.tgz", DOCKERFILES / "Dockerfile", tmp_path, variant="both")
    with pytest.raises(AirgapError, match="x.tgz not found"):
        buildcontext.stage(tmp_path / "x.tgz", DOCKERFILES / "Dockerfile", tmp_path, variant="host")


@pytest.mark.parametrize("variant", buildcontext.VARIANTS)
def test_stage_makes_a_context_without_env_files(tmp_path, variant, capsys):
    tgz = craft_tgz(tmp_path / "x-1.0.0.tgz", PACKAGE)
    dockerfile = buildcontext.dockerfile_for(variant, DOCKERFILES / "Dockerfile")
    context, name, args = buildcontext.stage(tgz, dockerfile, tmp_path / "ctx", variant=variant)
    assert context == tmp_path / "ctx" / f"x-1.0.0-{variant}" and name == dockerfile.name
    files = sorted(p.name for p in context.iterdir())
    expected = [".dockerignore", name, "index.js", "package.json"]
    assert files == sorted([*expected, "x-1.0.0.tgz"] if variant == "inside" else expected)
    assert "dropped env file .env.prod from x-1.0.0.tgz" in capsys.readouterr().out


def test_stage_replaces_an_older_context_and_leaves_no_temporary(tmp_path):
    tgz = craft_tgz(tmp_path / "x-1.0.0.tgz", PACKAGE)
    first, _, _ = buildcontext.stage(tgz, DOCKERFILES / "Dockerfile", tmp_path / "ctx")
    (first / "left-by-hand").write_text("old")
    again, _, _ = buildcontext.stage(tgz, DOCKERFILES / "Dockerfile", tmp_path / "ctx")
    assert again == first and not (again / "left-by-hand").exists()
    assert [p.name for p in (tmp_path / "ctx").iterdir()] == [again.name]
    assert not any(fsutil.is_leftover(p) for p in (tmp_path / "ctx").iterdir())


def test_a_failed_stage_leaves_no_temporary(tmp_path):
    bad = craft_tgz(tmp_path / "x-1.0.0.tgz", {**PACKAGE, "package/../evil.js": b"x"})
    with pytest.raises(UnsafeArchive):
        buildcontext.stage(bad, DOCKERFILES / "Dockerfile", tmp_path / "ctx")
    assert list((tmp_path / "ctx").iterdir()) == []


def test_a_context_folder_it_cannot_write_in_is_one_line(tmp_path, immutable):
    tgz = craft_tgz(tmp_path / "x-1.0.0.tgz", PACKAGE)
    with pytest.raises(AirgapError, match=rf"^cannot write x-1.0.0-inside in {immutable} \("):
        buildcontext.stage(tgz, DOCKERFILES / "Dockerfile", immutable)


def test_build_args_take_the_container_port_of_the_configured_mappings(tmp_path):
    tgz = craft_tgz(tmp_path / "x-1.0.0.tgz", PACKAGE)
    port = config_ports({"ports": "8080:8080/tcp,9090:9090"}).container_port
    _, _, args = buildcontext.stage(
        tgz, DOCKERFILES / "Dockerfile", tmp_path / "ctx", base_image="node:22-alpine", port=port
    )
    assert args == {
        "APP_MAIN": "index.js",
        "MODULE_TGZ": "x-1.0.0.tgz",
        "MODULE_NAME": "x",
        "BASE_IMAGE": "node:22-alpine",
        "APP_PORT": "8080",
    }


def test_a_killed_stagings_folder_is_removed_by_the_next_stage(tmp_path, capsys):
    tgz = craft_tgz(tmp_path / "x-1.0.0.tgz", PACKAGE)
    left = fsutil.temp_path(tmp_path / "ctx" / "x-1.0.0-inside")  # as a kill -9 leaves it
    (left / "package").mkdir(parents=True)
    final, _, _ = buildcontext.stage(tgz, DOCKERFILES / "Dockerfile", tmp_path / "ctx")
    assert [p.name for p in (tmp_path / "ctx").iterdir()] == [final.name]
    assert (
        f"removed 1 leftover folder(s) of an interrupted airgapkit run in {tmp_path / 'ctx'}: {left.name}"
        in (capsys.readouterr().err)
    )
