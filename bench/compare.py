"""airgapkit against the procedure by hand, on one bench image, in one run, at airgapkit's defaults.

The bench image is the node stand-in (tests/support/node_standin.py) plus a layer of random bytes
(``--random-mb``, 300 by default: images are full of compressed files) and a compressible layer,
the first ``--lib-mb`` MB of a tar of /usr/lib in name order (850 by default); 1.2 GB or more in
all. Then, each as a child process, as a user types them:

- export by hand: ``docker save -o``, ``sha256sum``, ``7z a -tzip -mem=AES256 -mx=1``, ``sha256sum``;
  airgapkit: ``inv export`` (it also runs ``npm ci`` and ``npm pack`` and the image rules);
- ``inv release`` of that bundle (by hand it is a build plus the export's steps: no twin here);
- import by hand: ``sha256sum -c``, ``7z x``, ``docker load -i`` of the export made by hand;
  airgapkit: ``inv deploy`` of the release (the bench image plus the app's layers, so a little more);
- ``docker save -o`` against ``inv save``; ``sha256sum -c`` + ``docker load -i`` against ``inv load``.

Before every import the bench image and the app image are removed, so each load brings in every
layer. Before every step the bench runs ``sync``, so one step's dirty pages are not written back on
the next one's clock. Seconds are wall time; "peak MB" is the process's own high-water RSS
(VmHWM, polled from /proc while it runs; children such as npm are not counted). 7-Zip gets its
password through ``-p`` in argv, readable by any user in ``ps``: it has no other non-interactive
way; airgapkit reads its own from files. Needs a Docker Engine (DOCKER_HOST), 7z, npm and the
registry npm uses. Everything it makes is removed at the end.

    python bench/compare.py [--random-mb 300] [--lib-mb 850] [--level N] [--keep-image]

``build_bench_image(client) -> ref`` builds the bench image alone, for other benches to import.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

import docker  # noqa: E402
import node_standin  # noqa: E402

RISK = "bench: a 1.3 GB stand-in base image on purpose"
RANDOM_MB, LIB_MB = 300, 850  # the bench image's layers: random bytes, the start of a /usr/lib tar
LIMIT_MB = 100  # the Python process's peak must stay under this, whatever the image size
INV = [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT)]


@dataclass
class Step:
    work: str  # export, import, save, load, release
    who: str  # "by hand" or "airgapkit"
    command: str
    seconds: float
    peak_mb: float
    times: str = ""  # an airgapkit run's own phase times (its "times:" line), "" for the others


@dataclass
class Run:
    steps: list[Step] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # archive name -> bytes

    def measure(self, work: str, who: str, argv: list[str], cwd: Path, label: str = "") -> None:
        seconds, peak, times = measure(argv, cwd)
        step = Step(work, who, label or " ".join(argv[:3]), seconds, peak, times)
        self.steps.append(step)
        print(f"  {work:<8} {step.command:<34} {seconds:>7.1f} s {peak:>7.1f} MB", flush=True)
        if times:
            print(f"           {times}", flush=True)

    def total(self, work: str, who: str) -> float:
        return sum(s.seconds for s in self.steps if s.work == work and s.who == who)


def own_peak_mb(pid: int) -> float:
    """The process's own high-water RSS (VmHWM), children excluded; 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def measure(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run argv after a sync; (wall seconds, its own peak MB polled while it runs, the phase
    times an airgapkit run says on its last ``times:`` line, else "")."""
    os.sync()
    started = time.monotonic()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    while child.poll() is None:  # VmHWM only grows: the last reading before exit is the peak
        peak = max(peak, own_peak_mb(child.pid))
        time.sleep(0.05)
    seconds = time.monotonic() - started
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode:
        sys.exit(f"{' '.join(argv[:4])} failed ({child.returncode}): {err.strip()[-3000:]}")
    said = [line for line in err.splitlines() if line.startswith("times: ")]
    return seconds, peak, said[-1] if said else ""


def build_bench_image(
    client=None, ref: str = "", random_mb: int = RANDOM_MB, lib_mb: int = LIB_MB
) -> str:
    """Build the bench image (the stand-in, a random layer, a compressible layer) with the network
    off and return its reference (``agk-bench/base:<random>`` unless ``ref`` is given)."""
    client = client or docker.from_env(timeout=3600)
    ref = ref or f"agk-bench/base:{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="agk-bench-image-") as scratch:
        _write_context(Path(scratch), node_standin.ensure_image(client), random_mb, lib_mb)
        client.images.build(path=scratch, tag=ref, network_mode="none", rm=True, forcerm=True)
    return ref


def _write_context(context: Path, base: str, random_mb: int, lib_mb: int) -> None:
    with open(context / "usrlib.tar", "wb") as out:
        tar = subprocess.Popen(
            ["tar", "cf", "-", "--sort=name", "-C", "/", "usr/lib"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        left = lib_mb * 10**6
        while left and (chunk := tar.stdout.read(min(left, 1 << 20))):
            out.write(chunk)
            left -= len(chunk)
        tar.kill()
        tar.wait()
    (context / "Dockerfile").write_text(
        f"FROM {base}\n"
        f"RUN dd if=/dev/urandom of=/random.bin bs=1M count={random_mb} 2>/dev/null\n"
        "COPY usrlib.tar /usrlib.tar\n"
    )


def own_layers(ref: str) -> set[str]:
    """The bench image's layers that the stand-in does not have: the ones a load must write."""
    client = docker.from_env()
    standin = client.images.get(node_standin.ensure_image(client))
    return set(client.images.get(ref).attrs["RootFS"]["Layers"]) - set(
        standin.attrs["RootFS"]["Layers"]
    )


