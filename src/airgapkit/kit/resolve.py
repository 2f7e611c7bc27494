"""airgapkit and every dependency, as wheels for each target, with a lock of their SHA-256.

Two maintained tools, each for what it does right:

- ``uv pip compile --python-platform ... --python-version ... --generate-hashes`` resolves the
  requirements with the *target's* environment markers (pip evaluates them for this machine, so a
  Windows set made by pip lacks ``pywin32``), and gives the hashes the index publishes;
- ``pip download --no-deps --platform ... --python-version ... --abi ...`` fetches exactly those
  pins for the target, checked against those hashes, from the index pip is configured with here
  (uv is given the same index, read from ``pip config list``).

A pin with no wheel for a target arrives as its source: a pure-Python one (``www-authenticate``) is
built into a wheel here, once for every target; one whose wheel would be for this machine only is
an error naming the project, the target and what to do. Everything happens in a work folder: a kit
is written only once every target is complete.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AirgapError
from . import installer
from .targets import Target

PIP_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "no-index")
WORKERS = 4  # targets resolved at once: mostly waiting on the index


class ResolveError(AirgapError):
    """A requirement that cannot be carried for a target, or a tool that failed."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    line: str  # as uv wrote it, hashes included

    @property
    def key(self) -> str:
        return canonical(f"{self.name}-{self.version}")


