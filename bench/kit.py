"""The kit's goals, measured in one run: sizes, the offline install, the single program.

- ``inv kit`` for this machine (one target: this platform, this Python): the archive's size
  (goal: <= 12 MB);
- ``inv kit --python <every installed 3.10-3.13> --executable``: each Python's install from it by
  its own ``install.sh`` in a fresh prefix inside ``unshare --net`` (goal: <= 10 s), the single
  program's size (goal: <= 40 MB) and ``airgapkit --version`` with no Python on PATH (goal:
  <= 1.0 s; the median of five runs after one that fills the page cache). Beside each wall time,
  the CPU time (user + system) of the run and its children: on a machine others load, it is
  what a quiet machine's wall time comes near for this single-threaded work;
- ``inv kit --platform windows/amd64,darwin/arm64,linux/arm64 --python 3.12``: each target's wheels.

Each ``inv kit`` runs as a child process, as a user runs it, with its wall time. Not a test: run it
by hand (root: ``unshare`` needs it); everything it makes is removed at the end.

    python bench/kit.py [--out bench/kit.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INV = [sys.executable, "-m", "invoke", "--search-root", str(REPO)]
PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def python_of(version: str) -> str | None:
    for home in sorted(PYENV.glob(f"{version}.*")):
        if (home / "bin" / f"python{version}").exists():
            return str(home / "bin" / f"python{version}")
    return shutil.which(f"python{version}")


def timed(argv: list, cwd: Path, env: dict | None = None) -> tuple[float, str]:
    """Wall seconds of a child run (and its CPU seconds, user + system, in ``CPU[-1]``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, proc.stdout


CPU: list[float] = []  # what the machine's load does not change: a quiet machine's wall time, near


def make_kit(side: Path, *flags: str) -> tuple[float, Path, Path, str]:
    side.mkdir(parents=True)
    seconds, _ = timed([*INV, "kit", *flags], side)
    archive = next((side / "dist").glob("*-kit.zip"))
    password = (side / "dist-password" / f"{archive.name}.password").read_text().strip()
    return seconds, archive, side / "dist-hashes" / f"{archive.name}.sha256", password


def unpack(archive: Path, password: str, dest: Path) -> Path:
    timed(["7z", "x", f"-p{password}", f"-o{dest}", archive], archive.parent)
    return dest


def wheel_sizes(kit_dir: Path) -> dict[str, int]:
    return {
        folder.name: sum(w.stat().st_size for w in folder.glob("*.whl"))
        for folder in sorted((kit_dir / "targets").iterdir())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    installed = {v: p for v in PYTHONS if (p := python_of(v))}
    figures: dict = {"pythons": list(installed), "python_running": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="agk-bench-kit-") as tmp:
        root = Path(tmp)
        figures["load_at_start"] = os.getloadavg()
        seconds, archive, _sums, _pw = make_kit(root / "one")
        figures["one_target"] = {"kit_s": seconds, "archive_bytes": archive.stat().st_size}

        seconds, archive, _sums, password = make_kit(
            root / "all", "--python", ",".join(installed), "--executable"
        )
        kit_dir = unpack(archive, password, root / "all-media")
        figures["all"] = {
            "kit_s": seconds,
            "archive_bytes": archive.stat().st_size,
            "wheels": wheel_sizes(kit_dir),
            "installs_s": {},
            "installs_cpu_s": {},
        }
        for version, python in installed.items():
            prefix = root / f"prefix-{version}"
            argv = ["unshare", "--net", "sh", kit_dir / "install.sh", "--python", python]
            seconds, _ = timed([*argv, "--prefix", prefix], root)
            figures["all"]["installs_s"][version] = seconds
            figures["all"]["installs_cpu_s"][version] = CPU[-1]
        program = next((kit_dir / "executables").glob("*/airgapkit"))
        program.chmod(0o755)
        tools = root / "tools"
        tools.mkdir()
        (tools / "docker").symlink_to(shutil.which("docker"))
        env = {"PATH": str(tools), "HOME": str(root)}
        timed([program, "--version"], root, env)  # the page cache filled once
        runs = [timed([program, "--version"], root, env)[0] for _ in range(5)]
        figures["program"] = {
            "bytes": program.stat().st_size,
            "version_s": runs,
            "version_median_s": statistics.median(runs),
            "version_cpu_s": CPU[-5:],
        }

        seconds, archive, _sums, password = make_kit(
            root / "other",
            "--platform",
            "windows/amd64,darwin/arm64,linux/arm64",
            "--python",
            "3.12",
        )
        other = unpack(archive, password, root / "other-media")
        figures["other"] = {
            "kit_s": seconds,
            "archive_bytes": archive.stat().st_size,
            "wheels": wheel_sizes(other),
        }
    figures["load_at_end"] = os.getloadavg()
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
