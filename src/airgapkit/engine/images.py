"""The Docker Engine through the docker SDK: pull, save, load, build, run, prune.

Every function takes a connected client (see ``connect``) and turns what the engine or the SDK
raises into an ``AirgapError`` whose one-line message names the thing and says what to do.
Progress goes to stderr (rich), so stdout stays for what a user may pipe: build and container logs.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import docker
import requests
from docker.models.containers import Container
from docker.models.images import Image
from rich.console import Console
from rich.filesize import decimal as human_size
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from ..errors import AirgapError, EngineUnavailable, ImageMissing, IntegrityError

# Progress and notices on stderr; stdout carries logs only.
# One notice, one line, even in a CI log; no markup or highlighting: names and paths print as is.
console = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)

CHUNK = 1024 * 1024  # save and load move 1 MiB at a time: memory stays flat whatever the image size
PROBE_TIMEOUT = 15  # seconds to wait for the first answer before declaring the engine unreachable

# The distribution reference grammar (github.com/distribution/reference), written out because the
# SDK only splits references, never validates them; the engine's message for a bad one is cryptic.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
PORTS = re.compile(
    r"^(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?P<host>\d{1,5}):(?P<container>\d{1,5})(?:/(?P<proto>tcp|udp))?$"
)
BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- connection and error translation -------------------------------------------------------------


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout: int = 3600) -> docker.DockerClient:
    """A client that answered a ping, with a per-call timeout fit for multi-GB saves and loads."""
    try:
        # Probe with a short timeout: an unreachable TCP engine must not hang for the long one.
        client = docker.from_env(timeout=min(timeout, PROBE_TIMEOUT))
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        raise EngineUnavailable(
            f"no Docker Engine answers at {_engine_address()} (DOCKER_HOST or the default socket); "
            "start the engine (systemctl start docker, or dockerd &) "
            "or point DOCKER_HOST at a running one"
        ) from None
    client.api.timeout = timeout  # the SDK's default 60 s breaks saves and loads of large images
    return client


def _explain(exc: Exception) -> str:
    """The engine's own words for an APIError, on one line."""
    text = getattr(exc, "explanation", None) or str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " ".join(str(text).split())


@contextmanager
def _engine_errors(doing: str):
    """Turn SDK and transport exceptions escaping from ``doing`` into one-line AirgapErrors."""
    try:
        yield
    except AirgapError:
        raise
    except requests.exceptions.ReadTimeout:
        raise AirgapError(
            f"the Docker Engine did not answer in time while trying to {doing}; "
            "raise airgapkit.engine_timeout in invoke.yaml"
        ) from None
    except requests.exceptions.ConnectionError:
        raise EngineUnavailable(
            f"lost the Docker Engine at {_engine_address()} while trying to {doing}; "
            "check it is running"
        ) from None
    except docker.errors.DockerException as exc:
        raise AirgapError(f"could not {doing}: {_explain(exc)}") from None


def _stream_error(event: dict) -> str | None:
    """The error message of one JSON event of a pull, load or build stream, if it carries one."""
    detail = event.get("errorDetail") or {}
    message = event.get("error") or detail.get("message")
    return " ".join(str(message).split()) if message else None


# --- references and names -------------------------------------------------------------------------


def validate_ref(ref: str, *, allow_digest: bool = True) -> str:
    """``ref`` if it is a well-formed image reference (or image id), else a clear AirgapError."""
    ref = (ref or "").strip()
    if IMAGE_ID.match(ref):  # an image id is as good as a name for a local image
        return ref
    match = REFERENCE.match(ref)
    if not match or len(match.group("name")) > 255:
        raise AirgapError(
            f"image reference {ref!r} is malformed; write it as name:tag "
            "(lowercase name, e.g. tms_api:1.0.0 or registry:5000/team/node:20-alpine)"
        )
    if match.group("digest") and not allow_digest:
        raise AirgapError(
            f"image tag {ref!r} holds a digest; tag an image as name:tag, e.g. tms_api:1.0.0"
        )
    return ref


def tar_name(ref: str) -> str:
    """A safe file name for an image's tar: node:20-alpine -> node-20-alpine.tar."""
    name, _, digest = ref.partition("@")
    if digest:  # sha256:<64 hex> is too long for a file name people read
        algo, _, hexpart = digest.partition(":")
        name = f"{name}-{algo}-{hexpart[:12]}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")
    return f"{safe or 'image'}.tar"


def default_container_name(ref: str) -> str:
    """The image's name without registry, path or tag, made valid as a container name."""
    name = ref.partition("@")[0]
    name = name.rsplit("/", 1)[-1].partition(":")[0]
    name = re.sub(r"[^a-zA-Z0-9_.-]+", "-", name).lstrip("._-")
    return name or "app"


