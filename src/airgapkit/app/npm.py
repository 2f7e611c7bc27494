"""The pack step: bundledDependencies, npm install / npm ci, npm pack, and a check of the .tgz.

The air-gapped side receives one file, the ``.tgz`` that ``npm pack`` makes. It is only useful there
if every runtime dependency travels inside it (``package/node_modules/...``), which npm does for the
dependencies named by ``bundleDependencies`` (spelt ``bundledDependencies`` too; ``true`` means all
of ``dependencies``). This module checks that before and after packing.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import fsutil, locks, platform
from ..errors import AirgapError
from ..fsutil import CHUNK, AtomicFile, temp_path, write_atomic
from . import envfiles
from . import tgz as tgz_reader

NPM_FLAGS = ["--no-audit", "--no-fund"]
INSTALL_HINT = (
    "install Node.js 20 LTS, which ships npm (e.g. apt-get install nodejs npm), then retry"
)


@dataclass(frozen=True)
class PackageMeta:
    """What airgapkit needs from a package.json."""

    path: Path  # the package.json read
    name: str  # as in package.json, scope included: tms-api, @acme/orders-api
    version: str
    dependencies: dict[str, str] = field(default_factory=dict)
    bundle: object = None  # the bundleDependencies value as written (True, a list, absent)
    main: str = "."  # the entry file node runs (relative to the package root)
    start: str | None = None  # scripts.start, if any
    module_type: str = "commonjs"  # package.json "type"

    @property
    def app_dir(self) -> Path:
        return self.path.parent

    @property
    def unscoped_name(self) -> str:
        return self.name.split("/", 1)[1] if self.name.startswith("@") else self.name

    @property
    def image_name(self) -> str:
        """A Docker repository name: the name without its @scope/, lowercased, only [a-z0-9._-]."""
        return docker_name(self.unscoped_name)

    @property
    def tgz_name(self) -> str:
        """The file ``npm pack`` writes: ``@scope/name`` 1.0.0 -> ``scope-name-1.0.0.tgz``."""
        return tgz_name(self.name, self.version)


def tgz_name(name: str, version: str) -> str:
    """npm's tarball naming: the leading @ dropped, the scope's slash turned into a dash."""
    return f"{name}-{version}.tgz".removeprefix("@").replace("/", "-", 1)


def docker_name(text: str) -> str:
    """``text`` made into a valid Docker repository path component."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    name = re.sub(r"[._-]{2,}", "-", name).strip("._-")
    if not name:
        raise AirgapError(
            f"cannot make an image name from {text!r}: name the image in invoke.yaml (image: NAME)"
        )
    return name


def entry_point(pkg: dict) -> str:
    """The file ``node`` runs: "main", else the "." export, else "." (node's index.js rule)."""
    main = pkg.get("main")
    if isinstance(main, str) and main.strip():
        return main.strip()
    exports = pkg.get("exports")
    if isinstance(exports, dict) and "." in exports:
        exports = exports["."]
    while isinstance(exports, dict):  # conditions: prefer what node itself would pick for an import
        for condition in ("node", "import", "default", "require"):
            if condition in exports:
                exports = exports[condition]
                break
        else:
            exports = None
    if isinstance(exports, str) and exports.strip():
        return exports.strip()
    return "."


# --- package.json ---------------------------------------------------------------------------------


def _load_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AirgapError(
            f"{path} not found: the app folder must hold a package.json (create one with npm init)"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AirgapError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AirgapError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}; fix the file and retry"
        ) from exc
    if not isinstance(data, dict):
        raise AirgapError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def meta_from_dict(pkg: dict, path: Path) -> PackageMeta:
    """A PackageMeta from an already-parsed package.json (``path`` names it in errors)."""
    for key in ("name", "version"):
        value = pkg.get(key)
        if not isinstance(value, str) or not value.strip():
            raise AirgapError(f'{path}: "{key}" is missing or empty; set it (npm pack needs it)')
    deps = pkg.get("dependencies") or {}
    if not isinstance(deps, dict):
        raise AirgapError(f'{path}: "dependencies" must be an object of name -> version')
    scripts = pkg.get("scripts") if isinstance(pkg.get("scripts"), dict) else {}
    return PackageMeta(
        path=path,
        name=pkg["name"].strip(),
        version=pkg["version"].strip(),
        dependencies=dict(deps),
        bundle=_bundle_value(pkg),
        main=entry_point(pkg),
        start=scripts.get("start"),
        module_type=pkg.get("type", "commonjs"),
    )


