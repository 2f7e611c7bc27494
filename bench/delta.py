"""Deltas against full bundles: an app-only change of examples/tms-api on the 1.28 GB bench base.

v1 goes out whole (export, release, deploy); then one line of app.js changes (and the version), and
v2 goes out as deltas (``export --since last``, ``release --since last``) and, for comparison, as a
full release too. Measured, in one run:

- the base delta's archive against the app's .tgz plus the manifest (goal: <= 1.1x);
- the release delta's archive against the compressed size of the app layers that changed
  (deflate at the same level; goal: <= 1.1x) and against the full release archive (goal: <= 2%);
- ``inv release --since last`` against ``inv release`` of the same export (goal: <= 0.5x);
- ``inv deploy`` of the delta against ``inv deploy`` of the full release, each on a prod side that
  holds v1 and not v2 (goal: <= 0.5x), and their peak memory. Each run's own phase times (its
  ``times:`` line) are printed beside it.

Each task runs as a child process in its own folder (connected, dev, prod). Not a test: run it by
hand; everything it makes is removed at the end.

    python bench/delta.py [--random-mb 300] [--lib-mb 850] [--level N] [--repeat 3]

The base is compare.py's bench image (the node stand-in, random bytes, a slice of /usr/lib).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import uuid
import zlib
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import INV, LIB_MB, RANDOM_MB, build_bench_image, make_app, measure  # noqa: E402

from airgapkit import tarstream  # noqa: E402
from airgapkit.config import DEFAULTS  # noqa: E402
from airgapkit.delta import tars  # noqa: E402
from airgapkit.engine import client as engine_client  # noqa: E402
from airgapkit.engine import images  # noqa: E402

RISK = "bench: a 1.28 GB base on purpose, no scanner here"


def bundle_flags(folder: Path, kind: str, name: str, version: str) -> list[str]:
    archive = folder / "dist" / f"{name}-{version}-{kind}.zip"
    return [
        str(archive),
        "--sums",
        str(folder / "dist-hashes" / f"{archive.name}.sha256"),
        "--password-file",
        str(folder / "dist-password" / f"{archive.name}.password"),
    ]


def change_app(app: Path, version: str) -> None:
    """One line of app.js, and the version in package.json and its lock."""
    code = (app / "app.js").read_text()
    (app / "app.js").write_text(code.replace("status: 'ok',", "status: 'ok', // v2", 1))
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data["version"] = version
        if file == "package-lock.json":
            data["packages"][""]["version"] = version
        (app / file).write_text(json.dumps(data, indent=2) + "\n")


def changed_layers_deflated(client, ref: str, since_ref: str, level: int) -> tuple[int, int]:
    """(bytes, deflated bytes) of the layers of ``ref`` that ``since_ref`` lacks."""
    have = set(images.require_image(client, since_ref).attrs["RootFS"]["Layers"])
    diff_ids = images.require_image(client, ref).attrs["RootFS"]["Layers"]
    paths = tars.layer_paths(images.save_stream(client, [ref]))
    changed = {p for p, d in zip(paths, diff_ids, strict=True) if d not in have}
    raw = packed = 0
    for info, data in tarstream.members(images.save_stream(client, [ref])):
        if info.name in changed and data is not None:
            deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
            while chunk := data.read(1 << 20):
                raw += len(chunk)
                packed += len(deflate.compress(chunk))
            packed += len(deflate.flush())
    return raw, packed


def manifest_size(folder: Path, bundle: list[str]) -> int:
    return len(run_out([*INV, "inspect", *bundle, "--json"], folder))


def run_out(argv: list[str], cwd: Path) -> bytes:
    import subprocess

    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True).stdout


def forget(client, ref: str, container: str) -> None:
    """The prod side without the v2 container and image: it holds v1 only."""
    for name in (container, f"{container}-previous"):
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
    try:
        client.images.remove(ref, force=True)
    except docker.errors.ImageNotFound:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-mb", type=int, default=RANDOM_MB)
    parser.add_argument("--lib-mb", type=int, default=LIB_MB)
    parser.add_argument(
        "--level",
        type=int,
        default=DEFAULTS["airgapkit"]["compression"],
        help="compression level of the bundles (default: airgapkit's default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="deploys of v2, full and delta in turn"
    )
    args = parser.parse_args()

    client = engine_client.connect(timeout=3600)
    base = f"agk-bench/base:{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="agk-bench-delta-"))
    app, name = make_app(workdir)
    container = f"{name}-prod"
    sides = {s: workdir / s for s in ("connected", "dev", "prod")}
    for folder in sides.values():
        folder.mkdir()
    shutil.copy2(app / ".env.example", sides["prod"] / ".env.example")
    (sides["prod"] / ".env.prod").write_text(
        "PORT=8080\nAPP_ENV=prod\nGREETING=bench\nDB_HOST=db\nDB_USER=u\nDB_PASSWORD=bench-only\n"
    )
    level = ["--level", str(args.level), "--accept-risk", RISK]
    smoke = ["--smoke-env", str(app / ".env.example")]
    deploy = ["--env", "prod", "--name", container, "--ports", "127.0.0.1:18080:8080"]
    rows, sizes = [], {}
    try:
        print(f"building {base} ...", flush=True)
        build_bench_image(client, base, args.random_mb, args.lib_mb)
        sizes["base image"] = client.images.get(base).attrs["Size"]
        print(f"base image {sizes['base image'] / 1e9:.2f} GB", flush=True)

        def step(label: str, side: str, *argv: str) -> None:
            wall, own, times = measure([*INV, *argv], sides[side])
            rows.append((label, wall, own))
            print(f"{label}: {wall:.1f} s, {own:.0f} MB; {times}", flush=True)

        export = ["export", "--app", str(app), "--base-image", base, *level]
        step("export v1 (full)", "connected", *export)
        step(
            "release v1 (full)",
            "dev",
            "release",
            *bundle_flags(sides["connected"], "base", name, "1.0.0"),
            *smoke,
            *level,
        )
        v1_release = bundle_flags(sides["dev"], "release", name, "1.0.0")
        step("deploy v1 (full)", "prod", "deploy", *v1_release, *deploy)

        change_app(app, "1.0.1")
        step("export v2 (delta)", "connected", *export, "--since", "last")
        v2_export = bundle_flags(sides["connected"], "base", name, "1.0.1")
        full_dirs = [
            "--out-dir",
            "full",
            "--hashes-dir",
            "full-hashes",
            "--password-dir",
            "full-password",
        ]
        # v2 built once before the two are timed, so that neither pays for the build cache
        full_release = ["release", *v2_export, *smoke, *level, *full_dirs]
        step("release v2 (full, builds v2)", "dev", *full_release, "--force")
        # the full release just made is the history's last: the delta names v1's manifest instead
        v1 = workdir / "release-v1.json"
        v1.write_bytes(run_out([*INV, "inspect", *v1_release, "--json"], sides["dev"]))
        step("release v2 (delta)", "dev", "release", *v2_export, *smoke, *level, "--since", str(v1))
        step("release v2 (full)", "dev", *full_release, "--force")

        delta = bundle_flags(sides["dev"], "release", name, "1.0.1")
        full = [a.replace("/dist", "/full") for a in delta]
        sizes["release v2 full archive"] = Path(full[0]).stat().st_size
        sizes["release v2 delta archive"] = Path(delta[0]).stat().st_size
        sizes["base v2 delta archive"] = Path(v2_export[0]).stat().st_size
        sizes["app .tgz"] = next(sides["connected"].rglob(f"{name}-1.0.1.tgz")).stat().st_size
        sizes["base v2 manifest"] = manifest_size(sides["dev"], v2_export)
        raw, packed = changed_layers_deflated(client, f"{name}:1.0.1", f"{name}:1.0.0", args.level)
        sizes["changed layers"], sizes["changed layers deflated"] = raw, packed

        for _ in range(args.repeat):  # in turns: a busy machine slows both alike
            forget(client, f"{name}:1.0.1", container)
            step("deploy v2 (full)", "prod", "deploy", *full, *deploy)
            forget(client, f"{name}:1.0.1", container)
            step("deploy v2 (delta)", "prod", "deploy", *delta, *deploy)
    finally:
        forget(client, f"{name}:1.0.1", container)
        for ref in (f"{name}:1.0.0", base):
            try:
                client.images.remove(ref, force=True)
            except docker.errors.ImageNotFound:
                pass
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n| step | wall s | own peak MB |\n|---|---:|---:|")
    for label, wall, own in rows:
        print(f"| {label} | {wall:.1f} | {own:.0f} |")
    print("\n| size | bytes |\n|---|---:|")
    for label, value in sizes.items():
        print(f"| {label} | {value:,} |")
    walls = {
        label: statistics.median(w for lbl, w, _ in rows if lbl == label) for label, _, _ in rows
    }
    print(
        "\nrelease delta / changed layers deflated: "
        f"{sizes['release v2 delta archive'] / sizes['changed layers deflated']:.3f} (goal <= 1.1)"
        "\nrelease delta / full release archive: "
        f"{sizes['release v2 delta archive'] / sizes['release v2 full archive']:.4%} (goal <= 2%)"
        "\nbase delta / (app .tgz + manifest): "
        f"{sizes['base v2 delta archive'] / (sizes['app .tgz'] + sizes['base v2 manifest']):.3f}"
        " (goal <= 1.1)"
        "\nrelease delta / release full (wall): "
        f"{walls['release v2 (delta)'] / walls['release v2 (full)']:.2f} (goal <= 0.5)"
        f"\ndeploy delta / deploy full (median wall of {args.repeat}): "
        f"{walls['deploy v2 (delta)'] / walls['deploy v2 (full)']:.2f} (goal <= 0.5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
