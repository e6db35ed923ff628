"""Arrow's memory allocator for this process: jemalloc, unless the environment chose one.

pyarrow's wheels default to mimalloc, which keeps memory a thread freed for that thread and
hands it back to the system only when asked (`release_unused`), then faults it in again: on
the full inspection pass that was a sixth of the CPU time, in the kernel. jemalloc returns
freed memory on its own, a little later, and costs far less system time: the 1 GB inspection
pass and the Arrow load path both run faster with it at about the same peak memory
(docs/decisions.md, bench/). Setting ARROW_DEFAULT_MEMORY_POOL (mimalloc, jemalloc, system)
keeps Arrow's own choice.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os

import pyarrow as pa

logger = logging.getLogger(__name__)


def choose_memory_pool() -> str:
    """Make jemalloc Arrow's default pool (once per process, harmlessly again); returns the pool's name."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pool = pa.jemalloc_memory_pool()
        except NotImplementedError:  # a pyarrow built without it
            logger.info("pyarrow has no jemalloc: Arrow keeps its default allocator")
        else:
            if pa.default_memory_pool().backend_name != pool.backend_name:
                pa.set_memory_pool(pool)
    return pa.default_memory_pool().backend_name


def release_memory() -> None:
    """Hand what a finished task freed back to the system.

    jemalloc returns freed pages only as the process keeps allocating, and glibc keeps freed
    heap memory (numpy's arrays, each thread's arena) for reuse: a worker idle after a 1 GB
    inspection or a large load would otherwise keep 100 MB or more resident until its next task,
    which then starts from there. Called after every Celery task (etlportal/celery.py).
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None on another C library (looked up among the symbols the
    process has loaded: no `ldconfig` subprocess, as ctypes.util.find_library would start)."""
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