def read_package(app_dir: Path) -> PackageMeta:
    """Read and check ``app_dir/package.json``."""
    app_dir = Path(app_dir)
    if not app_dir.exists():
        raise AirgapError(
            f"app folder {app_dir} does not exist: name the folder that holds package.json "
            "(the app setting in invoke.yaml, or the task's app flag where it has one)"
        )
    if not app_dir.is_dir():
        raise AirgapError(f"{app_dir} is not a folder: name the folder that holds package.json")
    path = app_dir / "package.json"
    return meta_from_dict(_load_json(path), path)


def _bundle_key(pkg: dict) -> str:
    """The key npm reads: bundleDependencies wins when present, else bundledDependencies."""
    return "bundleDependencies" if "bundleDependencies" in pkg else "bundledDependencies"


def _bundle_value(pkg: dict):
    return pkg.get(_bundle_key(pkg))


def check_bundled(meta: PackageMeta) -> list[str]:
    """The dependencies npm pack would leave out of the .tgz (sorted); empty if all are bundled."""
    bundle = meta.bundle
    if bundle is True:
        return []
    if isinstance(bundle, dict):  # npm accepts an object and takes its keys
        bundle = list(bundle)
    covered = set(bundle) if isinstance(bundle, list) else set()
    return sorted(name for name in meta.dependencies if name not in covered)


def fix_bundled(meta: PackageMeta) -> None:
    """Set ``"bundledDependencies": true`` in package.json, keeping indent, key order, newlines."""
    path = meta.path
    text = path.read_bytes().decode("utf-8")  # as it is: CRLF line ends kept
    pkg = json.loads(text)
    key = _bundle_key(pkg)
    if key in pkg:
        pkg[key] = True
    else:  # right after "dependencies", where people look for it
        fixed: dict = {}
        for k, v in pkg.items():
            fixed[k] = v
            if k == "dependencies":
                fixed[key] = True
        fixed.setdefault(key, True)
        pkg = fixed
    if "\n" in text.strip():
        indent_match = re.search(r"^([ \t]+)\S", text, re.MULTILINE)
        out = json.dumps(
            pkg, indent=indent_match.group(1) if indent_match else "  ", ensure_ascii=False
        )
    else:  # a one-line file stays on one line, spaced as it was
        spaced = re.search(r'"\s*:\s', text) is not None
        out = json.dumps(pkg, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))
    if text.endswith("\n"):
        out += "\n"
    if "\r\n" in text:
        out = out.replace("\n", "\r\n")
    write_atomic(path, out.encode("utf-8"), mode=stat.S_IMODE(path.stat().st_mode))
    _say(f'set "{key}": true in {path}')


# --- running npm ----------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"pack: {message}", flush=True)


def npm_executable() -> str:
    """The npm on PATH (and the node it needs), or a clear error."""
    npm = shutil.which("npm")
    if not npm:
        raise AirgapError(f"npm not found on PATH: {INSTALL_HINT}")
    if not shutil.which("node"):
        raise AirgapError(f"node not found on PATH (npm needs it): {INSTALL_HINT}")
    return npm


def _run_npm(npm: str, args: list[str], cwd: Path, *, capture: bool = False) -> str:
    """Run npm with its progress streamed to the terminal; return stdout when ``capture``."""
    _say(f"npm {' '.join(args)}  (in {cwd})")
    try:
        proc = subprocess.run(
            [npm, *args],
            cwd=cwd,
            text=True,
            check=False,
            stdout=subprocess.PIPE if capture else None,
            preexec_fn=platform.dies_with_parent(),  # only prctl, before exec
        )
    except OSError as exc:
        raise AirgapError(f"cannot run {npm}: {exc}; {INSTALL_HINT}") from exc
    if proc.returncode != 0:
        raise AirgapError(
            f"npm {args[0]} failed with exit code {proc.returncode} in {cwd}: see npm's output above"
        )
    return proc.stdout or ""


