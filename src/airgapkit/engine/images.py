"""Images in the Docker Engine: pull, save, load, build, prune, and the never-pull lookup.

Every function takes a connected client (``client.connect``). Images move as streams of
``fsutil.CHUNK`` bytes, so memory stays flat whatever their size. Progress goes to stderr (rich),
so stdout stays for what a user may pipe: build logs.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import docker
import requests
from docker.models.images import Image
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from .. import fsutil
from ..errors import AirgapError, ImageMissing
from ..fsutil import CHUNK, MEMBER_CHUNK, AtomicFile
from ..oci.reference import tar_name, validate_ref
from ..pipes import Ahead, coalesced, read_ahead
from .client import answers, console, engine_errors, lost, stream_error

BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WRITEBACK = 64 << 20  # a saved tar's bytes sent on to the disk while the save goes on
_NOT_IN_REGISTRY = re.compile(r"not found|manifest unknown|does not exist|pull access denied", re.I)


def find_image(client: docker.DockerClient, ref: str) -> Image | None:
    """The local image (by name or ID), or None."""
    with engine_errors(f"look up image {ref}"):
        return _local_image(client, ref)


def require_image(client: docker.DockerClient, ref: str) -> Image:
    """The local image, or ImageMissing naming the tar to load: the air-gapped side never pulls."""
    image = find_image(client, ref)
    if image is None:
        raise ImageMissing(
            f"image {ref} is not in the local engine; load it with `inv load --input {tar_name(ref)}`"
        )
    return image


def _local_image(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.NotFound:
        return None


# --- pull -----------------------------------------------------------------------------------------


def _pull_progress() -> Progress:
    return Progress(
        TextColumn("{task.fields[layer]}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[status]}", markup=False),
        console=console,
    )


def pull(
    client: docker.DockerClient, ref: str, if_missing: bool = False, otherwise: str = ""
) -> str:
    """Pull ``ref`` with a progress bar per layer; ``if_missing`` uses a local copy as it is.
    ``otherwise``: what the caller's task offers when the registry cannot be reached (its flag)."""
    ref = validate_ref(ref)
    if if_missing:
        local = find_image(client, ref)
        if local is not None:  # the document's "base image on local repository" scenario
            console.print(f"{ref} is already in the local engine ({local.short_id}); not pulling")
            return local.id
    repository, tag = docker.utils.parse_repository_tag(ref)
    try:
        with engine_errors(f"pull {ref}"), _pull_progress() as progress:
            events = client.api.pull(repository, tag=tag or "latest", stream=True, decode=True)
            _follow_pull(progress, events, ref)
    except AirgapError as exc:
        if _not_in_registry(exc):
            raise ImageMissing(
                f"image {ref} was not found in its registry; check the name and tag ({exc})"
            ) from exc
        instead = f", or {otherwise}" if otherwise else ""
        raise AirgapError(f"{exc}; check that its registry is reachable{instead}") from exc
    image = client.images.get(ref)
    console.print(f"pulled {ref} ({image.short_id})")
    return image.id


def _not_in_registry(exc: AirgapError) -> bool:
    """Whether a failed pull says the registry has no such image: the engine's 404 when it answers
    before the pull starts, else the words of the pull stream, which carries no status (the one
    place this module reads an error's text)."""
    if isinstance(exc.__cause__, docker.errors.NotFound):
        return True
    return _NOT_IN_REGISTRY.search(str(exc)) is not None


def _follow_pull(progress: Progress, events: Iterable[dict], ref: str) -> None:
    """Drive one progress task per layer id from the pull stream; stop on an error event."""
    layers: dict[str, int] = {}
    for event in events:
        error = stream_error(event)
        if error:
            raise AirgapError(f"could not pull {ref}: {error}")
        layer = event.get("id")
        if not layer or event.get("status", "").startswith("Pulling from"):
            continue  # that event names the tag, not a layer
        detail = event.get("progressDetail") or {}
        if layer not in layers:
            layers[layer] = progress.add_task("", layer=layer, status="", total=None)
        fields = {"status": event.get("status", "")}
        if detail.get("total"):
            fields.update(completed=detail.get("current", 0), total=detail["total"])
        if event.get("status") in ("Pull complete", "Already exists", "Download complete"):
            task = progress.tasks[layers[layer]]
            fields.update(completed=task.total or 1, total=task.total or 1)
        progress.update(layers[layer], **fields)


