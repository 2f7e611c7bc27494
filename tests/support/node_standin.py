"""A stand-in for ``node:20-alpine`` made from this machine's own node, npm and busybox.

No registry is reachable from the test machines, so the tests cannot pull the real base image.
This module assembles an equivalent root filesystem (static busybox with its applets linked, the host's
``node`` with the shared libraries ``ldd`` names, the host's npm, an ``/etc/passwd`` and a small
``adduser`` script because Debian's busybox lacks that applet) into a tar and ``docker import``s it.
The image is named for what it is and built once; later runs reuse it.

Run as a script to build it by hand: ``python tests/support/node_standin.py``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

import docker

REPOSITORY = "airgapkit-test/node-busybox"
BUSYBOX = "/bin/busybox"
NODE = "/usr/bin/node"
NPM_DIR = "/usr/lib/node_modules/npm"

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"  # noqa: S105 - the /etc/passwd file, not a password
GROUP = "root:x:0:\nnogroup:x:65534:\n"

# Debian's busybox has no adduser applet; this covers the form the Dockerfiles use: adduser -u UID -D NAME
ADDUSER = """#!/bin/sh
uid=""; name=""
while [ $# -gt 0 ]; do
  case "$1" in
    -u) uid="$2"; shift 2 ;;
    -D|-S) shift ;;
    -*) shift ;;
    *) name="$1"; shift ;;
  esac
done
[ -n "$uid" ] && [ -n "$name" ] || { echo "usage: adduser -u UID -D NAME" >&2; exit 1; }
grep -q "^$name:" /etc/passwd && { echo "adduser: user '$name' exists" >&2; exit 1; }
echo "$name:x:$uid:$uid::/home/$name:/bin/sh" >> /etc/passwd
echo "$name:x:$uid:" >> /etc/group
mkdir -p "/home/$name" && chown "$uid:$uid" "/home/$name"
"""


def node_version() -> str:
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip().lstrip("v")


def image_tag() -> str:
    return f"{REPOSITORY}:{node_version()}"


def _shared_libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return re.findall(r"(/\S+\.so[\S]*) \(0x", out)


def _add_text(tar: tarfile.TarFile, path: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(path)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, path: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(path)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_symlink(tar: tarfile.TarFile, path: str, target: str) -> None:
    info = tarfile.TarInfo(path)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, host_path: str) -> None:
    """Add the real content of host_path (symlinks followed) at the same path in the image."""
    real = os.path.realpath(host_path)
    info = tar.gettarinfo(real, arcname=host_path.lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with open(real, "rb") as f:
        tar.addfile(info, f)


def write_rootfs(tar_path: str) -> None:
    applets = subprocess.run(
        [BUSYBOX, "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tarfile.open(tar_path, "w") as tar:
        for d in (
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "usr/lib",
            "usr/local",
            "usr/local/bin",
            "etc",
            "root",
            "home",
            "lib",
            "lib64",
            "app",
            "var",
        ):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, BUSYBOX)
        for applet in applets:
            if applet != "bin/busybox":
                _add_symlink(tar, applet, "/bin/busybox")
        for path in [NODE, *_shared_libraries(NODE)]:
            _add_file(tar, path)
        tar.add(
            NPM_DIR,
            arcname=NPM_DIR.lstrip("/"),
            filter=lambda ti: (setattr(ti, "uid", 0), setattr(ti, "gid", 0), ti)[-1],
        )
        _add_symlink(tar, "usr/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")
        _add_symlink(tar, "usr/bin/npx", "../lib/node_modules/npm/bin/npx-cli.js")
        _add_text(tar, "etc/passwd", PASSWD)
        _add_text(tar, "etc/group", GROUP)
        _add_text(tar, "usr/sbin/adduser", ADDUSER, 0o755)


def ensure_image(client: docker.DockerClient | None = None) -> str:
    """Return the stand-in's tag, importing it into the engine first if it is not there yet."""
    client = client or docker.from_env(timeout=600)
    tag = image_tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.NotFound:
        pass
    workdir = tempfile.mkdtemp(prefix="node-standin-")
    try:
        tar_path = os.path.join(workdir, "rootfs.tar")
        write_rootfs(tar_path)
        repository, version = tag.split(":")
        client.api.import_image(
            src=tar_path,
            repository=repository,
            tag=version,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"ENV NODE_VERSION={version}",
                'CMD ["node"]',
            ],
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    client.images.get(tag)  # raises if the import did not produce it
    return tag


if __name__ == "__main__":
    print(ensure_image())
    sys.exit(0)