# --- images ---------------------------------------------------------------------------------------


def require_image(client: docker.DockerClient, ref: str) -> Image:
    """The local image, or ImageMissing naming the tar to load: the air-gapped side never pulls."""
    with _engine_errors(f"look up image {ref}"):
        image = _local_image(client, ref)
    if image is None:
        raise ImageMissing(
            f"image {ref} is not in the local engine; "
            f"load it with `inv load --input {tar_name(ref)}`"
        )
    return image


def _local_image(client: docker.DockerClient, ref: str) -> Image | None:
    try:
        return client.images.get(ref)
    except docker.errors.NotFound:
        return None


def _pull_progress() -> Progress:
    return Progress(
        TextColumn("{task.fields[layer]}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[status]}", markup=False),
        console=console,
    )


def pull(client: docker.DockerClient, ref: str, if_missing: bool = False) -> str:
    """Pull ``ref`` with a progress bar per layer; ``if_missing`` uses a local copy as it is."""
    ref = validate_ref(ref)
    if if_missing:
        with _engine_errors(f"look up image {ref}"):
            local = _local_image(client, ref)
        if local is not None:  # the document's "base image on local repository" scenario
            console.print(f"{ref} is already in the local engine ({local.short_id}); not pulling")
            return local.id
    repository, tag = docker.utils.parse_repository_tag(ref)
    try:
        with _engine_errors(f"pull {ref}"), _pull_progress() as progress:
            _follow_pull(
                progress,
                client.api.pull(repository, tag=tag or "latest", stream=True, decode=True),
                ref,
            )
    except AirgapError as exc:
        if re.search(
            r"not found|manifest unknown|does not exist|pull access denied", str(exc), re.I
        ):
            raise ImageMissing(
                f"image {ref} was not found in its registry; check the name and tag ({exc})"
            ) from None
        raise AirgapError(
            f"{exc}; check that its registry is reachable, or use --if-missing with a local copy"
        ) from None
    image = client.images.get(ref)
    console.print(f"pulled {ref} ({image.short_id})")
    return image.id


def _follow_pull(progress: Progress, events: Iterable[dict], ref: str) -> None:
    """Drive one progress task per layer id from the pull stream; stop on an error event."""
    layers: dict[str, int] = {}
    for event in events:
        error = _stream_error(event)
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


def save_stream(client: docker.DockerClient, refs: list[str]) -> Iterator[bytes]:
    """The chunks of ``docker save`` for ``refs``, repo tags kept; a missing image: ImageMissing."""
    for ref in refs:
        validate_ref(ref)
        require_image(client, ref)  # the engine's own error for a missing name is vague
    # The engine reports a failure on the first chunk, so the whole iteration sits inside the guard.
    with _engine_errors(f"save {', '.join(refs)}"):
        if len(refs) == 1:
            yield from client.api.get_image(refs[0], chunk_size=CHUNK)
        else:
            # The SDK wraps only the one-image endpoint; /images/get?names=a&names=b keeps each tag.
            api = client.api
            response = api._get(api._url("/images/get"), params={"names": refs}, stream=True)
            yield from api._stream_raw_result(response, CHUNK, False)


def _bytes_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    )


def save(client: docker.DockerClient, refs: list[str], dest: Path) -> Path:
    """Stream ``docker save`` of ``refs`` into ``dest``; the file appears only when complete."""
    refs = [validate_ref(ref) for ref in refs]
    images = {image.id: image for image in (require_image(client, ref) for ref in refs)}
    estimate = sum(image.attrs.get("Size", 0) for image in images.values())  # about the tar's size
    dest = Path(dest)
    if dest.is_dir():  # --output build/ means a file in that folder
        dest = dest / tar_name(refs[0])
    try:
        written = _save_to(client, refs, dest, estimate)
    except OSError as exc:
        raise AirgapError(
            f"could not write {dest}: {exc.strerror or exc}; choose another --output or free space"
        ) from None
    console.print(f"saved {', '.join(refs)} to {dest} ({human_size(written)})")
    return dest


def _save_to(client: docker.DockerClient, refs: list[str], dest: Path, estimate: int) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name in the same folder: the final rename is atomic, never a half-written tar.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, _bytes_progress() as progress:
            task = progress.add_task(f"save {dest.name}", total=estimate or None)
            for chunk in save_stream(client, refs):
                out.write(chunk)
                written += len(chunk)
                progress.update(task, completed=written, total=max(estimate, written))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:  # Ctrl-C and a full disk included: never leave a partial file behind
        tmp.unlink(missing_ok=True)
        raise
    return written


# --- load -----------------------------------------------------------------------------------------


