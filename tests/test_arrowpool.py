"""Arrow allocates with jemalloc in every process that reads files with Arrow, unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SHOW = "import jobs.inspection.scan, jobs.arrowload, pyarrow as pa; print(pa.default_memory_pool().backend_name)"


def _pool(**env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=BASE_DIR, env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_inspection_and_load_paths_use_jemalloc():
    assert _pool() == "jemalloc"


def test_an_explicit_choice_in_the_environment_is_kept():
    assert _pool(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
    assert _pool(ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"


RELEASE = """
import numpy as np
from jobs.arrowpool import release_memory

def rss():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) // 1024

arrays = [np.ones(1000) for _ in range(20_000)]  # 160 MB in 8 KB pieces: glibc's heap, not mmap
del arrays
freed = rss()
release_memory()
print(freed, rss())
"""


def test_release_memory_hands_a_finished_tasks_freed_memory_back():
    """What a worker process freed stays resident until handed back; Celery calls this after each task."""
    done = subprocess.run([sys.executable, "-c", RELEASE], cwd=BASE_DIR, capture_output=True, text=True, check=True)
    freed, released = map(int, done.stdout.split())
    assert freed - released > 100, (freed, released)


def test_every_worker_task_ends_by_releasing_memory():
    from celery.signals import task_postrun

    from etlportal.celery import release_memory_after_task

    assert release_memory_after_task in [receiver() for _, receiver in task_postrun.receivers]
