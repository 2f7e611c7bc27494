"""Chunks moved between threads, so that one end never waits on the work done at the other.

``read_ahead`` pulls an iterable (``docker save``'s response, a decrypting archive member) on a
thread of its own, a bounded number of chunks ahead of whoever consumes them: the engine keeps
sending while the consumer hashes, deflates and encrypts, and the other way round for a load.
Memory stays bounded: at most ``depth`` chunks wait between the two.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

DEPTH = 8  # chunks waiting between the two threads: 8 MiB for 1 MiB chunks

_END = object()


class _Failed:
    """What the producer raised, carried to the consumer to be raised there."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def read_ahead(chunks: Iterable, depth: int = DEPTH, name: str = "read-ahead") -> Iterator:
    """Yield what ``chunks`` yields, in order, reading it on another thread up to ``depth`` ahead.

    An error in ``chunks`` is raised to the consumer at the point it reached. When the consumer
    stops early (closes this generator, or raises), the producer stops too, at its next chunk, and
    ``chunks`` is closed on its own thread (a generator may be closed only where it runs).
    The chunks themselves must not be reused by the producer (``docker save`` yields fresh bytes).
    """
    if depth < 1:
        raise ValueError(f"read-ahead depth {depth} is under 1")
    waiting: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(chunks, waiting, stop), name=name, daemon=True
    )
    producer.start()
    try:
        while (item := waiting.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # let a producer blocked on a full queue see the stop
            _drain(waiting)
            producer.join(0.05)


def _produce(chunks: Iterable, waiting: queue.Queue, stop: threading.Event) -> None:
    source = iter(chunks)
    try:
        for chunk in source:
            if stop.is_set():
                return
            waiting.put(chunk)
        waiting.put(_END)
    except BaseException as exc:  # carried to the consumer, Ctrl-C's own exceptions included
        waiting.put(_Failed(exc))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _drain(waiting: queue.Queue) -> None:
    try:
        while True:
            waiting.get_nowait()
    except queue.Empty:
        pass
