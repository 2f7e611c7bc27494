"""Registry-direct export beside skopeo and docker save, on the same images in a loopback registry.

One run: starts a registry (Debian's docker-registry) on loopback, pushes the node stand-in and a
bigger image of its own (the stand-in plus a layer of random data and a layer holding part of this
machine's /usr/lib, all made with the network off) to it with the engine, then for each image times

- ``skopeo copy docker://... oci-archive:...`` (the layers as the registry holds them);
- ``docker save -o`` (the engine re-assembles every layer uncompressed);
- ``airgapkit.oci.export_image`` into a file (the same blobs, streamed, checked, no engine asked),

and, for the big image, the whole base bundle: ``inv export --source registry`` with DOCKER_HOST
pointing at nothing (gate, npm pack of the example app, the stored image member, AES-256 zip,
hashes), ``inv pack`` alone, and the procedure by hand (``docker save``, ``sha256sum``,
``7z -mx=1`` AES zip, ``sha256sum``); "x blobs" for the export is its image member over the blobs,

each as a child process, with its wall time, peak resident memory (``os.wait4``) and output size.
The blobs' total (config + compressed layers, from the manifest) is the floor for both OCI outputs.
Prints a Markdown table; removes what it made. Not a test: run it by hand, through an engine:

    python bench/registry_export.py [--random-mb 400] [--lib-mb 800] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import docker

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

import node_standin  # noqa: E402
import registries  # noqa: E402

from airgapkit.oci import platforms, reference  # noqa: E402
from airgapkit.oci.registry import Registry  # noqa: E402
from airgapkit.oci.remote import resolve  # noqa: E402

# The child prints how long the export itself took, without the interpreter's start and imports.
EXPORT = (
    "import sys, time; from airgapkit.oci import export_image\n"
    "started = time.perf_counter()\n"
    "with open(sys.argv[2], 'wb') as sink: export_image(sys.argv[1], sink)\n"
    "print(time.perf_counter() - started)\n"
)


def measure(argv: list[str]) -> tuple[float, float, str]:
    """Run argv; (wall seconds, peak RSS MB, stdout) of that one child process.

    The peak is the child's own VmHWM, read from /proc while it runs: the kernel resets it at exec,
    unlike ru_maxrss, which would count the parent's memory copied at fork.
    """
    started = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_kb = 0
    while child.poll() is None:
        peak_kb = max(peak_kb, vm_hwm_kb(child.pid))
        time.sleep(0.02)
    wall = time.monotonic() - started
    out, err = child.communicate()
    if child.returncode:
        sys.exit(f"{' '.join(argv)} failed: {err.decode(errors='replace').strip()[-800:]}")
    return wall, peak_kb / 1024, out.decode().strip()


def vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def lib_tar(dest: Path, limit_mb: int) -> int:
    """A tar of /usr/lib's regular files, in path order, up to ``limit_mb`` MB."""
    total, limit = 0, limit_mb * 1_000_000
    with tarfile.open(dest, "w") as tar:
        for folder, dirs, files in os.walk("/usr/lib"):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder, name)
                if path.is_symlink() or not path.is_file():
                    continue
                size = path.stat().st_size
                if total + size > limit:
                    return total
                tar.add(path, arcname=str(path.relative_to("/")))
                total += size
    return total


def build_big(client, base: str, ref: str, random_mb: int, lib_mb: int, workdir: Path) -> None:
    context = workdir / "context"
    context.mkdir()
    lib_tar(context / "usrlib.tar", lib_mb)
    (context / "Dockerfile").write_text(
        f"FROM {base}\n"
        f"RUN dd if=/dev/urandom of=/random.bin bs=1M count={random_mb} 2>/dev/null\n"
        "ADD usrlib.tar /opt/hostlib/\n"
    )
    client.images.build(path=str(context), tag=ref, pull=False, network_mode="none", rm=True)
    shutil.rmtree(context)


def push(client, ref: str) -> None:
    for line in client.api.push(ref, stream=True, decode=True):
        if "error" in line:
            sys.exit(f"push {ref}: {line['error']}")


def blobs_total(ref: str) -> int:
    with Registry(reference.parse(ref)) as registry:
        image = resolve(registry, platforms.parse(platforms.DEFAULT))
    return image.manifest.compressed_size + len(image.config_raw) + len(image.manifest.raw)


def commands(ref: str, out: Path) -> dict[str, list[str]]:
    return {
        "skopeo copy oci-archive": [
            "skopeo", "copy", "--quiet", "--src-tls-verify=false",
            f"docker://{ref}", f"oci-archive:{out}",
        ],
        "docker save -o": ["docker", "save", "-o", str(out), ref],
        "airgapkit oci export": [sys.executable, "-c", EXPORT, ref, str(out)],
    }  # fmt: skip


APP = REPO_ROOT / "examples" / "tms-api"
RISK = "bench: no scanner report"


def flow_commands(ref: str, workdir: Path) -> dict[str, list[str]]:
    """The whole base bundle, and the procedure by hand for the image part of it."""
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT)]
    export = [
        *invoke,
        "export",
        "--source",
        "registry",
        "--app",
        str(workdir / "app"),
        "--base-image",
        ref,
        "--accept-risk",
        RISK,
    ]
    tar, zip_ = workdir / "by-hand.tar", workdir / "by-hand.zip"
    by_hand = (
        f"docker save -o {tar} {ref} && sha256sum {tar} >/dev/null && "
        f"printf 'bench-password\\nbench-password\\n' | 7z a -tzip -mx=1 -mem=AES256 -p {zip_} {tar} "
        f">/dev/null && sha256sum {zip_} >/dev/null"
    )  # the password reaches 7z on stdin, never in argv
    return {
        "inv export --source registry (no engine)": export,
        "inv pack (its npm part alone)": [*invoke, "pack", "--app", str(workdir / "app"),
                                          "--output", str(workdir / "pack")],
        "by hand: docker save, sha256sum, 7z -mx=1 AES, sha256sum": ["sh", "-c", by_hand],
    }  # fmt: skip


