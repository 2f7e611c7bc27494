"""Archive and extract a 1.5 GB file with airgapkit and with 7-Zip, same file, same level, same run.

    python bench/archive_throughput.py [--size-mb 1536] [--levels 0,6] [--dir /tmp]

Each job runs in its own child process; its wall time comes from the clock and its peak memory from
the kernel's accounting for that child (``os.wait4``: the per-child form of
``getrusage(RUSAGE_CHILDREN).ru_maxrss``). Dirty pages are written back (``sync``) before each job
starts: 7-Zip does not fsync, airgapkit does, so without it one tool's unwritten data would be paid
for by whichever job runs next. airgapkit gets its password through AIRGAPKIT_PASSWORD;
7-Zip has no such way and gets it with ``-p`` in argv (visible in ``ps``: one more reason not to use
it that way outside a bench). Prints a Markdown table; exits non-zero if airgapkit's peak is 100 MB
or more.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_MB = 100
CHILD_ARCHIVE = """
import os, sys
from pathlib import Path
from airgapkit.crossing.archive import ArchiveWriter
with ArchiveWriter(Path(sys.argv[2]), os.environ["AIRGAPKIT_PASSWORD"], level=int(sys.argv[3]),
                   progress=False) as w:
    w.add_file(Path(sys.argv[1]), Path(sys.argv[1]).name)
"""
CHILD_EXTRACT = """
import os, sys
from pathlib import Path
from airgapkit.crossing import extraction
from airgapkit.crossing.archive import ArchiveReader
with ArchiveReader(Path(sys.argv[1]), os.environ["AIRGAPKIT_PASSWORD"]) as r:
    extraction.extract_all(r, Path(sys.argv[2]))
"""


def make_input(path: Path, size_mb: int) -> None:
    """Random-ish data with compressible stretches: 2 MiB random, then 1 MiB of repeated text."""
    text = (b"GET /health HTTP/1.1 200 OK node_modules/express/lib/router/index.js\n" * 20_000)[
        : 1 << 20
    ]
    with open(path, "wb") as f:
        for i in range(size_mb):
            f.write(text if i % 3 == 2 else os.urandom(1 << 20))


def run(argv: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process."""
    os.sync()  # write back what the previous job left dirty, so this job's clock does not pay for it
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode:
        sys.exit(f"{argv[0]} failed ({proc.returncode}): {err[-500:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1536)
    parser.add_argument("--levels", default="0,6")
    parser.add_argument("--dir", default=None, help="folder for the temporary files")
    args = parser.parse_args()
    seven = shutil.which("7z")
    if not seven:
        sys.exit("7z is not installed (apt-get install p7zip-full)")
    work = Path(tempfile.mkdtemp(prefix="agk-bench-", dir=args.dir))
    password = secrets.token_urlsafe(24)
    env = {**os.environ, "AIRGAPKIT_PASSWORD": password}
    rows, worst = [], 0.0
    try:
        src = work / "image.tar"
        make_input(src, args.size_mb)
        size_mb = src.stat().st_size / 1e6
        for level in (int(x) for x in args.levels.split(",")):
            ours, theirs = work / f"agk-{level}.zip", work / f"7z-{level}.zip"
            results = {}
            results["archive", "airgapkit"] = run(
                [sys.executable, "-c", CHILD_ARCHIVE, str(src), str(ours), str(level)], env
            )
            results["archive", "7z"] = run(
                [
                    seven,
                    "a",
                    "-tzip",
                    "-mem=AES256",
                    f"-mx={level}",
                    f"-p{password}",
                    str(theirs),
                    str(src),
                ],
                env,
            )
            results["extract", "airgapkit"] = run(
                [sys.executable, "-c", CHILD_EXTRACT, str(ours), str(work / "out-agk")], env
            )
            results["extract", "7z"] = run(
                [seven, "x", f"-p{password}", f"-o{work / 'out-7z'}", str(theirs)], env
            )
            for out in ("out-agk", "out-7z"):
                extracted = work / out / src.name
                if extracted.stat().st_size != src.stat().st_size:
                    sys.exit(f"{out}: extracted size differs")
                shutil.rmtree(work / out)
            sizes = {"airgapkit": ours.stat().st_size / 1e6, "7z": theirs.stat().st_size / 1e6}
            for op in ("archive", "extract"):
                base = results[op, "7z"][0]
                for tool in ("airgapkit", "7z"):
                    seconds, peak = results[op, tool]
                    if tool == "airgapkit":
                        worst = max(worst, peak)
                    rows.append(
                        (
                            op,
                            level,
                            tool,
                            seconds,
                            size_mb / seconds,
                            peak,
                            seconds / base,
                            sizes[tool],
                        )
                    )
            ours.unlink()
            theirs.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"input: {size_mb:.0f} MB (2/3 random, 1/3 repeated text); {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}"
    )
    print()
    print("| step | level | tool | seconds | MB/s | peak RSS MB | time vs 7z | archive MB |")
    print("|---|---|---|---|---|---|---|---|")
    for op, level, tool, seconds, rate, peak, ratio, arch in rows:
        print(
            f"| {op} | {level} | {tool} | {seconds:.1f} | {rate:.0f} | {peak:.0f} | {ratio:.2f}x "
            f"| {arch:.0f} |"
        )
    print()
    verdict = "under" if worst < LIMIT_MB else "OVER"
    print(f"airgapkit peak RSS: {worst:.0f} MB ({verdict} the {LIMIT_MB} MB limit)")
    return 0 if worst < LIMIT_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