def make_app(workdir: Path) -> tuple[Path, str]:
    """The example app under a unique name, so its images never meet a real one."""
    app = workdir / "app"
    example = REPO_ROOT / "examples" / "tms-api"
    shutil.copytree(example, app, ignore=shutil.ignore_patterns("node_modules", ".env*"))
    shutil.copy2(example / ".env.example", app / ".env.example")
    name = f"agk-bench-{uuid.uuid4().hex[:8]}"
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data["name"] = name
        if file == "package-lock.json":
            data["packages"][""]["name"] = name
        (app / file).write_text(json.dumps(data, indent=2) + "\n")
    return app, name


def remove_images(*refs: str) -> None:
    client = docker.from_env()
    for ref in refs:
        try:
            client.images.remove(ref, force=True)
        except docker.errors.NotFound:
            pass


def forget_layers(layers: set[str]) -> None:
    """Remove every image that holds one of ``layers`` (the release build's intermediate images
    hold them too), so that the next load writes them all instead of skipping what exists."""
    client = docker.from_env()
    for _ in range(5):  # children first: an image with children cannot be removed
        holders = [
            image
            for image in client.images.list(all=True)
            if layers & set(image.attrs["RootFS"].get("Layers", []))
        ]
        if not holders:
            return
        for image in holders:
            try:
                client.images.remove(image.id, force=True)
            except (docker.errors.NotFound, docker.errors.APIError):
                pass
    sys.exit(f"could not remove the images that hold the bench layers: {holders}")


def folder(workdir: Path, name: str) -> Path:
    path = workdir / name
    path.mkdir()
    return path


def carried(where: Path, pattern: str) -> dict[str, Path]:
    """The archive, its hash and its password file, wherever the task put them under ``where``."""
    return {
        suffix: next(where.rglob(f"{pattern}{suffix}")) for suffix in ("", ".sha256", ".password")
    }


def export_by_hand(run: Run, ref: str, where: Path, password: str) -> Path:
    tar, archive = where / "base.tar", where / "base.zip"
    run.measure("export", "by hand", ["docker", "save", "-o", str(tar), ref], where)
    run.measure("export", "by hand", ["sha256sum", tar.name], where, "sha256sum base.tar")
    sevenzip = ["7z", "a", "-tzip", "-mem=AES256", "-mx=1", f"-p{password}", archive.name, tar.name]
    run.measure("export", "by hand", sevenzip, where, "7z a -tzip -mem=AES256 -mx=1")
    run.measure("export", "by hand", ["sha256sum", archive.name], where, "sha256sum base.zip")
    (where / "base.zip.sha256").write_text(
        subprocess.run(
            ["sha256sum", archive.name], cwd=where, check=True, capture_output=True, text=True
        ).stdout
    )
    run.sizes["7z a -tzip -mx=1"] = archive.stat().st_size
    tar.unlink()
    return archive


