"""Peak memory and wall time of ``inv save`` / ``inv load`` on a ~1.5 GB image, beside the CLI.

Builds an image of its own (the node stand-in plus three 500 MB layers of random data made inside
the build, network off), then runs each command as a child process and reads that child's peak
resident set size from ``os.wait4`` (the kernel's ru_maxrss for exactly that process). Prints a
table and removes the image and the tars it made. Not a test: run it by hand.

    python bench/save_load_memory.py [--layers 3] [--layer-mb 500] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

import node_standin  # noqa: E402

from airgapkit.engine import client as engine_client  # noqa: E402
from airgapkit.engine import images  # noqa: E402

LIMIT_MB = 100  # the task's peak memory must stay under this, whatever the image size


def measure(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run argv; return (wall seconds, peak RSS in MB) of that one child process."""
    started = time.monotonic()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)  # rusage of this child alone, not of all children
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode:
        sys.exit(f"{' '.join(argv)} failed ({child.returncode}): {err.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1024  # Linux reports kilobytes


def build_big_image(client, base: str, ref: str, layers: int, layer_mb: int, workdir: Path) -> int:
    context = workdir / "context"
    context.mkdir()
    runs = "".join(
        f"RUN dd if=/dev/urandom of=/blob{n} bs=1M count={layer_mb} 2>/dev/null\n"
        for n in range(layers)
    )
    (context / "Dockerfile").write_text(f"FROM {base}\n{runs}")
    images.build(client, context, ref, offline=True)  # random data made inside: no network at all
    return client.images.get(ref).attrs["Size"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--layer-mb", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: /tmp)")
    args = parser.parse_args()

    client = engine_client.connect(timeout=3600)
    base = node_standin.ensure_image(client)
    ref = f"agk-bench/big:{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="agk-bench-", dir=args.workdir))
    inv = [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT)]
    rows = []
    try:
        print(f"building {ref}: {args.layers} x {args.layer_mb} MB of random data ...", flush=True)
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet  # the build log is not the point here
            try:
                size = build_big_image(client, base, ref, args.layers, args.layer_mb, workdir)
            finally:
                sys.stdout = stdout
        print(f"image size {size / 1e9:.2f} GB", flush=True)

        task_tar, cli_tar = workdir / "task.tar", workdir / "cli.tar"
        rows.append(
            (
                "save",
                "inv save",
                *measure([*inv, "save", "--image", ref, "--output", str(task_tar)], workdir),
            )
        )
        rows.append(
            (
                "save",
                "docker save -o",
                *measure(["docker", "save", "-o", str(cli_tar), ref], workdir),
            )
        )
        (workdir / "SHA256SUMS").write_text(f"{sha256_of(task_tar)}  task.tar\n")

        loads = [
            ("inv load --no-verify", [*inv, "load", "--input", str(task_tar), "--no-verify"]),
            ("inv load (verified)", [*inv, "load", "--input", str(task_tar)]),
            ("docker load -i", ["docker", "load", "-i", str(cli_tar)]),
        ]
        for label, argv in loads:
            client.images.remove(ref, force=True)
            rows.append(("load", label, *measure(argv, workdir)))
            client.images.get(ref)  # the load really brought it back
    finally:
        try:
            client.images.remove(ref, force=True)
        except docker.errors.NotFound:
            pass
        shutil.rmtree(workdir, ignore_errors=True)

    cli = {op: (wall, rss) for op, label, wall, rss in rows if label.startswith("docker")}
    header = ("op", "command", "wall s", "peak MB", "wall/cli", "mem/cli")
    print("\n{:<5} {:<22} {:>7} {:>8} {:>9} {:>8}".format(*header))
    for op, label, wall, rss in rows:
        cwall, crss = cli[op]
        ratios = f"{wall / cwall:>9.2f} {rss / crss:>8.2f}"
        print(f"{op:<5} {label:<22} {wall:>7.1f} {rss:>8.1f} {ratios}")
    worst = max(rss for _, label, _, rss in rows if label.startswith("inv"))
    print(
        f"\npeak of the tasks: {worst:.1f} MB (limit {LIMIT_MB} MB): "
        f"{'OK' if worst < LIMIT_MB else 'OVER'}"
    )
    return 0 if worst < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
