"""The pack step against the real npm (and npm's registry for installs): no mocks."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from invoking import REPO_ROOT, clean_env, inv, wait_until
from tgz import craft_tgz

from airgapkit.app import buildcontext, npm
from airgapkit.errors import AirgapError

EXAMPLE_APP = REPO_ROOT / "examples" / "tms-api"
ORDERS_APP = REPO_ROOT / "tests" / "fixtures" / "apps" / "orders-api"

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


def copy_app(src: Path, dest: Path) -> Path:
    """A copy of an app folder without its node_modules, so tests never race on the original."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("node_modules"))
    return dest


def tgz_members(tgz: Path) -> list[str]:
    with tarfile.open(tgz, "r:gz") as tar:
        return tar.getnames()


@pytest.fixture(scope="module")
def example_tgz(tmp_path_factory) -> Path:
    """The example app packed once (npm ci, npm pack) for the tests of this file."""
    work = tmp_path_factory.mktemp("example")
    app = copy_app(EXAMPLE_APP, work / "tms-api")
    return npm.pack(app, work / "out")


# --- package.json ---------------------------------------------------------------------------------


def test_read_example_package():
    meta = npm.read_package(EXAMPLE_APP)
    assert (meta.name, meta.version, meta.image_name) == ("tms-api", "1.0.0", "tms-api")
    assert meta.tgz_name == "tms-api-1.0.0.tgz"
    assert meta.main == "app.js" and meta.start == "node app.js"
    assert "express" in meta.dependencies
    assert npm.check_bundled(meta) == []


@pytest.mark.parametrize(
    ("name", "version", "tgz", "image"),
    [
        ("tms-api", "1.0.0", "tms-api-1.0.0.tgz", "tms-api"),
        ("@acme/orders-api", "2.3.0", "acme-orders-api-2.3.0.tgz", "orders-api"),
        ("@Acme/Big_API", "0.1.0-rc.1", "Acme-Big_API-0.1.0-rc.1.tgz", "big_api"),
        ("digital-academy-api", "0.0.1", "digital-academy-api-0.0.1.tgz", "digital-academy-api"),
    ],
)
def test_names(tmp_path, name, version, tgz, image):
    (tmp_path / "package.json").write_text(json.dumps({"name": name, "version": version}))
    meta = npm.read_package(tmp_path)
    assert meta.tgz_name == tgz
    assert meta.image_name == image


@pytest.mark.parametrize(
    ("pkg", "entry"),
    [
        ({"main": "app.js"}, "app.js"),
        ({"exports": "./server.js"}, "./server.js"),
        (
            {"exports": {".": {"import": "./esm/index.js", "require": "./cjs/index.js"}}},
            "./esm/index.js",
        ),
        ({"type": "module"}, "."),
    ],
)
def test_entry_point(pkg, entry):
    assert npm.entry_point(pkg) == entry


def test_missing_folder(tmp_path):
    with pytest.raises(AirgapError, match=r"app folder .*nowhere does not exist"):
        npm.read_package(tmp_path / "nowhere")


def test_missing_package_json(tmp_path):
    with pytest.raises(AirgapError, match=r"package\.json not found"):
        npm.read_package(tmp_path)


def test_invalid_package_json_names_file_and_position(tmp_path):
    path = tmp_path / "package.json"
    path.write_text('{\n  "name": "x",\n  "version": "1.0.0",\n}\n')
    with pytest.raises(AirgapError) as info:
        npm.read_package(tmp_path)
    message = str(info.value)
    # the position json gives: line 4 before Python 3.13, the trailing comma on line 3 since
    assert str(path) in message and re.search(r"line [34] column \d+", message)
    assert "\n" not in message


@pytest.mark.parametrize("missing", ["name", "version"])
def test_missing_name_or_version(tmp_path, missing):
    pkg = {"name": "x", "version": "1.0.0"}
    del pkg[missing]
    (tmp_path / "package.json").write_text(json.dumps(pkg))
    with pytest.raises(AirgapError, match=f'"{missing}" is missing'):
        npm.read_package(tmp_path)