@dataclass
class Resolved:
    """One target's wheels (in ``folder``) and its lock (``folder/requirements.txt``)."""

    target: Target
    folder: Path
    sources: list[Pin] = field(default_factory=list)  # pins that came as source, built here

    @property
    def lock(self) -> Path:
        return self.folder / installer.LOCK


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run(argv: list, what: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise ResolveError(f"{what} failed: {said_last(proc.stderr + proc.stdout)}")
    return proc


def said_last(output: str) -> str:
    """The line of a tool's output that says why it failed, to show (never to decide on): uv's
    first cause (it names the project), else pip's last error line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    causes = [line.removeprefix("cause:").strip() for line in lines if line.startswith("cause:")]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (causes[:1] or errors[-1:] or lines[-1:] or ["no output"])[0]


# --- the index, as pip is configured here -----------------------------------------------------------


def pip_settings(python: str = sys.executable) -> dict[str, list[str]]:
    """What ``pip download`` would use for the index keys: a ``PIP_*`` variable, else the download
    section, else the global one (pip's own order), from ``pip config list``."""
    listed = run([python, "-m", "pip", "config", "list"], "pip config list").stdout
    found: dict[str, str] = {}
    for line in listed.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = ast.literal_eval(value.strip())
    settings = {}
    for key in PIP_KEYS:
        for scope in (":env:", "download", "global"):
            if f"{scope}.{key}" in found:
                settings[key] = found[f"{scope}.{key}"].split()
                break
    return settings


def uv_index_options(settings: dict[str, list[str]], constraint: str = "--constraint") -> list[str]:
    """uv told the same index, extra indexes, find-links and constraints as pip, and to choose
    among them as pip does (the best version anywhere, not the first index that has the name).
    uv never downloads a Python of its own here: the target's version is only a marker value."""
    options = ["--no-config", "--no-python-downloads", "--index-strategy", "unsafe-best-match"]
    for key in PIP_KEYS:
        values = settings.get(key, [])
        if key == "no-index":
            on = values and values[0].lower() in ("1", "true", "yes")
            options += ["--no-index"] if on else []
            continue
        flag = constraint if key == "constraint" else f"--{key}"
        for value in values:
            options += [flag, value]
    return options


@dataclass(frozen=True)
class Uv:
    """uv's program and the index options of its two commands, found once (not thread-safe)."""

    program: str
    compile_options: list[str]
    build_options: list[str]

    @classmethod
    def configured(cls) -> Uv:
        try:
            from uv import find_uv_bin
        except ImportError as exc:
            raise ResolveError(
                "inv kit resolves and builds with uv, which is not installed here: "
                "pip install 'airgapkit[kit]'"
            ) from exc
        settings = pip_settings()
        return cls(
            find_uv_bin(),
            uv_index_options(settings),
            ["--python", sys.executable, *uv_index_options(settings, "--build-constraint")],
        )


# --- airgapkit itself -------------------------------------------------------------------------------


def installed_source() -> Path:
    """The folder this airgapkit was installed from (``pip install -e .``), from its metadata
    (``direct_url.json``, PEP 610)."""
    dist = importlib.metadata.distribution("airgapkit")
    try:
        url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    except ValueError:
        url = ""
    parsed = urllib.parse.urlparse(url)
    folder = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else None
    if folder is None or not (folder / "pyproject.toml").is_file():
        raise ResolveError(
            "inv kit builds airgapkit from its source, but this airgapkit was not installed from a "
            "source folder: run it from a checkout installed with pip install -e ."
        )
    return folder


def build_wheel(uv: Uv, source: Path, dest: Path, what: str) -> Path:
    """One wheel from a source folder (through its sdist, so no stale build folder leaks into
    it) or from an sdist, by ``uv build`` (build dependencies from the index)."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    argv = [uv.program, "build", "--quiet", *uv.build_options, "--out-dir", str(dest)]
    argv += [] if source.is_dir() else ["--wheel"]
    run([*argv, str(source)], f"building {what} into a wheel (uv build)")
    made = sorted(set(dest.glob("*.whl")) - before)
    if len(made) != 1:
        raise ResolveError(f"building {what} gave {len(made)} wheels, not one")
    return made[0]


def wheel_version(wheel: Path) -> str:
    """A wheel's version as its own metadata says (what importlib.metadata reads once installed)."""
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        dist = importlib.metadata.PathDistribution(zipfile.Path(zf, info.rsplit("/", 1)[0] + "/"))
        return dist.version


def is_pure(wheel: Path) -> bool:
    return wheel.name.endswith("-none-any.whl")


# --- one target ---------------------------------------------------------------------------------------


def compile_pins(target: Target, root: Path, work: Path, uv: Uv) -> list[Pin]:
    """The whole requirement set for ``target``, pinned with the index's hashes (uv)."""
    requirements = work / "requirements.in"
    requirements.write_text(f"airgapkit @ {root.resolve().as_uri()}\n", encoding="utf-8")
    out = work / "compiled.txt"
    argv = [uv.program, "pip", "compile", "--quiet", "--generate-hashes", "--no-header"]
    argv += ["--no-annotate", *target.uv_options(), *uv.compile_options]
    try:
        run([*argv, str(requirements), "-o", str(out)], f"resolving for {target} (uv pip compile)")
    except ResolveError as exc:
        raise ResolveError(
            f"{exc}: pin versions that have wheels for {target.platform}, or leave "
            f"{target.platform} out"
        ) from exc
    pins = []
    for block in re.split(r"\n(?=\S)", out.read_text(encoding="utf-8").strip()):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match and canonical(match.group(1)) != "airgapkit":
            pins.append(Pin(match.group(1), match.group(2), block.strip()))
    return pins


def fetch(target: Target | None, pins: list[Pin], dest: Path, listing: Path, only_binary: bool):
    """``pip download`` of the pins for ``target`` (None: this machine), checked by their hashes."""
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("\n".join(pin.line for pin in pins) + "\n", encoding="utf-8")
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
    argv += ["--only-binary", ":all:"] if only_binary else []
    argv += target.pip_options() if target else []
    run([*argv, "-d", str(dest), "-r", str(listing)], f"pip download for {target or 'here'}")


def download(target: Target, pins: list[Pin], dest: Path, scratch: Path) -> None:
    """The pins' files for ``target``: a wheel where one fits, else the source (``--no-deps``
    lets pip take an sdist for another platform; nothing is installed here)."""
    try:
        fetch(target, pins, dest, scratch / "pins.txt", only_binary=False)
    except ResolveError as exc:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # each alone, to name the project
            probes = [pool.submit(why_missing, target, pin, scratch / pin.key) for pin in pins]
            missing = [(pin, p.result()) for pin, p in zip(pins, probes, strict=True) if p.result()]
        if not missing:
            raise
        pin, why = missing[0]
        raise ResolveError(
            f"{pin.name} {pin.version} {why}: pin a version of {pin.name} that has a wheel for "
            f"{target.platform}, or leave {target.platform} out"
        ) from exc


def why_missing(target: Target, pin: Pin, scratch: Path) -> str | None:
    """Why ``pin`` cannot be carried for ``target`` (None: it can). Wheels are asked for first:
    an sdist's metadata is built to fetch it, which for native code takes long and then fails."""
    try:
        fetch(target, [pin], scratch / "target", scratch / "target.txt", only_binary=True)
        return None
    except ResolveError:
        pass
    try:
        fetch(None, [pin], scratch / "here", scratch / "here.txt", only_binary=True)
        return (
            f"publishes wheels, but none for {target}, and its source would build for this "
            "machine only"
        )
    except ResolveError:
        pass
    try:  # source only: a pure-Python one is built into a wheel afterwards
        fetch(None, [pin], scratch / "source", scratch / "source.txt", only_binary=False)
        return None
    except ResolveError:
        return f"has no wheel for {target} and no source on the index"


def file_of(pin: Pin, folder: Path) -> Path:
    for path in folder.iterdir():
        key = canonical(path.name)
        if key.startswith(pin.key + "-"):
            return path
    raise ResolveError(f"pip download left no file for {pin.name} {pin.version}")


def resolve_target(target: Target, root: Path, work: Path, uv: Uv) -> Resolved:
    folder = work / "targets" / target.id
    scratch = work / "scratch" / target.id
    folder.mkdir(parents=True)
    scratch.mkdir(parents=True)
    pins = compile_pins(target, root, scratch, uv)
    download(target, pins, folder, scratch)
    resolved = Resolved(target, folder)
    for pin in pins:
        if not file_of(pin, folder).name.endswith(".whl"):
            resolved.sources.append(pin)
    shutil.copy2(root, folder / root.name)
    return resolved


def build_sources(resolved: list[Resolved], work: Path, uv: Uv) -> None:
    """Each pin that came as source built once; a pure-Python wheel goes to every target that
    needs it, any other wheel is refused (it would run on this machine only)."""
    built: dict[str, Path] = {}
    for each in resolved:
        for pin in each.sources:
            sdist = file_of(pin, each.folder)
            if pin.key not in built:
                built[pin.key] = build_wheel(uv, sdist, work / "built", f"{pin.name} {pin.version}")
            wheel = built[pin.key]
            if not is_pure(wheel):
                raise ResolveError(
                    f"{pin.name} {pin.version} has no wheel for {each.target}, and its source "
                    f"builds only for this machine ({wheel.name}): pin a version of {pin.name} "
                    f"that publishes one, or leave {each.target.platform} out"
                )
            sdist.unlink()
            shutil.copy2(wheel, each.folder / wheel.name)


def write_lock(resolved: Resolved) -> None:
    """``name==version --hash=sha256:HEX`` for every wheel in the folder, the form
    ``pip install --require-hashes`` takes: the far side installs exactly these files."""
    lines = []
    for wheel in sorted(resolved.folder.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        lines.append(f"{canonical(name)}=={version} --hash=sha256:{installer.sha256_of(wheel)}")
    resolved.lock.write_text("\n".join(lines) + "\n", encoding="utf-8")


def resolve(targets: list[Target], root: Path, work: Path, uv: Uv) -> list[Resolved]:
    """Every target's wheels and lock under ``work/targets``; ``root`` is airgapkit's wheel."""
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(targets))) as pool:
        futures = [pool.submit(resolve_target, t, root, work, uv) for t in targets]
        resolved = [future.result() for future in futures]
    build_sources(resolved, work, uv)
    for each in resolved:
        write_lock(each)
    return resolved
