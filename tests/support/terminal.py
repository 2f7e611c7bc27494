"""Run a program on a real pseudo-terminal, as a person at a keyboard would."""

from __future__ import annotations

import os
import pty
import select
import time
from pathlib import Path


def in_pty(argv: list[str], cwd: Path, send: bytes, seconds: float = 60) -> tuple[int, str]:
    """Run argv on a new pseudo-terminal, type ``send`` once it prints; (status, output)."""
    return converse(argv, cwd, [(b"", send)], seconds)


def converse(
    argv: list[str], cwd: Path, answers: list[tuple[bytes, bytes]], seconds: float = 60
) -> tuple[int, str]:
    """Run argv on a pseudo-terminal; each time it prints a prompt, type that prompt's answer.

    ``answers`` pairs a prompt's text with what to type after it, in the order they are asked;
    an empty prompt means: as soon as the program has printed anything.
    """
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execv(argv[0], argv)  # noqa: S606 - argv is ours, no shell wanted
    output, seen, pending = b"", 0, list(answers)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if pending and output and pending[0][0] in output[seen:]:  # it has printed
                seen = output.index(pending[0][0], seen) + len(pending[0][0])
                os.write(fd, pending.pop(0)[1])
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
