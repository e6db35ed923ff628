"""PostgreSQL's binary COPY format, written from Arrow tables without a Python object per value.

The Arrow load path converts a block of the file into typed Arrow columns. Sent as CSV, every
number, date and timestamp is printed by Arrow and parsed again by the server, which is half of
the server's COPY time. In COPY's binary format the server takes the values as they are in
memory (big-endian), so the block is encoded here instead, a column at a time with numpy:

- each row is a 16-bit field count, then per field a 32-bit length (-1 for NULL) and the bytes;
- fixed-width values (integers, doubles, booleans, dates, timestamps, numerics of up to 18
  digits) and the length words become one numpy matrix per run of columns, a row per record;
- text keeps Arrow's own bytes; Arrow's `binary_join_element_wise` then lays the pieces of each
  row side by side, so the result's data buffer is the COPY data of the whole block.

Only an Arrow type whose binary form is exactly the destination column's is encoded:
`encoder()` returns None for anything else (json, uuid, a numeric wider than 18 digits, a
column of another type), and the caller sends CSV as before. The server applies a column's
typmod (numeric scale, varchar length) to binary input as it does to text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags (no OIDs), header extension length 0
TRAILER = b"\xff\xff"  # a field count of -1 ends the data
_UNIX_TO_PG_DAYS = 10_957  # days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch
_UNIX_TO_PG_MICROSECONDS = _UNIX_TO_PG_DAYS * 86_400 * 1_000_000
_NUMERIC_POSITIVE, _NUMERIC_NEGATIVE = 0x0000, 0x4000
_MAX_NUMERIC_DIGITS = 18  # unscaled values fit an int64

# The destination type (jobs.coltypes' names) each Arrow type is written as, exactly.
_FIXED: dict[str, tuple[pa.DataType, str]] = {
    "smallint": (pa.int16(), ">i2"),
    "integer": (pa.int32(), ">i4"),
    "bigint": (pa.int64(), ">i8"),
    "double precision": (pa.float64(), ">f8"),
    "boolean": (pa.bool_(), "u1"),
    "date": (pa.date32(), ">i4"),
    "timestamp": (pa.timestamp("us"), ">i8"),
    "timestamptz": (pa.timestamp("us", tz="UTC"), ">i8"),
}
_TEXT = ("text", "varchar")

Encoder = Callable[[pa.Table], memoryview]


class BlockTypesChanged(Exception):
    """A block's column types are not the first block's, which chose the encoding."""


def encoder(arrow_types: Sequence[pa.DataType], column_types: Sequence[str]) -> Encoder | None:
    """A function writing tables of these Arrow column types as binary COPY rows for columns of
    these types (jobs.coltypes names: "bigint", "numeric", ...), or None when one pair has no
    exact binary form here (the caller then sends CSV)."""
    if len(arrow_types) != len(column_types) or not arrow_types:
        return None
    writers = []
    for arrow_type, column_type in zip(arrow_types, column_types, strict=True):
        writer = _writer(arrow_type, column_type)
        if writer is None:
            return None
        writers.append(writer)
    expected = list(arrow_types)

    def encode(table: pa.Table) -> memoryview:
        if table.schema.types != expected:  # the converter's types never change between blocks
            raise BlockTypesChanged(f"a block's column types {table.schema.types} are not {expected}")
        return _rows(table, writers)

    return encode


def _writer(arrow_type: pa.DataType, column_type: str):
    if column_type in _TEXT:
        return _text if arrow_type == pa.string() else None
    if column_type == "numeric":
        if (
            pa.types.is_decimal128(arrow_type)
            and arrow_type.precision <= _MAX_NUMERIC_DIGITS
            and 0 <= arrow_type.scale <= arrow_type.precision
        ):
            return _numeric
        return None
    fixed = _FIXED.get(column_type)
    if fixed is None or fixed[0] != arrow_type:
        return None
    return _fixed_writer(column_type, fixed[1])


# -- one column: (n, width) uint8 matrix of its bytes, or (lengths, binary array) for text ----
def _fixed_writer(column_type: str, big_endian: str):
    def write(array: pa.Array) -> np.ndarray:
        """The values' bytes; a NULL's slot holds whatever its buffer held (it is not sent)."""
        if column_type == "boolean":
            values = array.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        else:
            values = _slots(array, np.dtype(big_endian).newbyteorder("="))
            if column_type == "date":
                values = values - np.int32(_UNIX_TO_PG_DAYS)
            elif column_type in ("timestamp", "timestamptz"):
                values = values - np.int64(_UNIX_TO_PG_MICROSECONDS)
        return values.astype(big_endian).view(np.uint8).reshape(len(array), -1)

    return write


def _slots(array: pa.Array, dtype: np.dtype) -> np.ndarray:
    """A fixed-width array's value buffer as numpy, NULL slots included."""
    return np.frombuffer(array.buffers()[1], dtype, count=array.offset + len(array))[array.offset :]