def bench_flows(ref: str, floor: int, repeat: int, workdir: Path, skopeo: float) -> list[str]:
    shutil.copytree(APP, workdir / "app", ignore=shutil.ignore_patterns("node_modules", ".env*"))
    # npm's cache warm and node_modules in place: the npm registry's latency is not what is measured
    subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=workdir / "app", check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    connected = workdir / "connected"
    lines = []
    for name, argv in flow_commands(ref, workdir).items():
        runs = []
        for _ in range(repeat):
            shutil.rmtree(connected, ignore_errors=True)
            connected.mkdir()
            runs.append(measure_in(argv, connected, name.startswith("inv export")))
        wall = statistics.median(w for w, _, _ in runs)
        size = member = ""
        archives = list(connected.glob("dist/*.zip")) or list(workdir.glob("by-hand.zip"))
        if archives:
            size = f"{archives[0].stat().st_size / 1e6:.0f}"
        if name.startswith("inv export"):
            member = f"{image_member_size(archives[0], connected) / floor:.3f}"
        peak = "" if name.startswith("by hand") else f"{max(p for _, p, _ in runs):.0f}"  # sh's own
        lines.append(
            f"| big | {name} | {wall:.2f} | | {wall / skopeo:.2f} | {peak} | {size} | {member} |"
        )
        for leftover in ("by-hand.tar", "by-hand.zip"):
            (workdir / leftover).unlink(missing_ok=True)
    return lines


def measure_in(argv: list[str], cwd: Path, no_engine: bool) -> tuple[float, float, str]:
    old = os.getcwd(), os.environ.get("DOCKER_HOST")
    os.chdir(cwd)
    if no_engine:
        os.environ["DOCKER_HOST"] = f"unix://{cwd}/no-engine.sock"
    try:
        return measure(argv)
    finally:
        os.chdir(old[0])
        if old[1] is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old[1]


def image_member_size(archive: Path, connected: Path) -> int:
    from airgapkit.crossing.archive import ArchiveReader

    password = next(connected.glob("dist-password/*.password")).read_text().strip()
    with ArchiveReader(archive, password) as reader:
        return next(i.file_size for i in reader.infos() if i.filename.startswith("images/"))


def bench_image(ref: str, label: str, uncompressed: int, repeat: int, workdir: Path) -> list[str]:
    floor = blobs_total(ref)
    rows, times = [], {}
    for name, argv in commands(ref, workdir / "out.tar").items():
        runs = []
        for _ in range(repeat):
            (workdir / "out.tar").unlink(missing_ok=True)
            runs.append(measure(argv))
        size = (workdir / "out.tar").stat().st_size
        (workdir / "out.tar").unlink()
        wall = statistics.median(w for w, _, _ in runs)
        inner = statistics.median(float(o) for _, _, o in runs) if runs[0][2] else None
        times[name] = wall
        rows.append((name, wall, inner, max(p for _, p, _ in runs), size))
    skopeo = times["skopeo copy oci-archive"]
    lines = []
    for name, wall, inner, peak, size in rows:
        export = f"{inner:.2f}" if inner is not None else ""
        lines.append(
            f"| {label} | {name} | {wall:.2f} | {export} | {wall / skopeo:.2f} | {peak:.0f} "
            f"| {size / 1e6:.0f} | {size / floor:.3f} |"
        )
    lines.append(
        f"| {label} | blobs: config, manifest, compressed layers (uncompressed "
        f"{uncompressed / 1e6:.0f} MB) | | | | | {floor / 1e6:.0f} | 1.000 |"
    )
    if label == "big":
        lines += bench_flows(ref, floor, repeat, workdir, skopeo)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random-mb", type=int, default=400)
    parser.add_argument("--lib-mb", type=int, default=800)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    for tool in ("skopeo", "docker", "docker-registry"):
        if not shutil.which(tool):
            sys.exit(
                f"{tool} is not installed (apt-get install {tool if tool != 'docker' else 'docker.io'})"
            )
    client = docker.from_env(timeout=3600)
    base = node_standin.ensure_image(client)
    workdir = Path(tempfile.mkdtemp(prefix="agk-bench-", dir=args.workdir))
    os.environ["TMPDIR"] = str(workdir)  # skopeo stages its archive there: same disk for everyone
    name = f"agk-bench-{uuid.uuid4().hex[:8]}"
    tags: list[str] = []
    try:
        with registries.serve(workdir / "registry") as served:
            small, big = f"{served.addr}/{name}/node:20-alpine", f"{served.addr}/{name}/big:1"
            client.images.get(base).tag(small)
            tags.append(small)
            print(
                f"building the big image ({args.random_mb} MB random + {args.lib_mb} MB of /usr/lib)"
            )
            build_big(client, base, big, args.random_mb, args.lib_mb, workdir)
            tags.append(big)
            for ref in (small, big):
                print(f"pushing {ref}")
                push(client, ref)
            print(f"\n{args.repeat} run(s) each, medians; export s: the export call alone\n")
            print(
                "| image | command | wall s | export s | x skopeo | peak MB | output MB | x blobs |"
            )
            print("|---|---|---:|---:|---:|---:|---:|---:|")
            for ref, label in ((small, "stand-in"), (big, "big")):
                uncompressed = client.images.get(ref).attrs["Size"]
                for line in bench_image(ref, label, uncompressed, args.repeat, workdir):
                    print(line)
    finally:
        for ref in tags:
            try:
                client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
