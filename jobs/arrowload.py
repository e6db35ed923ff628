"""The fast path for clean UTF-8 CSV files: Arrow's C++ reader and vectorised conversions.

The row path (jobs.transform) reads and converts every value in Python, microseconds a row.
For a file whose inspection found nothing odd, pyarrow reads it in blocks, the mappings are
applied column by column, and the converted batches go to PostgreSQL as binary COPY data
(jobs.pgbinary), or as CSV for a column type without an exact binary form.

Exactness is kept as in jobs.pushdown: every conversion accepts a value only where the Python
converter accepts it, with the same result; anything else (a value with surrounding blanks, a
decimal with more digits than the scale, "+5", a date in another layout) *refuses* the batch,
which stops the attempt: nothing is committed and the load runs on the row path, which names
every bad row. tests/test_arrowload.py checks this value by value against the Python converters.

Arrow's CSV reader agrees with Python's csv module (and so with the inspection) on quoted
fields, doubled quotes, quotes inside unquoted fields, newlines in quoted fields and a UTF-8
BOM; it skips blank lines, which inspection reports as a problem, so such files never come here
(`eligible()`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from jobs import fastguards
from jobs.arrowpool import choose_memory_pool
from jobs.prefetch import prefetched
from jobs.pushdown import DATE_GUARD, DECIMAL_GUARD, TIME_GUARD, TIMESTAMP_GUARD, WHITESPACE, NotPushable
from jobs.transform import ColumnSpec

choose_memory_pool()  # jemalloc: see jobs.arrowpool

BLOCK_SIZE = 1 << 19  # bytes of CSV per block: 512 KiB keeps a worker under 300 MB (1 MiB is ~15% faster)
_INT_TYPES = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64()}
_INT_RE = r"^-?[0-9]+$"  # narrower than INT_GUARD: Arrow does not read "+5"
_NUMERIC_RE = r"^-?[0-9]*(\.[0-9]*)?$"
_OFFSET_RE = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[T ]{TIME_GUARD}(Z|[+-][0-9]{{2}}:[0-5][0-9])$"


class Refused(Exception):
    """A value the fast path does not convert exactly as Python would: use the row path."""


def eligible(inspection: dict) -> str | None:
    """Why this file cannot take the Arrow path (one sentence), or None when it can."""
    dialect = inspection.get("dialect", {})
    if inspection.get("encoding", {}).get("codec") not in ("utf-8", "ascii"):
        return "the file is not UTF-8"
    if not inspection.get("confirmed") or inspection.get("problems"):
        return "the inspection did not read every row cleanly"
    if not inspection.get("header"):
        return "the file has no header row"
    if (
        dialect.get("quotechar") != '"'
        or not dialect.get("doublequote", True)
        or dialect.get("escapechar")
        or dialect.get("skipinitialspace")
        or dialect.get("sep_line")
        or len(dialect.get("delimiter", "")) != 1
    ):
        return "the file's quoting is not the standard one"
    return None


@dataclass(frozen=True)
class ArrowPlan:
    header: list[str]
    columns: list[ColumnSpec]
    positions: dict[str, int]
    null_markers: tuple[str, ...]

    def batches(self, file, delimiter: str, on_rows=None) -> Iterator[tuple[int, pa.Table]]:
        """(rows, converted table) per block of the file (a path or a binary file object); raises Refused.

        The next block is read and converted on another thread while the caller sends this one
        (Arrow releases the GIL): the database and the conversion work at the same time.
        on_rows is called on the caller's thread. The destination writes the tables as binary
        COPY data (jobs.pgbinary) or, for a type without an exact binary form, as CSV (`as_csv`).
        """
        with prefetched(self._converted(file, delimiter), depth=2) as converted:
            for rows, table in converted:
                if on_rows is not None:
                    on_rows(rows)
                yield rows, table

    def _converted(self, file, delimiter: str) -> Iterator[tuple[int, pa.Table]]:
        names = [f"c{i}" for i in range(len(self.header))]
        reader = pacsv.open_csv(
            file,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, column_names=names, skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False
            ),
        )
        for batch in reader:
            yield batch.num_rows, self.convert(batch)
            pa.default_memory_pool().release_unused()  # hand freed blocks back: a flat RSS

    def convert(self, batch: pa.RecordBatch) -> pa.Table:
        values: dict[str, pa.Array] = {}
        kinds: dict[str, str] = {}
        out = []
        markers = pa.array(self.null_markers, pa.string())
        for spec in self.columns:
            if spec.is_calculated:
                array = _calculated(spec, values, kinds)
            else:
                raw = batch.column(self.positions[spec.source_column])
                array = _plain(spec, raw, markers)
                kinds[spec.destination_column] = _kind(spec)
            values[spec.destination_column] = array
            out.append(array)
        return pa.Table.from_arrays(out, names=[f"d{i}" for i in range(len(out))])


def as_csv(table: pa.Table) -> bytes:
    """A converted table as CSV rows for COPY ... (FORMAT csv): no header, quoted where needed."""
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue()


def compile_arrow(header: list[str], columns: list[ColumnSpec], *, aliases=None, null_markers=("",)) -> ArrowPlan:
    """The Arrow conversions of these mappings, or NotPushable (same scope as jobs.pushdown)."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    for index, name in enumerate(aliases or []):
        positions.setdefault(name, index)
    for spec in columns:
        name = spec.column_type.name
        if spec.transform in ("title", "regex_extract"):
            raise NotPushable(f"column {spec.destination_column!r}: the {spec.transform} transform runs in Python")
        if spec.format:
            raise NotPushable(f"column {spec.destination_column!r}: a {name} format is read in Python")
        if name in ("real", "uuid", "json", "jsonb") or (name == "numeric" and not spec.column_type.params):
            raise NotPushable(f"column {spec.destination_column!r}: {spec.column_type.sql} is converted in Python")
        if name == "boolean" and not all(w.isascii() for w in (*spec.true_words, *spec.false_words)):
            raise NotPushable(f"column {spec.destination_column!r}: non-ASCII boolean words are read in Python")
    plan = ArrowPlan(list(header), list(columns), positions, tuple(sorted(set(null_markers) | {""})))
    # Calculated columns: the same + - * over number columns as the server-side path accepts.
    from jobs.pushdown import compile_pushdown

    compile_pushdown(header, columns, aliases=aliases, null_markers=null_markers)
    return plan


