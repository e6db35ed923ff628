"""A large CSV, written fast, whose every record is known without reading the file back.

Shared by bench/inspect.py and tests/test_inspection_large_file.py. Data record n (0-based,
after the header) has id n, and its other nine fields depend only on n % BLOCK_ROWS, so
the file is written as one pre-built block of BLOCK_ROWS rows repeated with the leading
digits of the id patched in by bytes.join (C speed: about 1 GB in a few seconds).

Every 100th record has doubled quotes in its note and every 1000th a note spanning two
physical lines, so line numbers and record numbers part ways as in real exports.

peak_rss_mb() is the memory figure both report.
"""

from __future__ import annotations

import csv
import io
import resource
import sys
from pathlib import Path

HEADER = "id,customer,email,country,amount,quantity,ordered_on,shipped_at,address,note\n"
BLOCK_ROWS = 10_000
COUNTRIES = ("US", "DE", "FR", "NA", "JP")


def _tail(j: int) -> str:
    """Record j of a block after its id: nine fields and the newline."""
    if j % 1000 == 999:
        note = '"first line\nsecond line"'
    elif j % 100 == 7:
        note = '"said ""hello"", then left"'
    elif j % 10 == 3:
        note = ""
    else:
        note = f"note {j}"
    return (
        f",Customer {j},user{j}@example.com,{COUNTRIES[j % 5]},{j * 37 % 500_000 / 100:.2f},{j % 50},"
        f"2021-{j % 12 + 1:02d}-{j % 28 + 1:02d},2021-{j % 12 + 1:02d}-{j % 28 + 1:02d}T{j % 24:02d}:{j % 60:02d}:00,"
        f'"{j} Main St, Springfield",{note}\n'
    )


_TAILS = [f"{j:04d}{_tail(j)}".encode() for j in range(BLOCK_ROWS)]
_FIRST_BLOCK = "".join(f"{j}{_tail(j)}" for j in range(BLOCK_ROWS)).encode()  # ids without zero padding


def write_csv(path: Path, *, min_bytes: int) -> int:
    """Write HEADER and whole blocks until the file holds at least min_bytes; return the data record count."""
    parts = [b"", *_TAILS]
    rows = 0
    with open(path, "wb") as handle:
        size = handle.write(HEADER.encode())
        block = 0
        while size < min_bytes:
            data = _FIRST_BLOCK if block == 0 else str(block).encode().join(parts)
            size += handle.write(data)
            rows += BLOCK_ROWS
            block += 1
    return rows


def expected_fields(n: int) -> list[str]:
    return next(csv.reader(io.StringIO(f"{n}{_tail(n % BLOCK_ROWS)}")))


def expected_line(n: int) -> int:
    """The physical line data record n starts on: after the header and one extra line per earlier two-line note."""
    return 2 + n + n // 1000


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB.

    On Linux, VmHWM: ru_maxrss survives execve, so a process started by a big one (pytest)
    would report its parent's size. Elsewhere ru_maxrss (kilobytes on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024
