"""Producing the next item of an iterator on another thread while the caller uses this one.

Used by the full inspection pass (reading and parsing blocks while the previous one is
profiled) and by the Arrow load path (converting blocks while the previous one is sent to the
database).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """The items, produced on a thread of their own while the caller works on the previous one.

    Arrow's reading and computing release the GIL, so producer and caller overlap on two cores.
    At most `depth` items wait to be taken (memory). The producer's exception comes out of the
    iteration; leaving the block stops the producer and waits for it, so whatever it reads
    (a file) is free again afterwards.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    taken = threading.Semaphore(depth)  # an item is made only once the one before was taken: memory
    stop = threading.Event()
    done = object()

    def hand_over(item) -> bool:
        """Put the item in the queue, unless the consumer left first (False)."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            while not stop.is_set():
                if not taken.acquire(timeout=0.1):
                    continue
                item = next(items, done)
                if item is done:
                    break
                if not hand_over(item):
                    return
            item = done
        except BaseException as exc:  # handed to the consumer, raised there
            item = exc
        hand_over(item)
        # The exception's traceback holds this frame: without this, the cycle keeps the items'
        # frames (a reader, its block, its file) alive until the garbage collector runs.
        item = None

    def consume() -> Iterator[T]:
        while True:
            item = handoff.get()
            taken.release()
            if item is done:
                return
            if isinstance(item, BaseException):
                try:
                    raise item
                finally:
                    item = None  # no cycle through this frame either
            yield item

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        yield consume()
    finally:
        stop.set()
        producer.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()