def import_by_hand(run: Run, archive: Path, password: str, layers: set[str]) -> None:
    where = archive.parent
    forget_layers(layers)
    run.measure("import", "by hand", ["sha256sum", "-c", "base.zip.sha256"], where)
    run.measure(
        "import", "by hand", ["7z", "x", "-y", f"-p{password}", archive.name], where, "7z x"
    )
    run.measure("import", "by hand", ["docker", "load", "-i", "base.tar"], where)


def save_and_load(run: Run, ref: str, where: Path, layers: set[str]) -> None:
    """docker save -o, inv save, docker save -o again (the engine's cache warms on the first)."""
    cli, task = where / "cli.tar", where / "task.tar"
    run.measure("save", "by hand", ["docker", "save", "-o", str(cli), ref], where)
    inv_save = [*INV, "save", "--image", ref, "--output", str(task)]
    run.measure("save", "airgapkit", inv_save, where, "inv save")
    cli.unlink()
    run.measure("save", "by hand", ["docker", "save", "-o", str(cli), ref], where)
    for tar in (cli, task):
        sums = subprocess.run(
            ["sha256sum", tar.name], cwd=where, check=True, capture_output=True, text=True
        )
        (where / f"{tar.stem}.sums").write_text(sums.stdout)
    forget_layers(layers)
    run.measure("load", "by hand", ["sha256sum", "-c", "cli.sums"], where)
    run.measure("load", "by hand", ["docker", "load", "-i", cli.name], where)
    forget_layers(layers)
    inv_load = [*INV, "load", "--input", task.name, "--sums", "task.sums"]
    run.measure("load", "airgapkit", inv_load, where, "inv load")


def airgapkit_round_trip(
    run: Run, base: str, layers: set[str], app: Path, app_name: str, workdir: Path, level: list
) -> str:
    """inv export, inv release, inv deploy, each in a folder standing for its machine."""
    connected = folder(workdir, "connected")
    export = [
        *INV,
        "export",
        "--app",
        str(app),
        "--base-image",
        base,
        "--accept-risk",
        RISK,
        *level,
    ]
    run.measure("export", "airgapkit", export, connected, "inv export")
    base_bundle = carried(connected, "*-base.zip")
    run.sizes["inv export"] = base_bundle[""].stat().st_size

    dev = folder(workdir, "dev")
    forget_layers(layers)  # the air-gapped side has only what came in the bundle
    release = [*INV, "release", str(base_bundle[""]), "--sums", str(base_bundle[".sha256"])]
    release += ["--password-file", str(base_bundle[".password"]), "--accept-risk", RISK, *level]
    run.measure("release", "airgapkit", release, dev, "inv release")
    release_bundle = carried(dev, "*-release.zip")
    run.sizes["inv release"] = release_bundle[""].stat().st_size

    prod = folder(workdir, "prod")
    shutil.copy2(app / ".env.example", prod / ".env.example")
    shutil.copy2(app / ".env.example", prod / ".env.prod")
    (prod / ".env.prod").chmod(0o600)
    app_ref, container = f"{app_name}:1.0.0", f"{app_name}-prod"
    forget_layers(layers)  # prod has none of them: the load brings in every layer
    deploy = [*INV, "deploy", str(release_bundle[""]), "--env", "prod"]
    deploy += ["--sums", str(release_bundle[".sha256"])]
    deploy += ["--password-file", str(release_bundle[".password"]), "--name", container]
    deploy += ["--ports", "127.0.0.1:18089:8080"]
    run.measure("import", "airgapkit", deploy, prod, "inv deploy")
    docker.from_env().containers.get(container).remove(force=True)
    return app_ref


