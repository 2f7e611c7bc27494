"""Peak memory and wall time of export, release and deploy with a ~1.5 GB base image.

Beside them, the same work done by hand with the command-line tools, as the procedure does it today:

- export:  docker save -o, sha256sum, 7z a -tzip -mem=AES256, sha256sum of the archive
- deploy:  sha256sum -c, 7z x, docker load -i (the image from the release)

Each command runs as a child process; its peak resident set size comes from ``os.wait4`` (that one
process; a shell pipeline's children are not counted, so the manual steps run one by one). Not a
test: run it by hand. Everything it makes is removed at the end.

    python bench/round_trip_memory.py [--layers 3] [--layer-mb 500] [--level 1]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from save_load_memory import REPO_ROOT, build_big_image, node_standin  # noqa: E402

from airgapkit.engine import client as engine_client  # noqa: E402

LIMIT_MB = 100
RISK = "bench: a 1.5 GB base image on purpose"


def own_peak_mb(pid: int) -> float | None:
    """The process's own high-water RSS (VmHWM), children excluded; None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def measure(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """Run argv; (wall s, its own peak MB, peak MB with the children it waited for).

    The process's own peak is polled from /proc while it runs (VmHWM only grows); the kernel's
    wait4 figure also counts the programs it ran and waited for (npm, for one).
    """
    started = time.monotonic()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    own = 0.0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        own = max(own, own_peak_mb(child.pid) or 0.0)
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode:
        sys.exit(f"{' '.join(argv)} failed ({child.returncode}): {err.strip()[-500:]}")
    return wall, own, usage.ru_maxrss / 1024  # Linux reports kilobytes


def make_app(workdir: Path) -> tuple[Path, str]:
    """The example app under a unique name, so its images never meet a real one."""
    app = workdir / "app"
    shutil.copytree(
        REPO_ROOT / "examples" / "tms-api",
        app,
        ignore=shutil.ignore_patterns("node_modules", ".env*"),
    )
    shutil.copy2(REPO_ROOT / "examples" / "tms-api" / ".env.example", app / ".env.example")
    name = f"agk-bench-{uuid.uuid4().hex[:8]}"
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data["name"] = name
        if file == "package-lock.json":
            data["packages"][""]["name"] = name
        (app / file).write_text(json.dumps(data, indent=2) + "\n")
    return app, name


def side(workdir: Path, name: str) -> Path:
    folder = workdir / name
    folder.mkdir()
    return folder


def manual_export(ref: str, folder: Path, level: int, password: str) -> list[tuple]:
    tar, archive = folder / "base.tar", folder / "base.zip"
    return [
        ("export", "docker save -o", *measure(["docker", "save", "-o", str(tar), ref], folder)),
        ("export", "sha256sum tar", *measure(["sha256sum", str(tar)], folder)),
        (
            "export",
            "7z a -mem=AES256",
            *measure(
                [
                    "7z",
                    "a",
                    "-tzip",
                    "-mem=AES256",
                    f"-mx={level}",
                    f"-p{password}",
                    str(archive),
                    str(tar),
                ],
                folder,
            ),
        ),
        ("export", "sha256sum zip", *measure(["sha256sum", str(archive)], folder)),
    ]


def manual_deploy(ref: str, folder: Path, password: str, client) -> list[tuple]:
    """The deploy side by hand, on an archive of the app image tar made here for the purpose."""
    tar = folder / "app.tar"
    subprocess.run(["docker", "save", "-o", str(tar), ref], check=True)
    archive = folder / "app.zip"
    subprocess.run(
        ["7z", "a", "-tzip", "-mem=AES256", "-mx=1", f"-p{password}", str(archive), str(tar)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tar.unlink()
    sums = folder / "app.zip.sha256"
    sums.write_text(
        subprocess.run(
            ["sha256sum", archive.name], cwd=folder, check=True, capture_output=True, text=True
        ).stdout
    )
    client.images.remove(ref, force=True)
    return [
        ("deploy", "sha256sum -c", *measure(["sha256sum", "-c", sums.name], folder)),
        ("deploy", "7z x", *measure(["7z", "x", "-y", f"-p{password}", archive.name], folder)),
        ("deploy", "docker load -i", *measure(["docker", "load", "-i", str(tar)], folder)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--layer-mb", type=int, default=500)
    parser.add_argument("--level", type=int, default=1, help="compression level for both sides")
    args = parser.parse_args()

    client = engine_client.connect(timeout=3600)
    base = f"agk-bench/base:{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="agk-bench-"))
    inv = [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT)]
    password = secrets.token_urlsafe(24)
    app, app_name = make_app(workdir)
    app_ref, container = f"{app_name}:1.0.0", f"{app_name}-prod"
    rows: list[tuple] = []
    try:
        print(f"building {base}: {args.layers} x {args.layer_mb} MB ...", flush=True)
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                size = build_big_image(
                    client,
                    node_standin.ensure_image(client),
                    base,
                    args.layers,
                    args.layer_mb,
                    workdir,
                )
            finally:
                sys.stdout = stdout
        print(f"base image {size / 1e9:.2f} GB", flush=True)
        level = ["--level", str(args.level), "--accept-risk", RISK]

        connected = side(workdir, "connected")
        rows.append(
            (
                "export",
                "inv export",
                *measure(
                    [*inv, "export", "--app", str(app), "--base-image", base, *level], connected
                ),
            )
        )
        rows += manual_export(base, side(workdir, "manual-connected"), args.level, password)

        dev = side(workdir, "dev")
        carried = {f: next(connected.rglob(f"*-base.zip{f}")) for f in ("", ".sha256", ".password")}
        rows.append(
            (
                "release",
                "inv release",
                *measure(
                    [
                        *inv,
                        "release",
                        str(carried[""]),
                        "--sums",
                        str(carried[".sha256"]),
                        "--password-file",
                        str(carried[".password"]),
                        *level,
                    ],
                    dev,
                ),
            )
        )

        prod = side(workdir, "prod")
        shutil.copy2(app / ".env.example", prod / ".env.example")
        shutil.copy2(app / ".env.example", prod / ".env.prod")
        (prod / ".env.prod").chmod(0o600)
        released = {f: next(dev.rglob(f"*-release.zip{f}")) for f in ("", ".sha256", ".password")}
        client.images.remove(app_ref, force=True)  # prod has only what came in the bundle
        rows.append(
            (
                "deploy",
                "inv deploy",
                *measure(
                    [
                        *inv,
                        "deploy",
                        str(released[""]),
                        "--env",
                        "prod",
                        "--sums",
                        str(released[".sha256"]),
                        "--password-file",
                        str(released[".password"]),
                        "--name",
                        container,
                        "--ports",
                        "127.0.0.1:18089:8080",
                    ],
                    prod,
                ),
            )
        )
        client.containers.get(container).remove(force=True)
        rows += manual_deploy(app_ref, side(workdir, "manual-prod"), password, client)
    finally:
        for ref in (container,):
            try:
                client.containers.get(ref).remove(force=True)
            except docker.errors.NotFound:
                pass
        for ref in (base, app_ref):
            try:
                client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass
        shutil.rmtree(workdir, ignore_errors=True)
    report(rows)
    return 0 if worst_own(rows) < LIMIT_MB else 1


def report(rows: list[tuple]) -> None:
    manual: dict[str, float] = {}
    for step, label, wall, _, _ in rows:
        if not label.startswith("inv"):
            manual[step] = manual.get(step, 0.0) + wall
    header = ("step", "command", "wall s", "own peak MB", "with children MB")
    print("\n{:<8} {:<20} {:>8} {:>12} {:>17}".format(*header))
    for step, label, wall, own, tree in rows:
        print(f"{step:<8} {label:<20} {wall:>8.1f} {own:>12.1f} {tree:>17.1f}")
    print("\nstep     airgapkit / by hand (wall)")
    for step, label, wall, _, _ in rows:
        if label.startswith("inv") and step in manual:
            print(f"{step:<8} {wall / manual[step]:.2f}")
    print(f"\nown peak of the tasks: {worst_own(rows):.1f} MB (limit {LIMIT_MB} MB)")


def worst_own(rows: list[tuple]) -> float:
    return max(own for _, label, _, own, _ in rows if label.startswith("inv"))


if __name__ == "__main__":
    sys.exit(main())