def _chunks(fileobj: BinaryIO, progress: Progress, task) -> Iterator[bytes]:
    """Read an open binary file a chunk at a time: no seek, no whole read, so any stream will do."""
    while chunk := fileobj.read(CHUNK):
        progress.advance(task, len(chunk))
        yield chunk


def _size_of(fileobj: BinaryIO) -> int | None:
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # a decrypting stream has no file descriptor
        return None


def load(client: docker.DockerClient, fileobj: BinaryIO, size: int | None = None) -> list[str]:
    """``docker load`` from an open binary file object; returns the tags (or ids) loaded."""
    loaded: list[str] = []
    with _engine_errors("load the image tar"), _bytes_progress() as progress:
        task = progress.add_task("load", total=size or _size_of(fileobj))
        # A generator body goes out chunked: requests never measures or seeks the stream.
        for event in client.api.load_image(_chunks(fileobj, progress, task)):
            error = _stream_error(event)
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


def load_verified(
    client: docker.DockerClient, tar: Path, sums: Path | None = None, verify: bool = True
) -> list[str]:
    """Check the tar against its SHA256SUMS (given, or the one beside it), then load it."""
    from ..crossing import sumsfile  # the one reader of hash files

    tar = Path(tar)
    if not tar.is_file():
        raise AirgapError(
            f"image tar {tar} does not exist; give the file made by `inv save` with --input"
        )
    if verify:
        sums = sums or sumsfile.find_sums(tar)
        if sums is None:
            raise IntegrityError(
                f"no SHA256SUMS found beside {tar}; pass the hashes file with --sums FILE, "
                "or --no-verify to load it unchecked"
            )
        if not Path(sums).is_file():
            raise AirgapError(
                f"hashes file {sums} does not exist; pass the SHA256SUMS you were sent with --sums"
            )
        sumsfile.verify_file(
            tar, Path(sums)
        )  # raises IntegrityError on a mismatch: nothing is loaded
    else:
        console.print(
            f"warning: loading {tar} without checking its SHA-256 (--no-verify)", style="yellow"
        )
    try:
        fileobj = open(tar, "rb")  # noqa: SIM115 - closed below, errors become one line
    except OSError as exc:
        raise AirgapError(f"could not read {tar}: {exc.strerror or exc}") from None
    with fileobj:
        return load(client, fileobj)


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
    if not context.is_dir():
        raise AirgapError(f"build context {context} is not a folder; pass the app folder")
    dockerfile_path = Path(dockerfile) if Path(dockerfile).is_absolute() else context / dockerfile
    if not dockerfile_path.is_file():
        raise AirgapError(
            f"Dockerfile {dockerfile_path} does not exist; pass an existing one with --dockerfile"
        )
    step, image_id = "", ""
    with _engine_errors(f"build {ref}"):
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
        for event in events:
            error = _stream_error(event)
            if error:
                hint = " (built offline: that step needs the network)" if offline else ""
                raise AirgapError(f"build of {ref} failed at {step or 'the start'}: {error}{hint}")
            text = event.get("stream") or ""
            if text.startswith("Step "):
                step = text.strip()
            sys.stdout.write(text)
            sys.stdout.flush()
            image_id = (event.get("aux") or {}).get("ID", image_id)
    return image_id or client.images.get(ref).id


def prune_build_cache(client: docker.DockerClient, stage_label: str = "") -> int:
    """``docker builder prune``: remove the build cache, print and return the bytes reclaimed.

    The classic builder's cache is made of untagged stage images; those marked with ``stage_label``
    go too.
    """
    with _engine_errors("prune the build cache"):
        reclaimed = int(client.api.prune_builds().get("SpaceReclaimed") or 0)
    if stage_label:
        reclaimed += prune_stage_images(client, stage_label)
    print(f"build cache pruned: {human_size(reclaimed)} reclaimed ({reclaimed} bytes)")
    return reclaimed


def prune_stage_images(client: docker.DockerClient, label: str) -> int:
    """Remove the untagged images that earlier build stages left (marked with ``label``).

    The classic builder keeps each multi-stage build's first stage as an untagged image; nothing
    uses it but the next build's cache, so it is removed rather than left to pile up.
    """
    with _engine_errors("remove untagged build-stage images"):
        reclaimed = client.images.prune(filters={"dangling": True, "label": label})
    return int(reclaimed.get("SpaceReclaimed") or 0)


# --- run and shell --------------------------------------------------------------------------------


def parse_ports(ports: str) -> dict[str, int | tuple[str, int]]:
    """``[IP:]HOST:CONTAINER[/proto]``, comma-separated, as the SDK's ``ports`` mapping."""
    bindings: dict[str, int | tuple[str, int]] = {}
    for spec in (ports or "").split(","):
        found = PORTS.match(spec.strip())
        numbers = [int(found.group("host")), int(found.group("container"))] if found else []
        if not found or not all(0 < n < 65536 for n in numbers):
            raise AirgapError(
                f"port mapping {spec.strip()!r} is malformed; write HOST:CONTAINER "
                "(e.g. 8080:8080 or 127.0.0.1:8080:8080)"
            )
        key = f"{found.group('container')}/{found.group('proto') or 'tcp'}"
        host = int(found.group("host"))
        bindings[key] = (found.group("ip"), host) if found.group("ip") else host
    return bindings