def report(run: Run, image_size: int, level: int | None) -> None:
    settings = f"export and release at --level {level}" if level is not None else "default settings"
    print(f"\nbench image {image_size / 1e9:.2f} GB; airgapkit at its {settings}\n")
    print("| step | who | command | s | peak MB |\n|---|---|---|---:|---:|")
    for s in run.steps:
        print(f"| {s.work} | {s.who} | `{s.command}` | {s.seconds:.1f} | {s.peak_mb:.1f} |")
    save = [s.seconds for s in run.steps if s.work == "save" and s.who == "by hand"]
    save_cli = sum(save) / len(save)
    # the same tool on the same image varies by a third within a run: every run of it counts
    docker_save = statistics.median(s.seconds for s in run.steps if s.command == "docker save -o")
    docker_load = statistics.median(s.seconds for s in run.steps if s.command == "docker load -i")
    rows = [
        ("export (`inv export`)", "export", run.total("export", "by hand")),
        ("export against `docker save -o` alone (median of 3)", "export", docker_save),
        (
            "deploy (`inv deploy`) against the import by hand",
            "import",
            run.total("import", "by hand"),
        ),
        ("deploy against `docker load -i` alone (median of 2)", "import", docker_load),
        ("`inv save` against `docker save -o` (mean of 2)", "save", save_cli),
        (
            "`inv load` against `sha256sum -c` + `docker load -i`",
            "load",
            run.total("load", "by hand"),
        ),
    ]
    print("\n| work | by hand s | airgapkit s | ratio |\n|---|---:|---:|---:|")
    for label, work, by_hand in rows:
        ours = run.total(work, "airgapkit")
        print(f"| {label} | {by_hand:.1f} | {ours:.1f} | {ours / by_hand:.2f}x |")
    print(f"| `inv release` | | {run.total('release', 'airgapkit'):.1f} | |")
    bound = run.sizes["7z a -tzip -mx=1"]
    print("\n| archive | MB | vs 7z -mx=1 |\n|---|---:|---:|")
    for name, size in run.sizes.items():
        print(f"| {name} | {size / 1e6:.1f} | {size / bound:.3f} |")
    peak = max(s.peak_mb for s in run.steps if s.who == "airgapkit")
    print(f"\npeak of the Python process: {peak:.1f} MB (limit {LIMIT_MB} MB)")
    print_phase_times(run.steps)


def print_phase_times(steps: list[Step]) -> None:
    """Each airgapkit run's own phase times, as it said them."""
    timed = [s for s in steps if s.times]
    if timed:
        print("\n| run | phase times |\n|---|---|")
        for s in timed:
            print(f"| `{s.command}` | {s.times.removeprefix('times: ')} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-mb", type=int, default=RANDOM_MB)
    parser.add_argument("--lib-mb", type=int, default=LIB_MB)
    parser.add_argument("--level", type=int, default=None, help="give export and release a level")
    parser.add_argument("--keep-image", action="store_true", help="leave the bench image")
    args = parser.parse_args()

    base = f"agk-bench/base:{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="agk-bench-"))
    password = secrets.token_urlsafe(24)
    app, app_name = make_app(workdir)
    app_ref = f"{app_name}:1.0.0"
    run = Run()
    load_at_start = os.getloadavg()
    layers: set[str] = set()
    try:
        print(f"building {base} ...", flush=True)
        build_bench_image(ref=base, random_mb=args.random_mb, lib_mb=args.lib_mb)
        size = docker.from_env().images.get(base).attrs["Size"]
        print(f"bench image {size / 1e9:.2f} GB", flush=True)
        layers = own_layers(base)
        archive = export_by_hand(run, base, folder(workdir, "by-hand"), password)
        level = [] if args.level is None else ["--level", str(args.level)]
        airgapkit_round_trip(run, base, layers, app, app_name, workdir, level)
        import_by_hand(run, archive, password, layers)
        save_and_load(run, base, folder(workdir, "save-load"), layers)
    finally:
        remove_images(app_ref)
        if not args.keep_image:
            forget_layers(layers)
        shutil.rmtree(workdir, ignore_errors=True)
    report(run, size, args.level)
    print(f"load average (1, 5, 15 min) at the start {load_at_start}, at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
