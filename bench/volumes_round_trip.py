"""Media volumes at size: a 1 GB archive split at 300m, opened by 7-Zip from its first volume and by
airgapkit from its volumes, with no joined copy on disk.

    python bench/volumes_round_trip.py [--size-mb 1000] [--split 300m] [--dir /tmp]

Prints the volumes written, the seconds of each step and whether both tools gave back the input.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airgapkit.crossing import channels, volumes


def make_input(path: Path, size_mb: int) -> str:
    sha = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size_mb):
            block = os.urandom(1 << 20)
            sha.update(block)
            f.write(block)
    return sha.hexdigest()


def sha_of(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--split", default="300m")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    if not shutil.which("7z"):
        sys.exit("7z is not installed (apt-get install p7zip-full)")
    work = Path(tempfile.mkdtemp(prefix="agk-volumes-", dir=args.dir))
    password = secrets.token_urlsafe(24)
    try:
        src = work / "image.tar"
        want = make_input(src, args.size_mb)
        started = time.perf_counter()
        crossing = channels.create(
            [src],
            work / "media" / "bundle.zip",
            sums=work / "hashes" / "SHA256SUMS",
            password=password,
            level=0,
            split=volumes.parse_size(args.split),
            progress=False,
        )
        archived = time.perf_counter() - started
        parts = sorted((work / "media").iterdir())
        started = time.perf_counter()
        seven = subprocess.run(
            ["7z", "x", f"-p{password}", f"-o{work / 'by7z'}", str(parts[0])],
            capture_output=True,
            text=True,
        )
        by7z = time.perf_counter() - started
        if seven.returncode:
            sys.exit(f"7z failed: {seven.stdout[-500:]}")
        started = time.perf_counter()
        channels.extract(parts[0], work / "ours", password, crossing.sums)
        ours = time.perf_counter() - started
        print(f"input {src.stat().st_size / 1e6:.0f} MB, split {args.split}:")
        for part in parts:
            print(f"  {part.name}  {part.stat().st_size:,} bytes")
        print(
            f"archive (split) {archived:.1f} s; 7z x {parts[0].name} {by7z:.1f} s; "
            f"airgapkit extract from the volumes {ours:.1f} s"
        )
        same7z = sha_of(work / "by7z" / "image.tar") == want
        same = sha_of(work / "ours" / "image.tar") == want
        print(f"7-Zip gave back the input: {same7z}; airgapkit gave back the input: {same}")
        return 0 if same7z and same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
