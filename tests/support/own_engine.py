"""A Docker Engine of a test's own, to stop and start mid-operation without touching the suite's.

Its own ``--data-root``, ``--exec-root``, ``--pidfile`` and unix socket, no bridge, no iptables
rules, and a network namespace of its own (``unshare --net``): with ``--bridge=none`` dockerd
deletes any ``docker0`` it sees, which in a shared namespace is the suite engine's bridge. Stopped
and started by its pid. Short paths under /tmp: the containerd socket inside the exec root must
fit a unix socket's 108 bytes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker


class OwnEngine:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="agk-own-", dir="/tmp"))
        self.socket = self.root / "d.sock"
        self.pidfile = self.root / "d.pid"
        self.log = self.root / "dockerd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> docker.DockerClient:
        """Start it (after the previous run of it has ended) and wait until it answers."""
        if self.proc is not None:
            self.proc.wait(timeout=120)  # a stop in another thread may still be shutting it down
            self._wait_for_containerd_to_end()
        binary = shutil.which("dockerd")
        if binary is None:
            raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
        argv = [
            "unshare", "--net", "--",  # a namespace with nothing in it but lo
            binary,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "e"),
            "--pidfile", str(self.pidfile),
            "-H", self.address,
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd stopped at once: {self.log.read_text()[-2000:]}")
            try:
                client = docker.DockerClient(base_url=self.address, timeout=600)
                client.ping()
                return client
            except docker.errors.DockerException:
                time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer in {timeout} s: {self.log.read_text()[-2000:]}")

    def _containerd_pid(self) -> int | None:
        """The containerd this dockerd started, while it runs."""
        try:
            pid = int((self.root / "e" / "containerd" / "containerd.pid").read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid if pid > 0 else None

    def _wait_for_containerd_to_end(self, timeout: float = 30) -> None:
        """The containerd dockerd started ends after it; a new dockerd must not race it."""
        deadline = time.monotonic() + timeout
        while self._containerd_pid() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        """Stop it by its pid and wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=timeout)

    def remove(self) -> None:
        self.stop()
        self._wait_for_containerd_to_end()
        leftover = self._containerd_pid()
        if leftover:
            os.kill(leftover, signal.SIGKILL)
        subprocess.run(["umount", "-R", str(self.root / "data")], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
