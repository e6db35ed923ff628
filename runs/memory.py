"""The worker process's peak resident memory during a run, from Linux's /proc (elsewhere: unknown).

A run starts the process's high-water mark afresh and reports it at the end, so the run's log
says what this load needed, not what an earlier task of the same process did. Two runs sharing
one process (a thread pool) would share the figure.
"""

from __future__ import annotations

from pathlib import Path

_PROC = Path("/proc/self")


def reset_peak() -> None:
    """Start the peak afresh from the current resident size (clear_refs 5, Linux 4.0 and later)."""
    try:
        (_PROC / "clear_refs").write_text("5")
    except OSError:
        pass


def peak_mib() -> float | None:
    """The process's peak resident size since reset_peak(), in MiB; None off Linux."""
    try:
        status = (_PROC / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None
