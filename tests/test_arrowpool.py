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