@pytest.mark.parametrize(
    ("bundle", "unbundled"),
    [
        (True, []),
        (["a"], ["b"]),
        ({"a": 1, "b": 1}, []),
        (False, ["a", "b"]),
        (None, ["a", "b"]),
    ],
)
def test_check_bundled(tmp_path, bundle, unbundled):
    pkg = {"name": "x", "version": "1.0.0", "dependencies": {"b": "1", "a": "1"}}
    if bundle is not None:
        pkg["bundledDependencies"] = bundle
    (tmp_path / "package.json").write_text(json.dumps(pkg))
    assert npm.check_bundled(npm.read_package(tmp_path)) == unbundled


def test_bundle_dependencies_spelling_wins_like_npm(tmp_path):
    pkg = {
        "name": "x",
        "version": "1.0.0",
        "dependencies": {"a": "1"},
        "bundleDependencies": [],
        "bundledDependencies": True,
    }
    (tmp_path / "package.json").write_text(json.dumps(pkg))
    assert npm.check_bundled(npm.read_package(tmp_path)) == ["a"]


# --- pack -----------------------------------------------------------------------------------------


@needs_npm
def test_pack_example(example_tgz):
    assert example_tgz.name == "tms-api-1.0.0.tgz"
    assert example_tgz.parent.name == "out"
    assert [p.name for p in example_tgz.parent.iterdir()] == [example_tgz.name]  # no temp left
    names = tgz_members(example_tgz)
    assert "package/package.json" in names and "package/app.js" in names
    assert "package/node_modules/express/package.json" in names
    # transitive runtime dependencies travel too
    assert "package/node_modules/body-parser/package.json" in names
    assert "package/.env.example" not in names  # the env contract travels on its own


@needs_npm
def test_pack_refuses_unbundled_then_fix(tmp_path, capsys):
    app = copy_app(EXAMPLE_APP, tmp_path / "app")
    original = (app / "package.json").read_text()
    pkg = json.loads(original)
    del pkg["bundledDependencies"]
    (app / "package.json").write_text(json.dumps(pkg, indent=4) + "\n")

    with pytest.raises(AirgapError) as info:
        npm.pack(app, tmp_path / "out")
    message = str(info.value)
    assert "express" in message and '"bundledDependencies": true' in message and "--fix" in message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

    tgz = npm.pack(app, tmp_path / "out", fix=True)
    fixed = (app / "package.json").read_text()
    assert json.loads(fixed)["bundledDependencies"] is True
    # formatting kept: the file's own 4-space indent, key order, the new key after dependencies
    assert fixed.startswith('{\n    "name": "tms-api",') and fixed.endswith("}\n")
    keys = list(json.loads(fixed))
    assert keys.index("bundledDependencies") == keys.index("dependencies") + 1
    assert "package/node_modules/express/package.json" in tgz_members(tgz)


