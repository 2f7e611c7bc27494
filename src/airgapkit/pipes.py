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

DEPTH = 4  # chunks waiting between the two threads: 4 MiB for 1 MiB chunks, enough to even out

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
    Nothing starts before the first chunk is asked for (``Ahead`` starts at once).
    """
    yield from Ahead(chunks, depth, name)


class Ahead:
    """``read_ahead`` begun at once: the producer runs (and its source, say the engine making a
    tar, works) before anyone asks for a chunk. Iterate it once; ``close()`` stops it, read or not."""

    def __init__(self, chunks: Iterable, depth: int = DEPTH, name: str = "read-ahead"):
        if depth < 1:
            raise ValueError(f"read-ahead depth {depth} is under 1")
        self._waiting: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._producer = threading.Thread(
            target=_produce, args=(chunks, self._waiting, self._stop), name=name, daemon=True
        )
        self._producer.start()

    def __iter__(self) -> Iterator:
        try:
            while (item := self._waiting.get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self, *, wait: bool = True) -> None:
        """Stop the producer; ``wait``: until it has closed its source (on its own thread). Not
        waiting suits a source still silent (an engine making a tar): it ends when it speaks."""
        self._stop.set()
        _drain(self._waiting)
        if threading.current_thread() is self._producer:
            return  # closed from its own source (a collected reader): it ends by itself
        while wait and self._producer.is_alive():
            self._producer.join(0.05)


def _produce(chunks: Iterable, waiting: queue.Queue, stop: threading.Event) -> None:
    source = iter(chunks)
    try:
        for chunk in source:
            if not _put(waiting, chunk, stop):
                return
        _put(waiting, _END, stop)
    except BaseException as exc:  # carried to the consumer, Ctrl-C's own exceptions included
        _put(waiting, _Failed(exc), stop)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _put(waiting: queue.Queue, item, stop: threading.Event) -> bool:
    """Queue ``item`` unless the consumer has stopped (False then): a producer whose consumer
    is gone never blocks for good on a full queue."""
    while not stop.is_set():
        try:
            waiting.put(item, timeout=0.1)  # woken as soon as a place frees
            return True
        except queue.Full:
            pass
    return False


def _drain(waiting: queue.Queue) -> None:
    try:
        while True:
            waiting.get_nowait()
    except queue.Empty:
        pass


def coalesced(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The same bytes in pieces of at least ``size`` (the last may be shorter), small chunks
    joined: fewer, larger chunks cost every reader fewer steps."""
    pending = bytearray()
    for chunk in chunks:
        if not pending and len(chunk) >= size:
            yield chunk
            continue
        pending += chunk
        if len(pending) >= size:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


class Watcher:
    """A consumer running beside a stream (see ``tee``); ``result()`` waits for it and gives its
    return value, or raises what it raised."""

    def __init__(self, thread: threading.Thread, outcome: dict):
        self._thread, self._outcome = thread, outcome

    def result(self):
        self._thread.join()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome.get("value")


def tee(
    chunks: Iterable, consumer, depth: int = DEPTH, name: str = "tee"
) -> tuple[Iterator, Watcher]:
    """Pass ``chunks`` on unchanged while ``consumer(iterable)`` reads the same chunks on a thread.

    One read feeds two uses: a release archives its image while the secrets scan reads the layers.
    The consumer may stop early (a tar reader stops at the end-of-archive blocks) or fail: the
    chunks it does not take are dropped, so the stream is never held up by it. When the stream
    ends early (an error upstream), the consumer sees an end and ``result()`` raises.
    """
    waiting: queue.Queue = queue.Queue(depth)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = consumer(_until_end(waiting, outcome))
        except BaseException as exc:  # given to whoever asks for the result
            outcome["error"] = exc
        finally:
            while waiting.get() is not _END:  # drop what the consumer left, until the stream ends
                pass

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def passing() -> Iterator:
        complete = False
        try:
            for chunk in chunks:
                waiting.put(chunk)
                yield chunk
            complete = True
        finally:
            if not complete:
                outcome.setdefault("error", RuntimeError("the stream stopped before its end"))
            waiting.put(_END)

    return passing(), Watcher(thread, outcome)


def _until_end(waiting: queue.Queue, outcome: dict) -> Iterator:
    while (item := waiting.get()) is not _END:
        yield item
    # the consumer would block forever on a second get: the runner's drain must not wait either
    waiting.put(_END)
