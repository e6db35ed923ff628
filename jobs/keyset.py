"""The integer keys a table already holds, to tell an UPSERT's new rows from its existing ones.

An UPSERT of a file into a table holding some of its keys is mostly spent by the server finding,
row by row, whether each key exists (`INSERT ... ON CONFLICT` probes the unique index, inserts
speculatively, and locks each existing row, changed or not). When the table's keys fit in a few
megabytes, the Arrow load path fetches them once (`array_send`, one bytea) and looks each block's
keys up here, with numpy: rows with a new key are COPYed straight into the table, the others
into a staging table that a MERGE applies batch by batch. `ExistingKeys.existing()` also refuses
a key that comes twice in the file among the existing ones (the table's unique index refuses a
repeated new key itself). 8 bytes a key are kept, plus a byte to mark it found; while fetching,
about 30 (the bytea as libpq and as Python hold it, and the copy).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# array_send(): ndim, has-nulls flag, element type oid, then (length, lower bound) per dimension,
# then each element as a 32-bit length and its bytes; all big-endian.
_ARRAY_HEADER = np.dtype([("ndim", ">i4"), ("flags", ">i4"), ("element", ">u4")])
_INT8_OID = 20
_INT8_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])


class RepeatedKey(Exception):
    """A key of the table comes twice in the file."""


class ExistingKeys:
    """A table's keys (unique, no NULLs), sorted once, each found at most once by `existing()`."""

    def __init__(self, keys: np.ndarray):
        self._sorted = keys.astype(np.int64)  # a copy (of a view into the fetched bytes), sorted in place
        self._sorted.sort()
        self._seen = np.zeros(len(self._sorted), dtype=bool)

    @classmethod
    def from_array_send(cls, data: bytes | memoryview) -> ExistingKeys:
        """The keys from `array_send()` of a one-dimensional bigint array without NULLs."""
        if len(data) < _ARRAY_HEADER.itemsize:
            raise ValueError("not an array_send() value")
        header = np.frombuffer(data, _ARRAY_HEADER, count=1)[0]
        if header["ndim"] == 0:
            return cls(np.empty(0, np.int64))
        if header["ndim"] != 1 or header["flags"] != 0 or header["element"] != _INT8_OID:
            raise ValueError("expected a one-dimensional bigint array without NULLs")
        count = int(np.frombuffer(data, ">i4", count=1, offset=_ARRAY_HEADER.itemsize)[0])
        elements = np.frombuffer(data, _INT8_ELEMENT, count=count, offset=_ARRAY_HEADER.itemsize + 8)
        if count and (elements["length"] != 8).any():
            raise ValueError("expected 8-byte elements")
        return cls(elements["value"])

    def __len__(self) -> int:
        return len(self._sorted)

    def existing(self, keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Which of these keys (integers, no NULLs) the table holds, as a boolean mask.

        Raises RepeatedKey when one of them was found before (in this call or an earlier one).
        """
        values = np.asarray(keys.to_numpy(), dtype=np.int64)
        if not len(self._sorted):
            return np.zeros(len(values), dtype=bool)
        positions = np.searchsorted(self._sorted, values)
        np.minimum(positions, len(self._sorted) - 1, out=positions)
        found = self._sorted[positions] == values
        hits = positions[found]
        if len(hits):
            if self._seen[hits].any() or len(np.unique(hits)) != len(hits):
                raise RepeatedKey("a key the table holds comes more than once in the file")
            self._seen[hits] = True
        return found
