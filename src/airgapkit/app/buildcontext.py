"""The build context of the app image, made from the packed ``.tgz`` alone.

The air-gapped side has no source tree, only the ``.tgz`` that ``npm pack`` made. ``stage`` turns it
into a clean folder that ``docker build`` can use, for one of the two variants of the procedure:

- ``inside``: the ``.tgz`` is installed inside the image (``dockerfiles/Dockerfile``). The context
  holds the ``.tgz``, the package's own files as packed (package.json and the source, no
  node_modules: the image gets those from the ``.tgz``), the Dockerfile and its ``.dockerignore``.
- ``host``: the ``.tgz`` is extracted here (``tar -xzf``), and the extracted ``package/`` folder,
  its bundled node_modules inside, is the context (``dockerfiles/airgap.Dockerfile``); the image
  needs no npm.

The ``.tgz`` is extracted safely: members outside ``package/``, absolute paths, ``..``, links
leaving the package and device files are refused; env files (``.env``, ``.env.prod``, ``prod.env``)
and ``.npmrc`` are dropped with a warning, so no secret reaches the context, let alone an image
layer.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import tarfile
from pathlib import Path

from .. import display, fsutil, locks
from ..errors import AirgapError, UnsafeArchive
from ..fsutil import temp_path
from . import envfiles, npm
from . import tgz as tgz_reader

VARIANTS = ("inside", "host")
# The Dockerfiles' first stage carries this label; the classic builder keeps that stage's image
# untagged (as cache) after the build, and this label is how to find and prune it.
STAGE_LABEL = "org.airgapkit.stage"
HOST_DOCKERFILE = "airgap.Dockerfile"

# Used when no ignore file lies beside the Dockerfile: env files and build files out, and for the
# inside variant node_modules too (they come from the .tgz).
_DEFAULT_IGNORE = [
    ".env",
    "*.env",
    ".env.*",
    "**/.env",
    "**/*.env",
    "**/.env.*",
    "**/.npmrc",
    ".git",
    ".gitignore",
    "Dockerfile",
    "*.Dockerfile",
    ".dockerignore",
    "*.dockerignore",
]
DEFAULT_IGNORE = {
    "inside": ["node_modules", "**/node_modules", *_DEFAULT_IGNORE],
    "host": [*_DEFAULT_IGNORE, "*.tgz"],
}

_SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def _say(message: str) -> None:
    print(f"stage: {message}", flush=True)


def dockerfile_for(variant: str, dockerfile: Path | str) -> Path:
    """The Dockerfile of a variant.

    ``dockerfile`` itself, or for ``host`` the ``airgap.Dockerfile`` beside a configured plain
    ``Dockerfile``.
    """
    _check_variant(variant)
    path = Path(dockerfile)
    if variant == "host" and path.name == "Dockerfile":
        return path.with_name(HOST_DOCKERFILE)
    return path


def ignore_file_for(dockerfile: Path, variant: str) -> Path | None:
    """The ignore file of a Dockerfile, None when there is none.

    ``<name>.dockerignore`` beside it (BuildKit's rule), else for the inside variant the
    ``.dockerignore`` beside it.
    """
    specific = dockerfile.with_name(f"{dockerfile.name}.dockerignore")
    if specific.is_file():
        return specific
    plain = dockerfile.with_name(".dockerignore")
    if variant == "inside" and plain.is_file():
        return plain
    return None


def read_tgz_package(tgz: Path) -> npm.PackageMeta:
    """The package.json packed in a .tgz (read as a stream, nothing extracted)."""
    tgz = _check_tgz_path(tgz)
    with tgz_reader.opened(tgz, npm.UNREADABLE) as tar:
        for rel, member in tgz_reader.members(tar, tgz):
            if rel == "package.json" and member.isfile():
                raw = tar.extractfile(member).read(5_000_000)
                try:
                    pkg = json.loads(raw)
                except ValueError as exc:
                    raise AirgapError(
                        f"{tgz}: package/package.json is not valid JSON ({exc}); pack it again"
                    ) from exc
                if not isinstance(pkg, dict):
                    break
                return npm.meta_from_dict(pkg, Path(f"{tgz}!package/package.json"))
    raise AirgapError(
        f"{tgz} has no package/package.json: not a file made by npm pack; pack it again"
    )


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise AirgapError(
            f"unknown build variant {variant!r}: use inside (the .tgz installed in the image) "
            "or host (extracted here, no npm in the image)"
        )


def _check_tgz_path(tgz: Path) -> Path:
    tgz = Path(tgz)
    if not tgz.is_file():
        raise AirgapError(f"{tgz} not found: give the .tgz made by pack, or pack first")
    return tgz


# --- safe extraction ------------------------------------------------------------------------------


def _check_link(member: tarfile.TarInfo, rel: str, tgz: Path) -> None:
    if member.issym():
        target = member.linkname.replace("\\", "/")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(
                f"{tgz}: link {member.name!r} points outside the package "
                f"({member.linkname!r}); refusing to extract it"
            )
    elif member.islnk():
        target = member.linkname.replace("\\", "/")
        parts = [p for p in target.split("/") if p not in ("", ".")]
        if target.startswith("/") or ".." in parts or not parts or parts[0] != "package":
            raise UnsafeArchive(
                f"{tgz}: hard link {member.name!r} points outside the package "
                f"({member.linkname!r}); refusing to extract it"
            )
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchive(
            f"{tgz}: member {member.name!r} is a device or fifo; refusing to extract it"
        )


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, tgz: Path) -> None:
    """One member, through tarfile's ``data`` filter where this Python has it."""
    if not hasattr(tarfile, "data_filter"):  # the checks before did the refusing
        member.mode &= 0o755
        tar.extract(member, dest)
        return
    try:
        tar.extract(member, dest, filter="data")
    except tarfile.FilterError as exc:
        raise UnsafeArchive(f"{tgz}: {exc}; refusing to extract it") from exc


def extract_package(
    tgz: Path, dest: Path, *, skip_node_modules: bool = False
) -> tuple[Path, list[str]]:
    """Extract the ``package/`` folder of an npm .tgz into ``dest`` (streamed, member by member).

    Returns the extracted ``dest/package`` and the env files that were dropped.
    """
    tgz = _check_tgz_path(tgz)
    dest.mkdir(parents=True, exist_ok=True)
    dropped: list[str] = []
    with tgz_reader.opened(tgz, "{tgz} could not be extracted: {exc}; pack the app again") as tar:
        for rel, member in tgz_reader.members(tar, tgz):
            _check_link(member, rel, tgz)
            if skip_node_modules and (rel == "node_modules" or rel.startswith("node_modules/")):
                continue
            if envfiles.is_env_file(rel) or posixpath.basename(rel) == ".npmrc":
                dropped.append(rel)
                continue
            _extract(tar, member, dest, tgz)
    package = dest / "package"
    if not (package / "package.json").is_file():
        raise AirgapError(f"{tgz} has no package/package.json: not a file made by npm pack")
    return package, dropped


# --- the context ----------------------------------------------------------------------------------


def stage(
    tgz: Path,
    dockerfile: Path,
    dest: Path,
    *,
    variant: str = "inside",
    base_image: str | None = None,
    port: int | str | None = None,
) -> tuple[Path, str, dict[str, str]]:
    """Make a clean build context for ``variant`` from ``tgz``.

    The context is ``dest/<tgz name without .tgz>-<variant>``, replaced if it exists (made beside
    it and renamed when complete). Returns (context folder, Dockerfile name inside it, build
    arguments).
    """
    tgz, dockerfile = _check_inputs(tgz, Path(dockerfile), variant)
    meta = read_tgz_package(tgz)
    final = Path(dest) / f"{tgz.name.removesuffix('.tgz')}-{variant}"
    work = temp_path(final)  # airgapkit's temporary shape: a killed run's leftover is recognisable
    with fsutil.creating(final):
        final.parent.mkdir(parents=True, exist_ok=True)
    # one staging at a time in dest: a staging folder found there is a killed run's
    with locks.held("context", str(final.parent.resolve()), f"build context in {final.parent}"):
        fsutil.remove_leftover_folders(final.parent)
        with fsutil.creating(final):
            work.mkdir()
        try:
            package = _unpack(tgz, work, variant)
            _add_build_files(package, tgz, dockerfile, variant)
            if meta.main != "." and not _entry_exists(package, meta.main):
                display.warn(
                    f'the entry file {meta.main} (package.json "main") is not in {tgz.name}'
                )
            _replace_folder(package, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _say(f"{final} ({variant}: {dockerfile.name}) for {meta.name} {meta.version}")
    return final, dockerfile.name, build_args(meta, tgz, variant, base_image, port)


def _check_inputs(tgz: Path, dockerfile: Path, variant: str) -> tuple[Path, Path]:
    _check_variant(variant)
    tgz = _check_tgz_path(tgz)
    if not dockerfile.is_file():
        raise AirgapError(
            f"Dockerfile {dockerfile} not found: name an existing Dockerfile, or keep the "
            "project's dockerfiles/ folder"
        )
    if not _SAFE_FILE_NAME.match(tgz.name):
        raise AirgapError(
            f"{tgz.name}: the .tgz name may hold only letters, digits and ._@+-; "
            f"rename it (npm names it like {npm.tgz_name('name', '1.0.0')})"
        )
    return tgz, dockerfile


def _unpack(tgz: Path, work: Path, variant: str) -> Path:
    """The package extracted into ``work``; each env file left out is named, never its content."""
    package, dropped = extract_package(tgz, work, skip_node_modules=variant == "inside")
    for rel in dropped:
        kind = "template" if envfiles.is_env_template(rel) else "env file"
        _say(
            f"dropped {kind} {rel} from {tgz.name}: "
            "settings are given at run time (docker run --env-file), never built into the image"
        )
    return package


def _add_build_files(package: Path, tgz: Path, dockerfile: Path, variant: str) -> None:
    """The Dockerfile, its ignore file and (inside variant) the .tgz it installs, beside the app."""
    if variant == "inside":
        shutil.copyfile(tgz, package / tgz.name)
    shutil.copyfile(dockerfile, package / dockerfile.name)
    ignore = ignore_file_for(dockerfile, variant)
    if ignore is not None:
        shutil.copyfile(ignore, package / ".dockerignore")
    else:
        (package / ".dockerignore").write_text("\n".join(DEFAULT_IGNORE[variant]) + "\n")


def _replace_folder(new: Path, final: Path) -> None:
    """Put the finished context under its final name; an older one is moved aside, then removed.

    The folder is complete before it gets the name: files inside it are written while the whole
    folder still has its temporary name, so ``fsutil.AtomicFile`` has nothing to add here.
    """
    old = temp_path(final) if final.exists() else None
    if old is not None:
        os.replace(final, old)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_args(
    meta: npm.PackageMeta, tgz: Path, variant: str, base_image: str | None, port: int | str | None
) -> dict[str, str]:
    """The Dockerfiles' build arguments for this package and variant."""
    args = {"APP_MAIN": meta.main}
    if variant == "inside":  # the host variant has no module to install: only the entry file
        args.update(MODULE_TGZ=tgz.name, MODULE_NAME=meta.name)
    if base_image:
        args["BASE_IMAGE"] = base_image
    if port:
        args["APP_PORT"] = str(port)
    return args


def _entry_exists(package: Path, main: str) -> bool:
    path = package / main
    candidates = [
        path,
        path.with_name(path.name + ".js"),
        path.with_name(path.name + ".mjs"),
        path.with_name(path.name + ".cjs"),
        path / "index.js",
    ]
    return any(p.is_file() for p in candidates)