# --- save -----------------------------------------------------------------------------------------


def save_stream(
    client: docker.DockerClient, refs: list[str], *, now: bool = False
) -> Iterable[bytes]:
    """The chunks of ``docker save`` for ``refs``, repo tags kept; a missing image: ImageMissing.

    A stream the engine ends early, without the tar's end marker, is refused after its last chunk:
    whoever writes it must not give it a final name. The engine's response is read on a thread of
    its own, a few chunks ahead, so the engine never waits while the consumer hashes, deflates or
    encrypts (errors reach the consumer as they were). ``now``: the engine is asked at once, not
    at the first chunk, and the result (``pipes.Ahead``) must be read or closed.
    """
    if now:
        return Ahead(_save_stream(client, refs), name="docker-save")
    return read_ahead(_save_stream(client, refs), name="docker-save")


def _save_stream(client: docker.DockerClient, refs: list[str]) -> Iterator[bytes]:
    for ref in refs:
        validate_ref(ref)
        require_image(client, ref)  # the engine's own error for a missing name is vague
    # The engine reports a failure on the first chunk, so the whole iteration sits inside the guard.
    with engine_errors(f"save {', '.join(refs)}"):
        if len(refs) == 1:
            chunks = client.api.get_image(refs[0], chunk_size=CHUNK)
        else:
            chunks = save_several(client, refs)
        yield from _whole_tar(chunks, refs)


TAR_END = bytes(1024)  # a tar ends with two zero blocks; the engine's writer always adds them


def _whole_tar(chunks: Iterable[bytes], refs: list[str]) -> Iterator[bytes]:
    """The chunks in pieces of ``MEMBER_CHUNK`` or more (the engine's come in tens of KB, and each
    costs its readers a step; a few wait in each queue, so not larger); an AirgapError after the
    last if the tar's end marker is missing."""
    tail = b""
    for chunk in coalesced(chunks, MEMBER_CHUNK):
        tail = (tail + chunk[-len(TAR_END) :])[-len(TAR_END) :]
        yield chunk
    if tail != TAR_END:
        raise AirgapError(
            f"docker save of {', '.join(refs)} ended before the end of its tar (did the engine "
            "stop?); check that the engine runs and save again"
        )


def save_several(client: docker.DockerClient, refs: list[str]) -> Iterator[bytes]:
    """One tar of several images, each tag kept and shared layers stored once. A reader may stop
    early: closing the generator closes the engine's response.

    The SDK's ``get_image`` takes one name; the Engine API's ``GET /images/get?names=a&names=b``
    takes several. It is reached through the SDK's client, which is a ``requests.Session``: its
    ``get``, ``base_url`` and ``api_version`` are public, so no SDK internals are involved.
    """
    api = client.api
    url = f"{api.base_url}/v{api.api_version}/images/get"
    response = api.get(url, params={"names": refs}, stream=True, timeout=api.timeout)
    with response:
        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError as exc:  # the SDK's own error type, with its message
            docker.errors.create_api_error_from_http_exception(exc)
        yield from response.iter_content(CHUNK)


@contextmanager
def _bytes_progress() -> Iterator[Progress]:
    """A transfer's bar; one that fails is cleared, so no bar that looks complete stays behind."""
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    )
    with progress:
        try:
            yield progress
        except BaseException:
            progress.live.transient = True
            raise


def save(client: docker.DockerClient, refs: list[str], dest: Path) -> Path:
    """Stream ``docker save`` of ``refs`` into ``dest``; the file appears only when complete.

    The room it takes is checked first: a tar is about the images' size (a little more).
    """
    refs = [validate_ref(ref) for ref in refs]
    images = {image.id: image for image in (require_image(client, ref) for ref in refs)}
    estimate = sum(image.attrs.get("Size", 0) for image in images.values())  # about the tar's size
    dest = Path(dest)
    if dest.is_dir():  # --output build/ means a file in that folder
        dest = dest / tar_name(refs[0])
    what = f"saving {', '.join(refs)}"
    fsutil.remove_leftovers(dest.parent)  # a killed earlier save's temporary tar
    fsutil.check_free_space(dest.parent, estimate, what)
    try:
        written = _save_to(client, refs, dest, estimate)
    except OSError as exc:
        raise _write_error(exc, dest) from exc
    except AirgapError as exc:
        if fsutil.disk_full(dest, exc.__cause__) is None:
            raise
        # AtomicFile's line for a full disk; the tar runs a little over the images' size
        raise AirgapError(
            f"{exc}; {what} needs about {fsutil.human_size(estimate)} or more"
        ) from exc
    console.print(f"saved {', '.join(refs)} to {dest} ({fsutil.human_size(written)})")
    return dest