def _all(mask) -> bool:
    return bool(pc.all(mask).as_py()) if len(mask) else True


def _refuse_unless(mask, why: str) -> None:
    if not _all(pc.fill_null(mask, True)):
        raise Refused(why)


def _plain(spec: ColumnSpec, raw: pa.Array, markers: pa.Array) -> pa.Array:
    # The usual marker set is the empty string alone: a comparison, not a hash lookup.
    empty = pc.equal(raw, "") if len(markers) == 1 and markers[0].as_py() == "" else pc.is_in(raw, value_set=markers)
    text = _transformed(spec, raw)
    if spec.transform:
        empty = pc.or_(empty, pc.equal(text, ""))
    column_type = spec.column_type
    default = None
    if spec.default not in (None, ""):
        default = spec.converter()(spec.default)
    if not pc.any(empty).as_py():  # most columns of most blocks: nothing to fill
        return _convert(spec, text)
    if default is None and not spec.nullable:
        raise Refused(f"an empty value in NOT NULL column {spec.destination_column!r}")
    placeholder = _PLACEHOLDERS.get(column_type.name, "")
    if column_type.name == "boolean" and spec.true_words:  # a word the column reads ("true" may not be one)
        placeholder = spec.true_words[0]
    filled = pc.if_else(empty, placeholder, text)
    converted = _convert(spec, filled)
    if default is None:
        fallback = pa.nulls(len(raw), converted.type)
    else:
        fallback = pa.array([_arrow_value(default, converted.type)] * len(raw), converted.type)
    return pc.if_else(empty, fallback, converted)


_PLACEHOLDERS = {
    "smallint": "0",
    "integer": "0",
    "bigint": "0",
    "numeric": "0",
    "double precision": "0",
    "boolean": "true",
    "date": "2000-01-01",
    "timestamp": "2000-01-01",
    "timestamptz": "2000-01-01",
}


