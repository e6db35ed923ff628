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