def _write_error(exc: OSError, dest: Path) -> AirgapError:
    """One line for a tar that could not be written: a file in the way, or what the system said."""
    blocker = fsutil.file_in_the_way(dest.parent)
    if blocker is not None:
        return AirgapError(
            f"could not write {dest}: {blocker} is a file, not a folder; choose another --output"
        )
    return AirgapError(
        f"could not write {dest}: {exc.strerror or exc}; choose another --output or free space"
    )


def _save_to(client: docker.DockerClient, refs: list[str], dest: Path, estimate: int) -> int:
    written = flushed = 0
    with AtomicFile(dest) as out, _bytes_progress() as progress:
        task = progress.add_task(f"save {dest.name}", total=estimate or None)
        for chunk in save_stream(client, refs):
            out.file.write(chunk)
            written += len(chunk)
            progress.update(task, completed=written, total=max(estimate, written))
            if written - flushed >= WRITEBACK:
                flushed = _start_writeback(out.file, flushed, written)
    return written


def _start_writeback(file, start: int, end: int) -> int:
    """Have the kernel start writing ``start:end`` to disk now, without waiting for it, so the
    fsync that makes the file final has little left to do (it took 1-2 s of a 12 s save here).
    On Linux POSIX_FADV_DONTNEED starts writeback of dirty pages; elsewhere this does nothing."""
    file.flush()
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(file.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)
    return end


# --- load -----------------------------------------------------------------------------------------


def _chunks(fileobj: BinaryIO, progress: Progress, task, total: int | None) -> Iterator[bytes]:
    """Read an open binary file a chunk at a time: no seek, no whole read, so any stream will do.
    ``load`` reads it on a thread of its own: decryption and inflate overlap the engine's load.
    ``total`` may be an estimate (a delta put back together): a longer stream moves it up."""
    done = 0
    while chunk := fileobj.read(CHUNK):
        done += len(chunk)
        progress.update(task, completed=done, total=max(total, done) if total else None)
        yield chunk


def _size_of(fileobj: BinaryIO) -> int | None:
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # a decrypting stream has no file descriptor
        return None


def load(client: docker.DockerClient, fileobj: BinaryIO, size: int | None = None) -> list[str]:
    """``docker load`` from an open binary file object; returns the tags (or ids) loaded."""
    loaded: list[str] = []
    with engine_errors("load the image tar"), _bytes_progress() as progress:
        total = size or _size_of(fileobj)
        task = progress.add_task("load", total=total)
        # A generator body goes out chunked: requests never measures or seeks the stream.
        chunks = read_ahead(_chunks(fileobj, progress, task, total), name="docker-load")
        for event in client.api.load_image(chunks):
            error = stream_error(event)
            if error:
                raise AirgapError(
                    f"docker load failed: {error}; is the file a complete docker save tar?"
                )
            found = re.match(r"Loaded image(?: ID)?: (\S+)", (event.get("stream") or "").strip())
            if found:
                loaded.append(found.group(1))
    if not loaded:
        raise AirgapError("docker load reported no image; is the file a tar made by docker save?")
    console.print(f"loaded {', '.join(loaded)}")
    return loaded


# --- build and prune ------------------------------------------------------------------------------