def _arrow_value(value, arrow_type):
    return pa.scalar(value, arrow_type) if not isinstance(value, pa.Scalar) else value


def _transformed(spec: ColumnSpec, raw: pa.Array) -> pa.Array:
    name, args = spec.transform, spec.transform_args or {}
    if name == "":
        return raw
    if name == "trim":
        return pc.utf8_trim(raw, characters=WHITESPACE)
    if name == "ltrim":
        return pc.utf8_ltrim(raw, characters=WHITESPACE)
    if name == "rtrim":
        return pc.utf8_rtrim(raw, characters=WHITESPACE)
    if name in ("upper", "lower"):
        # Python's case mapping and Arrow's agree on ASCII only (ß, Turkish i ...).
        _refuse_unless(pc.string_is_ascii(raw), f"non-ASCII text in column {spec.destination_column!r}")
        return pc.ascii_upper(raw) if name == "upper" else pc.ascii_lower(raw)
    if name == "replace":
        return pc.replace_substring(raw, pattern=args["from"], replacement=args["to"])
    if name == "substring":
        start = args["start"] - 1
        stop = None if args.get("length") is None else start + args["length"]
        return pc.utf8_slice_codeunits(raw, start=start, stop=stop)
    if name == "nullif_empty":
        blank = pc.equal(pc.utf8_trim(raw, characters=WHITESPACE), "")
        return pc.if_else(blank, "", raw)
    raise NotPushable(f"column {spec.destination_column!r}: the {name} transform runs in Python")


def _matching(text: pa.Array, pattern: str, why: str) -> None:
    _refuse_unless(pc.match_substring_regex(text, pattern), why)


def _convert(spec: ColumnSpec, text: pa.Array) -> pa.Array:
    """Non-empty text -> the typed value, exactly as the Python converter, or Refused."""
    column_type = spec.column_type
    name = column_type.name
    why = f"a value of column {spec.destination_column!r} needs the row path"
    try:
        if name in ("text", "varchar"):
            # A NUL cannot be stored; a field of only \. would end COPY's CSV input early.
            if not fastguards.without(text, b"\x00"):
                _refuse_unless(pc.invert(pc.match_substring(text, "\x00")), why)
            if not fastguards.without(text, b"\\."):
                _refuse_unless(pc.not_equal(text, "\\."), why)
        if name == "text":
            return text
        if name == "varchar":
            if not fastguards.at_most_bytes(text, column_type.params[0]):
                _refuse_unless(pc.less_equal(pc.utf8_length(text), column_type.params[0]), why)
            return text
        if name in _INT_TYPES:
            # plain digits (blanks, "+" and the rest go to the row path)
            if not fastguards.plain_numbers(text, point=False):
                _matching(text, _INT_RE, why)
            return pc.cast(text, _INT_TYPES[name])  # out of range raises: the row path says which
        if name == "numeric":
            precision, scale = column_type.params[0], column_type.params[1] if len(column_type.params) > 1 else 0
            # Exactly representable at the column's scale: no rounding to mirror; the cast refuses the rest.
            if not fastguards.plain_numbers(text, point=True, digit_needed=False):
                _matching(text, _NUMERIC_RE, why)
            return pc.cast(text, pa.decimal128(precision, scale))
        if name == "double precision":
            if not fastguards.plain_numbers(text, point=True):  # the common case of DECIMAL_GUARD
                _matching(text, DECIMAL_GUARD, why)
            number = pc.cast(text, pa.float64())
            _refuse_unless(pc.is_finite(number), why)  # "1e400": Python refuses it
            # "1e-400" reads as 0.0 here; Python refuses a non-zero value too small for a double.
            zero = pc.equal(number, 0.0)
            if pc.any(zero).as_py():
                _matching(pc.filter(text, zero), r"^[+-]?0*\.?0*([eE].*)?$", why)
            return number
        if name == "boolean":
            _refuse_unless(pc.string_is_ascii(text), why)
            from jobs.coltypes import _DEFAULT_FALSE, _DEFAULT_TRUE

            word = pc.ascii_lower(pc.utf8_trim(text, characters=WHITESPACE))
            trues = pa.array([w.casefold() for w in spec.true_words or _DEFAULT_TRUE])
            falses = pa.array([w.casefold() for w in spec.false_words or _DEFAULT_FALSE])
            is_true = pc.is_in(word, value_set=trues)
            _refuse_unless(pc.or_(is_true, pc.is_in(word, value_set=falses)), why)
            return is_true
        if name in ("date", "timestamp", "timestamptz"):
            _refuse_unless(pc.invert(pc.starts_with(text, "0000")), why)  # Arrow has a year 0; Python has not
        if name == "date":
            if not fastguards.dates(text):
                _matching(text, DATE_GUARD, why)
            return pc.cast(text, pa.date32())  # invalid dates raise
        if name == "timestamp":
            if not fastguards.timestamps(text):
                _matching(text, TIMESTAMP_GUARD, why)
            return pc.cast(text, pa.timestamp("us"))
        if name == "timestamptz":
            with_offset = pc.match_substring_regex(text, _OFFSET_RE)
            _refuse_unless(pc.or_(with_offset, pc.match_substring_regex(text, TIMESTAMP_GUARD)), why)
            naive = pc.cast(pc.if_else(with_offset, "2000-01-01", text), pa.timestamp("us")).cast(
                pa.timestamp("us", tz="UTC")
            )  # naive values are UTC, as on the row path
            aware = pc.cast(pc.if_else(with_offset, text, "2000-01-01T00:00Z"), pa.timestamp("us", tz="UTC"))
            return pc.if_else(with_offset, aware, naive)
    except pa.ArrowInvalid:
        raise Refused(why) from None
    raise NotPushable(f"column {spec.destination_column!r}: {column_type.sql} is converted in Python")