@needs_npm
def test_pack_refuses_a_tgz_that_would_carry_env_files(tmp_path):
    """npm packs a .env unless told otherwise; its secrets must not cross the air gap."""
    app = copy_app(EXAMPLE_APP, tmp_path / "app")
    pkg = json.loads((app / "package.json").read_text())
    del pkg["files"]
    (app / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    (app / ".env").write_text("DB_PASSWORD=never-in-a-bundle-0815\n")
    with pytest.raises(AirgapError) as info:
        npm.pack(app, tmp_path / "out")
    message = str(info.value)
    assert ".env" in message and '"files"' in message and ".npmignore" in message
    assert "never-in-a-bundle-0815" not in message
    assert not list((tmp_path / "out").iterdir())  # nothing left under any name


@needs_npm
def test_pack_refuses_a_tgz_that_would_carry_an_env_example_too(tmp_path):
    """An example may hold a real token left in by mistake; its keys and comments travel in the
    bundle's env contract, with such values dropped: the .tgz must not carry it whole."""
    app = copy_app(EXAMPLE_APP, tmp_path / "app")
    pkg = json.loads((app / "package.json").read_text())
    pkg["files"] = ["app.js", ".env.example"]
    (app / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    with pytest.raises(AirgapError) as info:
        npm.pack(app, tmp_path / "out")
    message = str(info.value)
    assert "would carry env files (.env.example)" in message and "env contract" in message
    assert not list((tmp_path / "out").iterdir())


@needs_npm
def test_pack_scoped_esm_app(tmp_path):
    app = copy_app(ORDERS_APP, tmp_path / "orders-api")
    assert not (app / "package-lock.json").exists()  # npm install path, not npm ci
    tgz = npm.pack(app, tmp_path / "out")
    assert tgz.name == "acme-orders-api-2.3.0.tgz"
    names = tgz_members(tgz)
    assert "package/node_modules/ms/package.json" in names
    assert "package/node_modules/@tootallnate/once/package.json" in names
    meta = buildcontext.read_tgz_package(tgz)
    assert (meta.name, meta.module_type, meta.main) == ("@acme/orders-api", "module", "index.js")


def test_npm_missing(tmp_path, monkeypatch):
    app = copy_app(ORDERS_APP, tmp_path / "orders-api")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(AirgapError) as info:
        npm.pack(app, tmp_path / "out")
    message = str(info.value)
    assert message.startswith("npm not found on PATH") and "install Node.js" in message


@needs_npm
def test_npm_failure_is_one_line(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(
        json.dumps(
            {
                "name": "broken",
                "version": "1.0.0",
                "bundledDependencies": True,
                "dependencies": {"ms": "^2.1.3"},
            }
        )
    )
    (app / "package-lock.json").write_text(
        json.dumps(
            {  # out of sync: npm ci refuses it
                "name": "broken",
                "version": "1.0.0",
                "lockfileVersion": 3,
                "requires": True,
                "packages": {"": {"name": "broken", "version": "1.0.0"}},
            }
        )
    )
    with pytest.raises(AirgapError, match=r"npm ci failed with exit code \d+ in .*app"):
        npm.pack(app, tmp_path / "out")


def test_npm_output_returns_stdout_and_fails_with_npms_reason(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "tiny", "version": "1.2.3"}))
    assert npm.npm_output(["pkg", "get", "version"], app, hint="unused").strip() == '"1.2.3"'
    with pytest.raises(AirgapError) as exc:
        npm.npm_output(["run", "absent-script"], app, hint="add the script and retry")
    message = str(exc.value)
    assert message.startswith(f"npm run failed in {app}: Missing script") and "\n" not in message
    assert message.endswith("; add the script and retry")


# --- the check of the .tgz ------------------------------------------------------------------------


def test_check_tgz_names_the_missing_dependencies(tmp_path):
    tgz = craft_tgz(
        tmp_path / "x-1.0.0.tgz",
        {
            "package/package.json": b'{"name": "x", "version": "1.0.0"}',
            "package/index.js": b"",
            "package/node_modules/express/package.json": b"{}",
            "package/node_modules/@scope/util/package.json": b"{}",
        },
    )
    required = ["node_modules/express", "node_modules/@scope/util"]
    assert npm.check_tgz(tgz, required).package["name"] == "x"
    with pytest.raises(AirgapError) as info:
        npm.check_tgz(tgz, [*required, "node_modules/ms", "node_modules/express/node_modules/qs"])
    message = str(info.value)
    assert "lacks runtime dependencies ms, qs" in message and str(tgz) in message


@needs_npm
def test_runtime_dependencies_from_lockfile(example_tgz):
    app = example_tgz.parent.parent / "tms-api"
    needed = npm.runtime_dependencies(app, npm.read_package(app))
    assert "node_modules/express" in needed and "node_modules/body-parser" in needed
    npm.check_tgz(example_tgz, needed)  # what pack itself checked


def test_check_tgz_rejects_a_non_package(tmp_path):
    bogus = tmp_path / "bogus.tgz"
    bogus.write_bytes(b"not a tar")
    with pytest.raises(AirgapError, match="not a readable npm package"):
        npm.check_tgz(bogus, [])


@pytest.mark.parametrize(
    ("original", "fixed"),
    [
        (
            '{"name":"x","version":"1.0.0","dependencies":{"ms":"^2"}}\n',
            '{"name":"x","version":"1.0.0","dependencies":{"ms":"^2"},"bundledDependencies":true}\n',
        ),
        (
            '{\n\t"name": "x",\n\t"version": "1.0.0",\n\t"bundleDependencies": ["ms"],\n'
            '\t"dependencies": {"ms": "^2", "qs": "^6"}\n}',
            '{\n\t"name": "x",\n\t"version": "1.0.0",\n\t"bundleDependencies": true,\n'
            '\t"dependencies": {\n\t\t"ms": "^2",\n\t\t"qs": "^6"\n\t}\n}',
        ),
        (
            '{\r\n  "name": "x",\r\n  "version": "1.0.0"\r\n}\r\n',
            '{\r\n  "name": "x",\r\n  "version": "1.0.0",\r\n  "bundledDependencies": true\r\n}\r\n',
        ),
    ],
)
def test_fix_keeps_the_file_style(tmp_path, original, fixed):
    (tmp_path / "package.json").write_bytes(original.encode())
    npm.fix_bundled(npm.read_package(tmp_path))
    assert (tmp_path / "package.json").read_bytes().decode() == fixed
    assert npm.check_bundled(npm.read_package(tmp_path)) == []


def test_fix_replaces_package_json_whole_and_keeps_its_mode(tmp_path):
    path = tmp_path / "package.json"
    path.write_text('{"name": "x", "version": "1.0.0"}\n')
    path.chmod(0o664)
    npm.fix_bundled(npm.read_package(tmp_path))
    assert path.stat().st_mode & 0o777 == 0o664
    assert [p.name for p in tmp_path.iterdir()] == ["package.json"]  # no temporary file left


@needs_npm
def test_pack_into_a_folder_it_cannot_write_is_one_line(tmp_path, immutable):
    app = copy_app(EXAMPLE_APP, tmp_path / "app")
    with pytest.raises(AirgapError, match=rf"^cannot write tms-api-1.0.0.tgz in {immutable} \("):
        npm.pack(app, immutable)


KILLED_APP = {
    "name": "agk-killed-pack",
    "version": "1.0.0",
    "bundledDependencies": True,
    # npm pack runs it: the test kills airgapkit while npm waits here, its folder made
    "scripts": {"prepack": 'node -e "setTimeout(() => {}, 20000)"'},
}


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (FileNotFoundError, IndexError):
        return False


@needs_npm
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG")
def test_a_pack_killed_during_npm_pack_leaves_no_npm_and_the_next_removes_its_folder(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps(KILLED_APP))
    (app / "index.js").write_text("")
    out = tmp_path / "out"
    pack = ["pack", "--app", str(app), "--output", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT), *pack],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_until(lambda: list(out.glob(".npm-pack.*")) and children(proc.pid), 60)
        npm_pid = children(proc.pid)[0]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert wait_until(lambda: not running(npm_pid), 10), "npm outlived the airgapkit that ran it"
    (left,) = out.glob(".npm-pack.*")
    again = inv(*pack, cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        f"removed 1 leftover folder(s) of an interrupted airgapkit run in {out}: {left.name}"
        in (again.stderr)
    )
    assert sorted(p.name for p in out.iterdir()) == ["agk-killed-pack-1.0.0.tgz"]