def parse_build_args(items: Iterable[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a dict; a malformed item is named by position, its text never echoed."""
    args: dict[str, str] = {}
    for number, item in enumerate(items, 1):
        key, sep, value = item.partition("=")
        if not sep or not BUILD_ARG_NAME.match(key):
            raise AirgapError(
                f"build argument #{number} is not NAME=VALUE; write it as --build-arg NAME=value"
            )
        args[key] = value
    return args


def _check_build_inputs(context: Path, dockerfile: str) -> None:
    if not context.is_dir():
        raise AirgapError(f"build context {context} is not a folder; pass the app folder")
    path = Path(dockerfile) if Path(dockerfile).is_absolute() else context / dockerfile
    if not path.is_file():
        raise AirgapError(f"Dockerfile {path} does not exist; name an existing Dockerfile")


def build(
    client: docker.DockerClient,
    context: Path,
    ref: str,
    *,
    dockerfile: str = "Dockerfile",
    build_args: dict | None = None,
    no_cache: bool = False,
    offline: bool = False,
) -> str:
    """``docker build -t ref`` with the log streamed to stdout; returns the image id.

    The base image is never pulled (``pull=False``); ``offline`` builds with the network off
    (``network_mode="none"``), proving the build needs nothing from outside.
    """
    ref = validate_ref(ref, allow_digest=False)
    context = Path(context)
    _check_build_inputs(context, dockerfile)
    with engine_errors(f"build {ref}"):
        events = client.api.build(
            path=str(context),
            dockerfile=str(dockerfile),
            tag=ref,
            buildargs=build_args or {},
            nocache=no_cache,
            pull=False,
            rm=True,
            forcerm=True,
            network_mode="none" if offline else None,
            decode=True,
        )
        try:
            image_id = _follow_build(events, ref, offline)
        except AirgapError as failure:
            if not answers(client):  # an engine that stops kills the step first: say so instead
                raise lost(f"build {ref}") from failure
            raise
    return image_id or client.images.get(ref).id


def _follow_build(events: Iterable[dict], ref: str, offline: bool) -> str:
    """Write the build log to stdout; stop on an error naming the step; return the image id."""
    step, image_id = "", ""
    for event in events:
        error = stream_error(event)
        if error:
            hint = " (built offline: that step needs the network)" if offline else ""
            raise AirgapError(f"build of {ref} failed at {step or 'the start'}: {error}{hint}")
        text = event.get("stream") or ""
        if text.startswith("Step "):
            step = text.strip()
        sys.stdout.write(text)
        sys.stdout.flush()
        image_id = (event.get("aux") or {}).get("ID", image_id)
    return image_id


def prune_build_cache(client: docker.DockerClient, stage_label: str = "") -> int:
    """``docker builder prune``: remove the build cache, print and return the bytes reclaimed.

    The classic builder's cache is made of untagged stage images; those marked with
    ``stage_label`` go too.
    """
    with engine_errors("prune the build cache"):
        reclaimed = int(client.api.prune_builds().get("SpaceReclaimed") or 0)
    if stage_label:
        reclaimed += prune_stage_images(client, stage_label)
    print(f"build cache pruned: {fsutil.human_size(reclaimed)} reclaimed ({reclaimed} bytes)")
    return reclaimed


def prune_stage_images(client: docker.DockerClient, label: str) -> int:
    """Remove the untagged images that earlier build stages left (marked with ``label``).

    The classic builder keeps each multi-stage build's first stage as an untagged image; nothing
    uses it but the next build's cache, so it is removed rather than left to pile up.
    """
    with engine_errors("remove untagged build-stage images"):
        reclaimed = client.images.prune(filters={"dangling": True, "label": label})
    return int(reclaimed.get("SpaceReclaimed") or 0)


def drop_stage_images(client: docker.DockerClient, label: str) -> None:
    """After a build: remove the untagged image its first stage left (marked with ``label``), and
    keep the images of the stage's steps before it: they are the next build's cache.

    The classic store lists only a stage's last image as dangling; the containerd image store lists
    every step's, and removing them all would rebuild the stage each time (new directory times, new
    layers, another image under the same tag). The last one is the one no other names as parent.
    """
    with engine_errors("remove untagged build-stage images"):
        stages = client.api.images(filters={"dangling": True, "label": label})
        parents = {image.get("ParentId") for image in stages}
        for image in stages:
            if image["Id"] not in parents:
                _remove_unless_used(client, image["Id"])


def _remove_unless_used(client: docker.DockerClient, image_id: str) -> None:
    """Remove an image unless a container uses it (another build's step, say), as prune would."""
    try:
        client.images.remove(image_id, noprune=True)
    except docker.errors.NotFound:
        pass  # gone already: what was wanted
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409 Conflict: in use by a container
            raise