def _kind(spec: ColumnSpec) -> str:
    name = spec.column_type.name
    return "int" if name in _INT_TYPES else "numeric" if name == "numeric" else name


def _calculated(spec: ColumnSpec, values: dict, kinds: dict) -> pa.Array:
    import ast

    operators = {ast.Add: "add_checked", ast.Sub: "subtract_checked", ast.Mult: "multiply_checked"}
    why = f"a value of column {spec.destination_column!r} needs the row path"
    source = spec.expression.strip()

    def as_decimal(array: pa.Array) -> pa.Array:
        if pa.types.is_integer(array.type):
            return pc.cast(array, pa.decimal128(19, 0))
        return array

    def walk(node):
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            left, right = walk(node.left), walk(node.right)
            if not (pa.types.is_integer(left.type) and pa.types.is_integer(right.type)):
                left, right = as_decimal(left), as_decimal(right)
            else:
                left, right = pc.cast(left, pa.int64()), pc.cast(right, pa.int64())
            return getattr(pc, operators[type(node.op)])(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = walk(node.operand)
            return pc.negate_checked(operand) if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Name) and kinds.get(node.id) in ("int", "numeric"):
            return values[node.id]
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            text = ast.get_source_segment(source, node)
            length = len(values[next(iter(values))]) if values else 0
            if type(node.value) is int:
                return pa.array([int(text)] * length, pa.int64())
            from decimal import Decimal

            number = Decimal(text)
            digits = max(len(number.as_tuple().digits), -number.as_tuple().exponent)
            return pa.array([number] * length, pa.decimal128(max(digits, 1), -number.as_tuple().exponent))
        raise NotPushable(f"column {spec.destination_column!r}: its expression is evaluated in Python")

    try:
        result = walk(ast.parse(source, mode="eval").body)
        column_type = spec.column_type
        if column_type.name == "numeric":
            precision, scale = column_type.params[0], column_type.params[1] if len(column_type.params) > 1 else 0
            result = pc.cast(as_decimal(result), pa.decimal128(precision, scale))  # rounding would raise
        else:
            result = pc.cast(result, _INT_TYPES[column_type.name])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
        raise Refused(why) from None
    default = None if spec.default in (None, "") else spec.converter()(spec.default)
    if result.null_count:
        if default is not None:
            result = pc.fill_null(result, pa.scalar(default, result.type))
        elif not spec.nullable:
            raise Refused(why)
    return result