def _container_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.containers.get(name)
        return True
    except docker.errors.NotFound:
        return False


def _start_error(exc: AirgapError, name: str, bindings: dict) -> AirgapError:
    """A port conflict named as such; any other start failure as the engine said it."""
    if re.search(r"address already in use|port is already allocated", str(exc)):
        taken = re.search(r"(?:listen \w+ |Bind for )\S*?:(\d+)", str(exc))
        hosts = [str(b[1] if isinstance(b, tuple) else b) for b in bindings.values()]
        port = taken.group(1) if taken else ", ".join(hosts)
        return AirgapError(
            f"port {port} is already in use on this machine; "
            "stop what uses it or choose another with --ports HOST:CONTAINER"
        )
    return AirgapError(f"could not start container {name}: {exc}")


def run(
    client: docker.DockerClient,
    ref: str,
    *,
    name: str,
    ports: str = "8080:8080",
    env: dict | None = None,
    detach: bool = False,
    remove: bool = True,
) -> Container:
    """``docker run --name NAME --rm -p HOST:CONTAINER --env-file FILE IMAGE``, never pulling.

    ``env`` is the env file's content (``envfiles.load``); its values are passed on, never printed.
    """
    require_image(client, validate_ref(ref))  # containers.run would pull a missing image on its own
    bindings = parse_ports(ports)
    if not CONTAINER_NAME.match(name or ""):
        raise AirgapError(
            f"container name {name!r} is invalid; use letters, digits, '_', '.' or '-'"
        )
    environment = dict(env or {})
    with _engine_errors(f"create container {name}"):
        if _container_exists(client, name):
            raise AirgapError(
                f"a container named {name} already exists; "
                f"remove it (docker rm -f {name}) or choose another --name"
            )
        # Attached runs remove the container themselves, after reading its exit status.
        container = client.containers.create(
            ref,
            name=name,
            ports=bindings,
            environment=environment,
            detach=True,
            auto_remove=remove and detach,
        )
    try:
        with _engine_errors(f"start container {name}"):
            container.start()
    except AirgapError as exc:
        _discard(container)  # a created, never-started container would block the name
        raise _start_error(exc, name, bindings) from None
    published = ", ".join(
        f"{b if not isinstance(b, tuple) else ':'.join(map(str, b))}->{k}"
        for k, b in bindings.items()
    )
    console.print(
        f"started {name} ({container.short_id}) from {ref}, ports {published}, "
        f"{len(environment)} environment variable(s)"
    )
    if detach:
        return container
    _follow(client, container, name, remove)
    return container


def _discard(container: Container) -> None:
    """Remove a container; the engine may have removed it already (--rm)."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in _explain(exc):  # the engine's own --rm got there first
            raise AirgapError(
                f"could not remove container {container.name}: {_explain(exc)}"
            ) from None


def _follow(client: docker.DockerClient, container: Container, name: str, remove: bool) -> None:
    """Stream the container's log until it exits, or stop it on Ctrl-C; then remove it if asked."""
    try:
        with _engine_errors(f"follow container {name}"):
            for chunk in container.logs(stream=True, follow=True):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            status = client.api.wait(container.id, timeout=None).get("StatusCode", 0)
    except KeyboardInterrupt:
        console.print(f"stopping {name}")
        container.stop(timeout=10)
        status = 0
    finally:
        if remove:
            _discard(container)
    if status:
        raise AirgapError(f"container {name} exited with status {status}; its log is above")


def shell_argv(client: docker.DockerClient, image: str = "", container: str = "") -> list[str]:
    """The docker CLI line for an interactive shell: the SDK cannot hand over a real TTY."""
    if not shutil.which("docker"):
        raise AirgapError(
            "the docker command-line client is not installed; "
            "install it (Debian: apt-get install docker.io)"
        )
    if container:
        with _engine_errors(f"look up container {container}"):
            try:
                found = client.containers.get(container)
            except docker.errors.NotFound:
                raise AirgapError(
                    f"no container named {container}; list running ones with docker ps"
                ) from None
        if found.status != "running":
            raise AirgapError(
                f"container {container} is {found.status}, not running; start it first"
            )
        return ["docker", "exec", "-it", container, "sh"]
    require_image(client, validate_ref(image))  # docker run would pull a missing image
    return ["docker", "run", "-it", "--rm", image, "sh"]