def _numeric(array: pa.Array) -> np.ndarray:
    """numeric's binary form: digit count, weight, sign, display scale, then base-10000 digits.

    Every value of the column gets the same digit groups (leading and trailing zero groups
    included, which the server strips), so the field has a fixed width.
    """
    precision, scale = array.type.precision, array.type.scale
    n = len(array)
    # A decimal128 is 16 little-endian bytes; below 10**18 its low 8 are the value as an int64.
    unscaled = _slots(array, np.dtype("<i8,<i8"))["f0"]
    magnitude = np.abs(unscaled)
    fraction_groups = (scale + 3) // 4
    integer_groups = max((precision - scale + 3) // 4, 1)
    whole, fraction = np.divmod(magnitude, 10**scale)  # both below 10**18: no int64 overflow
    padding = 4 * fraction_groups - scale  # zeros after the last digit, to fill its group
    digits = integer_groups + fraction_groups
    out = np.empty((n, 4 + digits), ">i2")
    out[:, 0] = digits
    out[:, 1] = integer_groups - 1  # weight: the first group is 10000**weight
    out[:, 2] = np.where(unscaled < 0, _NUMERIC_NEGATIVE, _NUMERIC_POSITIVE)
    out[:, 3] = scale
    for k in range(integer_groups):
        out[:, 4 + k] = whole // 10000 ** (integer_groups - 1 - k) % 10000
    for k in range(fraction_groups):
        # Group k holds fraction digits 4k to 4k+3, counted from the point. Scaling the whole
        # fraction up by `padding` first would overflow an int64 from scale 17 on.
        shift = 4 * (fraction_groups - 1 - k) - padding
        if shift >= 0:
            out[:, 4 + integer_groups + k] = fraction // 10**shift % 10000
        else:  # the last group, completed with zeros
            out[:, 4 + integer_groups + k] = fraction % 10 ** (4 + shift) * 10**-shift
    return out.view(np.uint8).reshape(n, -1)


def _text(array: pa.Array) -> tuple[np.ndarray, pa.Array]:
    lengths = pc.binary_length(array).fill_null(0).to_numpy().astype(np.int32)
    data = array.fill_null("") if array.null_count else array
    return lengths, data.cast(pa.binary())  # the same buffers: no copy


# -- the rows ------------------------------------------------------------------------------
def _as_binary(matrix: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix as n binary values of `width` bytes, sharing its memory."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix)])


def _packed(matrix: np.ndarray, valid: np.ndarray) -> pa.Array:
    """The rows of matrix where valid, and an empty value elsewhere (a NULL has no bytes)."""
    width = matrix.shape[1]
    offsets = np.zeros(len(valid) + 1, np.int32)
    np.cumsum(np.where(valid, width, 0), out=offsets[1:])
    data = np.ascontiguousarray(matrix[valid])
    return pa.Array.from_buffers(pa.binary(), len(valid), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _length_words(lengths: np.ndarray) -> np.ndarray:
    return lengths.astype(">i4").view(np.uint8).reshape(len(lengths), 4)


def _rows(table: pa.Table, writers) -> memoryview:
    n = table.num_rows
    if not n:
        return memoryview(b"")
    pieces: list[pa.Array] = []  # what binary_join_element_wise lays side by side in each row
    fixed: list[np.ndarray] = [np.full((n, 1), len(writers), ">i2").view(np.uint8)]  # bytes of the current run

    def end_run() -> None:
        pieces.append(_as_binary(np.ascontiguousarray(np.hstack(fixed))))
        fixed.clear()

    for column, write in zip(table.columns, writers, strict=True):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        valid = None if not array.null_count else array.is_valid().to_numpy(zero_copy_only=False)
        if write is _text:
            lengths, data = _text(array)
        else:
            matrix = write(array)
            if valid is None:
                fixed.append(np.full((n, 1), matrix.shape[1], ">i4").view(np.uint8))
                fixed.append(matrix)
                continue
            lengths, data = np.full(n, matrix.shape[1], np.int32), _packed(matrix, valid)
        if valid is not None:
            lengths = np.where(valid, lengths, -1)
        fixed.append(_length_words(lengths))
        end_run()
        pieces.append(data)
    if fixed:
        end_run()
    rows = pieces[0] if len(pieces) == 1 else pc.binary_join_element_wise(*pieces, b"")
    offsets = np.frombuffer(rows.buffers()[1], np.int32, count=rows.offset + n + 1)
    return memoryview(rows.buffers()[2])[offsets[rows.offset] : offsets[rows.offset + n]]
