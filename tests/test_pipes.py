"""read_ahead and Ahead: the producer runs beside the consumer, in order, bounded, and stops with
it; Ahead starts before the first chunk is asked for."""

from __future__ import annotations

import threading
import time

import pytest

from airgapkit.pipes import Ahead, coalesced, read_ahead, tee


def test_chunks_arrive_in_order():
    chunks = [bytes([n]) * n for n in range(1, 200)]
    assert list(read_ahead(iter(chunks), depth=3)) == chunks


def test_the_producer_works_while_the_consumer_holds_a_chunk():
    """The consumer waits, holding chunk 0, until the producer has made chunk 1: only a producer on
    another thread can get there."""
    made_second = threading.Event()

    def source():
        yield b"first"
        made_second.set()
        yield b"second"

    stream = read_ahead(source())
    assert next(stream) == b"first"
    assert made_second.wait(10), "the producer did not run while the consumer held a chunk"
    assert list(stream) == [b"second"]


def test_the_producer_stays_at_most_depth_ahead():
    produced = []
    consumed = 0
    lead = []

    def source():
        for n in range(100):
            produced.append(n)
            yield n

    for _ in read_ahead(source(), depth=4):
        consumed += 1
        lead.append(len(produced) - consumed)
    # depth waiting in the queue, one being put, one just taken by the consumer
    assert max(lead) <= 4 + 1


def test_an_error_in_the_producer_reaches_the_consumer_after_the_chunks_before_it():
    def source():
        yield b"a"
        yield b"b"
        raise OSError("the engine went away")

    got = []
    with pytest.raises(OSError, match="went away"):
        for chunk in read_ahead(source()):
            got.append(chunk)
    assert got == [b"a", b"b"]


def test_stopping_early_stops_and_closes_the_producer():
    closed = threading.Event()
    produced = []

    def endless():
        try:
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    stream = read_ahead(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert closed.is_set(), "the source was left open"
    count = len(produced)
    assert count <= 2 + 3
    assert len(produced) == count, "the producer went on after the consumer stopped"


def test_an_error_in_the_consumer_stops_the_producer():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield b"x" * 1024
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="consumer"):
        for _ in read_ahead(endless()):
            raise RuntimeError("the consumer failed")
    assert closed.is_set()


def test_depth_under_one_is_refused():
    with pytest.raises(ValueError, match="depth"):
        list(read_ahead([], depth=0))


# --- tee: one read, two uses ------------------------------------------------------------------


def test_ahead_asks_its_source_before_anyone_reads():
    asked = threading.Event()

    def source():
        asked.set()
        yield b"tar"

    ahead = Ahead(source())
    assert asked.wait(10), "the source was not asked before the first read"
    assert list(ahead) == [b"tar"]


def test_closing_ahead_unread_does_not_wait_for_a_silent_source():
    """The engine makes a tar before its first byte: closing must not wait for it, and the source
    is closed on its own thread once it speaks."""
    speak, closed = threading.Event(), threading.Event()

    def source():
        try:
            speak.wait(30)
            yield b"first"
            yield b"second"
        finally:
            closed.set()

    ahead = Ahead(source(), depth=1)
    began = time.monotonic()
    ahead.close(wait=False)
    assert time.monotonic() - began < 10  # the source stays silent for 30 s
    speak.set()
    assert closed.wait(10), "the source was never closed"


def test_small_chunks_are_joined_and_big_ones_pass_as_they_are():
    small = [bytes([n]) * 300 for n in range(10)]
    big = b"B" * 5000
    joined = list(coalesced([*small, big, b"tail"], 1000))
    assert b"".join(joined) == b"".join([*small, big, b"tail"])
    assert [len(c) for c in joined] == [1200, 1200, 5600, 4]  # the last may be short
    alone = list(coalesced([big, b"tail"], 1000))
    assert alone[0] is big  # nothing waiting: passed on without a copy


def test_tee_passes_every_chunk_on_and_gives_the_watchers_result():
    chunks = [bytes([n]) * 1000 for n in range(50)]
    passed, watcher = tee(iter(chunks), lambda seen: b"".join(seen), depth=2)
    assert list(passed) == chunks
    assert watcher.result() == b"".join(chunks)


def test_tee_goes_on_when_the_watcher_stops_early():
    """A tar reader stops at the end-of-archive blocks: the rest must still flow through."""

    def first_two(seen):
        it = iter(seen)
        return [next(it), next(it)]

    chunks = [b"x" * 10] * 100
    passed, watcher = tee(iter(chunks), first_two, depth=2)
    assert len(list(passed)) == 100
    assert watcher.result() == [b"x" * 10] * 2


def test_tee_carries_the_watchers_error_and_does_not_hold_up_the_stream():
    def failing(seen):
        next(iter(seen))
        raise ValueError("not a tar")

    passed, watcher = tee(iter([b"a"] * 100), failing, depth=2)
    assert len(list(passed)) == 100
    with pytest.raises(ValueError, match="not a tar"):
        watcher.result()


def test_tee_reports_a_stream_that_stopped_before_its_end():
    def broken():
        yield b"a"
        raise OSError("engine gone")

    passed, watcher = tee(broken(), lambda seen: sum(map(len, seen)))
    with pytest.raises(OSError, match="engine gone"):
        list(passed)
    with pytest.raises(RuntimeError, match="before its end"):
        watcher.result()
