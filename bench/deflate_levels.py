"""Deflate levels, libraries and chunk sizes, measured in one process: which default to choose.

Two parts, both printed as tables (bench/deflate_levels.md has a run and the choice):

1. The inputs of the issue: the first ``--lib-mb`` MB of a tar of /usr/lib and ``--random-mb`` MB
   of random bytes, each held in memory and deflated by ``ParallelDeflater`` at each level (with
   the library the level picks) on 1 thread and on every core, and by plain zlib for reference;
   then the chunk sizes at one level. MB/s is input bytes per wall second.
2. With ``--image REF`` (a Docker Engine in DOCKER_HOST): ``docker save`` of that image streamed
   through SHA-256, the deflater at each level, AES-256-CTR and HMAC-SHA1 (what an export does per
   byte) into a file, timed end to end; beside it ``docker save -o`` alone and
   ``7z a -tzip -mx=1`` of that tar, whose size is the bound the default must not pass.

    python bench/deflate_levels.py [--lib-mb 400] [--random-mb 200] [--levels 1,2,3,4,5,6]
    python bench/deflate_levels.py --skip-inputs --image REF
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import docker
from Cryptodome.Cipher import AES
from Cryptodome.Util import Counter

from airgapkit.crossing import deflate

PIECE = 256 << 10  # what the archive writer hands the deflater at a time


def lib_tar(size: int) -> bytes:
    """The first ``size`` bytes of a tar of /usr/lib, in name order (the same bytes every run)."""
    tar = subprocess.Popen(
        ["tar", "cf", "-", "--sort=name", "-C", "/", "usr/lib"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    data = tar.stdout.read(size)
    tar.kill()
    tar.wait()
    return data


def deflate_once(data: bytes, make) -> tuple[float, int]:
    """(wall seconds, output bytes) of one pass of ``data`` through the compressor ``make()``."""
    started = time.perf_counter()
    compressor = make()
    out = 0
    view = memoryview(data)
    for start in range(0, len(data), PIECE):
        out += len(compressor.compress(view[start : start + PIECE]))
    out += len(compressor.flush())
    return time.perf_counter() - started, out


def row(label: str, data: bytes, make) -> None:
    """MB/s by the clock, CPU seconds per GB (all threads: steadier on a busy machine), out/in."""
    cpu = time.process_time()
    wall, out = deflate_once(data, make)
    cpu = time.process_time() - cpu
    print(
        f"{label:<34} {len(data) / wall / 1e6:>8.0f} {cpu / len(data) * 1e9:>8.2f} "
        f"{out / len(data):>8.4f}",
        flush=True,
    )


def inputs_tables(args, levels: list[int]) -> None:
    data = {"usr/lib": lib_tar(args.lib_mb * 10**6), "random": os.urandom(args.random_mb * 10**6)}
    cores = deflate.default_threads()
    for name, blob in data.items():
        print(
            f"\n{name}, {len(blob) / 1e6:.0f} MB          {'MB/s':>8} {'cpu s/GB':>8} {'out/in':>8}"
        )
        for level in levels:
            backend = deflate.backend_for(level)
            for threads in sorted({1, cores}):
                row(
                    f"level {level} {backend}, {threads} thread(s)",
                    blob,
                    lambda level=level, threads=threads: deflate.ParallelDeflater(
                        level, threads=threads
                    ),
                )
        for level in (1, 6):
            row(
                f"level {level} zlib, {cores} thread(s)",
                blob,
                lambda level=level: deflate.ParallelDeflater(level, backend="zlib"),
            )
            row(
                f"level {level} zlib, one stream",
                blob,
                lambda level=level: zlib.compressobj(level, zlib.DEFLATED, -15),
            )
    blob = data["usr/lib"]
    print(f"\nchunk sizes, usr/lib, level {args.chunk_level}, {cores} thread(s)")
    for kib in (256, 1024, 4096):
        row(
            f"chunk {kib} KiB",
            blob,
            lambda kib=kib: deflate.ParallelDeflater(args.chunk_level, chunk_size=kib << 10),
        )


def encrypt_stream(chunks, level: int, dest: Path) -> int:
    """What an export does to each byte of the image: SHA-256, deflate, AES-CTR, HMAC, SHA-256."""
    key = secrets.token_bytes(32)
    cipher = AES.new(key, AES.MODE_CTR, counter=Counter.new(nbits=128, little_endian=True))
    mac = hmac.new(secrets.token_bytes(32), digestmod=hashlib.sha1)
    tar_sha, zip_sha = hashlib.sha256(), hashlib.sha256()
    compressor = deflate.ParallelDeflater(level)
    with open(dest, "wb") as out:

        def put(data: bytes) -> None:
            if data:
                data = cipher.encrypt(data)
                mac.update(data)
                zip_sha.update(data)
                out.write(data)

        for chunk in chunks:
            tar_sha.update(chunk)
            put(compressor.compress(chunk))
        put(compressor.flush())
        out.flush()
        os.fsync(out.fileno())
    return dest.stat().st_size


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def image_table(ref: str, levels: list[int]) -> None:
    client = docker.from_env(timeout=3600)
    image = client.images.get(ref)
    with tempfile.TemporaryDirectory(prefix="agk-bench-") as scratch:
        tar, seven = Path(scratch) / "image.tar", Path(scratch) / "image.zip"
        save = timed(["docker", "save", "-o", str(tar), ref])
        # the password in argv only because 7-Zip has no other non-interactive way; a bench one
        sevenzip = timed(
            ["7z", "a", "-tzip", "-mx=1", "-mem=AES256", "-pbench", str(seven), str(tar)]
        )
        print(f"\n{ref}: docker save -o {save:.1f} s, tar {tar.stat().st_size / 1e6:.0f} MB")
        print(
            f"7z a -tzip -mx=1 -mem=AES256: {sevenzip:.1f} s, {seven.stat().st_size / 1e6:.1f} MB"
        )
        bound = seven.stat().st_size
        tar.unlink()
        print(f"\n{'level':<18} {'s':>7} {'x save':>7} {'MB':>8} {'vs 7z':>7}")
        for level in levels:
            os.sync()  # the previous pass's dirty pages are not written on this one's clock
            started = time.perf_counter()
            size = encrypt_stream(image.save(chunk_size=1 << 20), level, Path(scratch) / "x.bin")
            wall = time.perf_counter() - started
            label = f"{level} {deflate.backend_for(level)}"
            print(
                f"{label:<18} {wall:>7.1f} {wall / save:>7.2f} {size / 1e6:>8.1f} "
                f"{size / bound:>7.4f}",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib-mb", type=int, default=400)
    parser.add_argument("--random-mb", type=int, default=200)
    parser.add_argument("--levels", default="1,2,3,4,5,6")
    parser.add_argument("--chunk-level", type=int, default=5)
    parser.add_argument("--image", default="", help="also stream this image's docker save")
    parser.add_argument("--skip-inputs", action="store_true", help="only the image part")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    print(f"libraries here: {', '.join(deflate.available_backends())}; cores: {os.cpu_count()}")
    if not args.skip_inputs:
        inputs_tables(args, levels)
    if args.image:
        image_table(args.image, levels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
