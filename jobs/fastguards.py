"""Quick proofs that every value of an Arrow block passes one of the Arrow path's guards.

The Arrow path (jobs.arrowload) checks each column of a block with a regular expression before
it casts it, so that it converts exactly what Python's converter accepts. Arrow's regex engine
costs more than the cast itself: nearly a third of the path's conversion time on the benchmark.
These functions look at a block's bytes at once with numpy instead.

Each is *sufficient*, never necessary: True proves every value passes the guard; False proves
nothing, and the caller then runs the regular expression as before. A column written in an
unusual but valid way ("1e3" for a double, a timestamp with fractions) only takes the slower check.
tests/test_fastguards.py compares each answer with the regular expression's, value by value.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa

_DIGIT = b"0123456789"
_MINUS, _POINT = ord("-"), ord(".")


def _layout(array: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(offsets from the first value's start, the values' bytes) of a string array, or None
    for an empty array, one with nulls, a chunked array or another type (then only the regex
    can tell)."""
    if not isinstance(array, pa.Array) or array.type != pa.string() or array.null_count or len(array) == 0:
        return None
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[array.offset : array.offset + len(array) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    if end == start:
        return offsets - start, np.empty(0, np.uint8)
    return offsets - start, np.frombuffer(data_buffer, np.uint8)[start:end]


def _in_range(data: np.ndarray, low: int, high: int) -> np.ndarray:
    """Which bytes are between low and high (one subtraction: uint8 wraps below low)."""
    return (data - np.uint8(low)) <= np.uint8(high - low)


def _value_of(positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The index of the value each byte position belongs to."""
    return np.searchsorted(offsets, positions, side="right") - 1


def plain_numbers(array: pa.Array, *, point: bool, digit_needed: bool = True) -> bool:
    """Every value is an optional leading "-", ASCII digits and (with point) at most one ".",
    and has a digit unless digit_needed is False.

    That is exactly `^-?[0-9]+$` (point False), `^-?[0-9]*(\\.[0-9]*)?$` (point True,
    digit_needed False), and the part of a decimal guard without "+" or an exponent (point True).
    """
    layout = _layout(array)
    if layout is None:
        return False
    offsets, data = layout
    minus, dot = data == _MINUS, data == _POINT
    allowed = _in_range(data, ord("0"), ord("9")) | minus
    if point:
        allowed |= dot
    if not allowed.all():
        return False
    others = np.zeros(len(array), np.int64)  # the bytes of each value that are not digits
    for mark, at_start in ((minus, True), (dot, False)):
        positions = np.flatnonzero(mark)
        if not len(positions):
            continue
        owners = _value_of(positions, offsets)
        if at_start and (positions != offsets[owners]).any():  # a "-" after a value's start
            return False
        if not at_start and (np.diff(owners) == 0).any():  # two points in one value
            return False
        np.add.at(others, owners, 1)  # counts each repeat, unlike others[owners] += 1
    return not digit_needed or bool((np.diff(offsets) > others).all())


@cache
def _classes_check(classes: tuple[bytes, ...]):
    """(lowest byte, span) per position, and the positions whose bytes are not one range."""
    low = np.array([min(allowed) for allowed in classes], np.uint8)
    span = np.array([max(allowed) - min(allowed) for allowed in classes], np.uint8)
    gaps = tuple(
        (position, tuple(allowed))
        for position, allowed in enumerate(classes)
        if len(allowed) != max(allowed) - min(allowed) + 1
    )
    return low, span, gaps


def fixed_width(array: pa.Array, classes: tuple[bytes, ...]) -> np.ndarray | None:
    """The values as a matrix of bytes, a row each, when every value has len(classes) bytes and
    its byte i is one of classes[i]; else None."""
    layout = _layout(array)
    if layout is None:
        return None
    offsets, data = layout
    width = len(classes)
    if len(data) != width * len(array) or (np.diff(offsets) != width).any():
        return None
    matrix = data.reshape(-1, width)
    low, span, gaps = _classes_check(classes)
    if not ((matrix - low) <= span).all():
        return None
    for position, allowed in gaps:
        if not np.isin(matrix[:, position], allowed).all():
            return None
    return matrix


_D = _DIGIT
DATE = (_D, _D, _D, _D, b"-", _D, _D, b"-", _D, _D)  # exactly ^[0-9]{4}-[0-9]{2}-[0-9]{2}$
_HOUR_MINUTE = (b"T ", b"012", _D, b":", b"012345", _D)
_SECONDS = (b":", b"012345", _D)


def dates(array: pa.Array) -> bool:
    """Every value is YYYY-MM-DD in ASCII digits: exactly jobs.pushdown.DATE_GUARD."""
    return fixed_width(array, DATE) is not None


def timestamps(array: pa.Array) -> bool:
    """Every value is YYYY-MM-DD, or that with [T ]HH:MM or [T ]HH:MM:SS (hour 00-23, minutes
    and seconds 00-59), all of one width: jobs.pushdown.TIMESTAMP_GUARD without fractions."""
    for classes in (DATE, DATE + _HOUR_MINUTE, DATE + _HOUR_MINUTE + _SECONDS):
        matrix = fixed_width(array, classes)
        if matrix is not None:
            if len(classes) == len(DATE):
                return True
            return not ((matrix[:, 11] == ord("2")) & (matrix[:, 12] > ord("3"))).any()  # 24:00 to 29:59
    return False


def without(array: pa.Array, needle: bytes) -> bool:
    """No value contains these bytes (False also for an array the check cannot read).

    Stricter than a guard that a value is not *equal* to them, and the bytes are searched in
    the values joined together, so they may be found across two values: either way False only
    costs the regex."""
    layout = _layout(array)
    if layout is None:
        return False
    data = layout[1]
    if not (data == needle[0]).any():  # no copy of the bytes in the usual case
        return True
    return data.tobytes().find(needle) < 0


def at_most_bytes(array: pa.Array, limit: int) -> bool:
    """No value is longer than limit bytes (so not longer than limit characters either)."""
    layout = _layout(array)
    return layout is not None and int(np.diff(layout[0]).max()) <= limit