def npm_output(args: list[str], cwd: Path, *, hint: str, npm: str | None = None) -> str:
    """Run npm quietly and return what it printed on stdout (e.g. ``npm sbom``'s document).

    On failure the error carries npm's own reason (its first error line) and then ``hint``.
    """
    npm = npm or npm_executable()
    try:
        proc = subprocess.run(
            [npm, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=platform.dies_with_parent(),  # only prctl, before exec
        )
    except OSError as exc:
        raise AirgapError(f"cannot run {npm}: {exc}; {INSTALL_HINT}") from exc
    if proc.returncode != 0:
        raise AirgapError(f"npm {args[0]} failed in {cwd}: {npm_reason(proc)}; {hint}")
    return proc.stdout


def npm_reason(proc: subprocess.CompletedProcess) -> str:
    """npm's explanation: its first error line that is not the error code or the log's path."""
    for line in proc.stderr.splitlines():
        text = line.removeprefix("npm error").removeprefix("npm ERR!").strip()
        if (
            line.startswith(("npm error", "npm ERR!"))
            and text
            and not text.startswith(("code ", "A complete log"))
        ):
            return text
    return f"exit code {proc.returncode}"


def install(app_dir: Path, npm: str | None = None) -> None:
    """``npm ci`` when a lockfile exists (exact, reproducible), else ``npm install``."""
    npm = npm or npm_executable()
    locks = ("package-lock.json", "npm-shrinkwrap.json")
    has_lock = any((app_dir / name).exists() for name in locks)
    _run_npm(npm, ["ci" if has_lock else "install", *NPM_FLAGS], app_dir)


# --- what must be inside the .tgz -----------------------------------------------------------------


def runtime_dependencies(app_dir: Path, meta: PackageMeta) -> list[str]:
    """Install paths (``node_modules/a``, ``node_modules/a/node_modules/b``) needed at run time.

    The direct ``dependencies``, plus every package the lockfile records as neither dev, optional
    nor peer (npm leaves those out of a bundle). Links (``file:`` folders, workspaces) are left to
    npm.
    """
    needed = {f"node_modules/{name}" for name in meta.dependencies}
    locks = ("npm-shrinkwrap.json", "package-lock.json", "node_modules/.package-lock.json")
    for lock_name in locks:
        lock_path = app_dir / lock_name
        if not lock_path.exists():
            continue
        try:
            lock = json.loads(lock_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        packages = lock.get("packages")
        if not isinstance(packages, dict):
            continue  # lockfile v1 (npm 6): only the direct dependencies are checked
        for location, entry in packages.items():
            if not location.startswith("node_modules/") or not isinstance(entry, dict):
                continue
            if any(
                entry.get(flag)
                for flag in ("dev", "optional", "devOptional", "peer", "link", "extraneous")
            ):
                continue
            if "/node_modules/" in location and _under_link(location, packages):
                continue
            needed.add(location)
        break
    return sorted(needed)


def _under_link(location: str, packages: dict) -> bool:
    parent = location.rsplit("/node_modules/", 1)[0]
    entry = packages.get(parent)
    return isinstance(entry, dict) and bool(entry.get("link"))


def _dep_name(location: str) -> str:
    return location.rsplit("node_modules/", 1)[1]


UNREADABLE = "{tgz} is not a readable npm package (.tgz): {exc}; pack it again"


@dataclass
class TgzContents:
    """What ``check_tgz`` found: the packed package.json, and any env files it carries."""

    package: dict | None
    env_files: list[str]


def check_tgz(tgz: Path, required: Iterable[str]) -> TgzContents:
    """Check that the .tgz holds every install path in ``required`` (read as a stream)."""
    required = set(required)
    present: set[str] = set()
    env_files: list[str] = []
    package = None
    with tgz_reader.opened(tgz, UNREADABLE) as tar:
        for rel, member in tgz_reader.members(tar, tgz):
            # an example too: its keys travel in the bundle's env contract, its values may not
            if envfiles.is_env_file(rel) and not rel.startswith("node_modules/"):
                env_files.append(rel)
            if rel.endswith("/package.json") and rel.startswith("node_modules/"):
                present.add(rel[: -len("/package.json")])
            elif rel == "package.json" and member.isfile():
                try:
                    package = json.loads(tar.extractfile(member).read(5_000_000))
                except ValueError:
                    package = None
    if package is None:
        raise AirgapError(
            f"{tgz} has no readable package/package.json: not an npm pack file; pack it again"
        )
    missing = sorted(required - present)
    if missing:
        names = ", ".join(sorted({_dep_name(m) for m in missing}))
        raise AirgapError(
            f"{tgz} lacks runtime dependencies {names}: set "
            '"bundledDependencies": true in package.json and pack again'
        )
    return TgzContents(package=package, env_files=env_files)


# --- the step -------------------------------------------------------------------------------------


def pack(app_dir: Path, out_dir: Path, *, fix: bool = False, out_named: str = "build_dir") -> Path:
    """Install and pack ``app_dir`` with its dependencies bundled; return the checked .tgz.
    ``out_named``: what named ``out_dir`` (a setting, or the pack task's flag), for messages."""
    app_dir, out_dir = Path(app_dir), fsutil.require_folder(out_dir, out_named)
    meta = _bundled_package(app_dir, fix)
    npm = npm_executable()
    install(app_dir, npm)
    required = runtime_dependencies(app_dir, meta)
    final = _pack_checked(npm, app_dir, meta, required, out_dir)
    _say(f"{final} holds {meta.name} {meta.version} and its {len(required)} runtime dependencies")
    return final


def _bundled_package(app_dir: Path, fix: bool) -> PackageMeta:
    """The package.json, refused when a dependency would not be bundled (set with ``fix``)."""
    meta = read_package(app_dir)
    _say(f"{meta.name} {meta.version} from {app_dir}")
    unbundled = check_bundled(meta)
    if not unbundled:
        return meta
    if not fix:
        raise AirgapError(
            f"{meta.path}: dependencies not bundled ({', '.join(unbundled)}); add "
            '"bundledDependencies": true to package.json, or let inv pack --fix set it'
        )
    fix_bundled(meta)
    return read_package(app_dir)


def _pack_checked(
    npm: str, app_dir: Path, meta: PackageMeta, required: list[str], out_dir: Path
) -> Path:
    """npm pack into a staging folder; the .tgz gets its final name only once it is checked. One
    pack into ``out_dir`` at a time: a staging folder found there is a killed run's, removed."""
    staging = temp_path(out_dir / "npm-pack")  # airgapkit's temporary shape: leftovers recognisable
    with fsutil.creating(out_dir / meta.tgz_name):
        out_dir.mkdir(parents=True, exist_ok=True)
    with locks.held("pack", str(out_dir.resolve()), f"npm pack into {out_dir}"):
        fsutil.remove_leftover_folders(out_dir)
        with fsutil.creating(out_dir / meta.tgz_name):
            staging.mkdir()
        return _pack_into(npm, app_dir, meta, required, staging)


def _pack_into(
    npm: str, app_dir: Path, meta: PackageMeta, required: list[str], staging: Path
) -> Path:
    out_dir = staging.parent
    try:
        report = _run_npm(
            npm,
            ["pack", "--pack-destination", str(staging.resolve()), "--json", *NPM_FLAGS],
            app_dir,
            capture=True,
        )
        packed = staging / _packed_name(report, staging, meta)
        contents = check_tgz(packed, required)
        if contents.env_files:  # they hold an environment's secrets: they must not cross
            raise AirgapError(
                f"{packed.name} would carry env files ({', '.join(contents.env_files)}); list the "
                f'files to pack in "files" of {meta.path}, or name the env files in an .npmignore '
                "(an .env.example travels as the bundle's env contract, its secrets left out)"
            )
        return _publish(packed, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(packed: Path, out_dir: Path) -> Path:
    """Copy the checked .tgz from the staging folder to its final name, whole or not at all."""
    final = out_dir / packed.name
    with open(packed, "rb") as data, AtomicFile(final) as out:
        shutil.copyfileobj(data, out.file, CHUNK)
    return final


def _packed_name(report: str, staging: Path, meta: PackageMeta) -> str:
    """The file npm pack wrote: from its --json report, else the one .tgz in the staging folder."""
    start = report.find("\n[") + 1 if not report.startswith("[") else 0
    if report[:start].strip():  # what prepack/prepare scripts printed before the report
        print(report[:start].rstrip(), flush=True)
    if report[start : start + 1] == "[":
        try:
            entries = json.loads(report[start:])
            name = entries[0]["filename"]
            if (staging / name).is_file():
                return name
        except (ValueError, LookupError, TypeError):
            pass
    found = sorted(p.name for p in staging.glob("*.tgz"))
    if len(found) == 1:
        return found[0]
    raise AirgapError(
        f"npm pack did not write {meta.tgz_name} into {staging}: see npm's output above"
    )
