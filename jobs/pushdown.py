"""The fast path of a PostgreSQL load: mappings compiled to SQL run by the server over raw text.

The row path (jobs.transform) converts every value in Python, which costs microseconds a row.
When every mapping of a job can be written as SQL that gives *exactly* what the Python
converter gives, the load instead sends the file's fields as text (parsed by our own reader, so
encoding, dialect and multi-line fields are read exactly as inspected) into a temporary table,
and converts them all in one `INSERT … SELECT` inside the server.

Exactness is kept by construction, in two halves:

- Each SQL expression accepts a value only where the Python converter accepts it, with the same
  result: a guard (a regex or a character-set check mirroring the Python rule) comes before the
  cast, so PostgreSQL's more liberal input functions (" 24:00", "1_000" on PostgreSQL 16, "NaN",
  unique prefixes of "true") never decide. tests/test_pushdown.py checks this value by value
  against the Python converters on a real server.
- Where the Python converter would reject a value (or where the guard is stricter than Python),
  the SQL raises an error instead. The whole fast attempt then rolls back and the load runs again
  on the row path, which names the line, column and value of every bad row and applies the
  error budget. So a file with a bad value costs two passes, and a clean file one fast one.

What is not written here makes a job use the row path from the start (NotPushable): formats,
title case, regex_extract, calculated columns beyond + - * on numbers, unconstrained numeric,
real (its rounding from text differs from Python's double-then-real), non-ASCII boolean words,
and any destination but PostgreSQL.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import Decimal

from psycopg import sql

from jobs.coltypes import WHITESPACE, display_text
from jobs.transform import ColumnSpec

# Every character str.strip() removes (str.isspace()), so btrim() strips exactly what Python does.
RAW_SEPARATOR = "\x1f"  # COPY text format delimiter for the raw table: rare in data, escaped when present

# What the Python converters accept, in the form both fast paths convert (str.strip()ped first).
INT_GUARD = r"^[+-]?[0-9]+$"
DECIMAL_GUARD = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
DATE_GUARD = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIME_GUARD = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
TIMESTAMP_GUARD = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}([T ]{TIME_GUARD})?$"
TIMESTAMPTZ_GUARD = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}([T ]{TIME_GUARD}(Z|[+-][0-9]{{2}}:[0-5][0-9])?)?$"
_INT_TYPES = {"smallint": "int2", "integer": "int4", "bigint": "int8"}


class NotPushable(Exception):
    """The job needs the row path; the message says which mapping and why."""


@dataclass(frozen=True)
class Pushdown:
    """What the connector runs: raw text columns in, one SQL expression per destination column out."""

    source_positions: tuple[int, ...]  # the fields (by position in a record) sent, in raw column order
    raw_columns: tuple[str, ...]  # the raw table's column names, raw_0 ...
    select: tuple[sql.Composable, ...]  # per destination column, in mapping order
    compiled_with: tuple  # (header, columns, aliases, null markers), to compile again for a given server

    def for_server(self, server_version: int) -> Pushdown:
        """The same plan in the SQL that suits this server version (cheaper before PostgreSQL 16)."""
        header, columns, aliases, null_markers = self.compiled_with
        return compile_pushdown(
            header, columns, aliases=aliases, null_markers=null_markers, server_version=server_version
        )

    def render(self, fields: list[str]) -> str:
        """One record as a line of COPY text format for the raw table (no newline)."""
        picked = [fields[i] for i in self.source_positions]
        line = RAW_SEPARATOR.join(picked)
        if (
            "\\" in line
            or "\n" in line
            or "\r" in line
            or "\x00" in line
            or line.count(RAW_SEPARATOR) != len(picked) - 1
        ):
            line = RAW_SEPARATOR.join(_escape(value) for value in picked)
        return line


class RawRowRefused(Exception):
    """A record the raw COPY cannot carry (a NUL byte): the row path must load this file."""


def _escape(value: str) -> str:
    if "\x00" in value:
        raise RawRowRefused("a field contains a NUL byte")
    return (
        value.replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace(RAW_SEPARATOR, "\\" + RAW_SEPARATOR)
    )


def compile_pushdown(
    header: list[str],
    columns: list[ColumnSpec],
    *,
    aliases: list[str] | None = None,
    null_markers=("",),
    server_version: int = 160000,
) -> Pushdown:
    """SQL for every mapping, or NotPushable. The mappings are already valid (compile_transform ran).

    `server_version` (libpq's number, 150004 for 15.4) picks cheaper SQL where the server's own
    input functions are known to agree with Python; the default assumes the newest servers.
    """
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    for index, name in enumerate(aliases or []):
        positions.setdefault(name, index)
    markers = sorted(set(null_markers) | {""})
    sources: list[int] = []
    values: dict[str, sql.Composable] = {}  # destination column -> its SQL value (for expressions)
    kinds: dict[str, str] = {}  # destination column -> "int" | "numeric" | other
    select: list[sql.Composable] = []
    for spec in columns:
        if spec.is_calculated:
            expression, kind = _expression(spec, values, kinds)
            value = _calculated(spec, expression, kind)
        else:
            position = positions[spec.source_column]
            if position not in sources:
                sources.append(position)
            raw = sql.Identifier(f"raw_{sources.index(position)}")
            value = _plain(spec, raw, markers, server_version)
            kinds[spec.destination_column] = _kind(spec)
        values[spec.destination_column] = value
        select.append(value)
    return Pushdown(
        source_positions=tuple(sources),
        raw_columns=tuple(f"raw_{i}" for i in range(len(sources))),
        select=tuple(select),
        compiled_with=(list(header), list(columns), list(aliases or []), tuple(null_markers)),
    )


def _fail(value: sql.Composable, type_sql: str) -> sql.Composable:
    """An expression of type `type_sql` that raises when evaluated (so the fast attempt falls back).

    `value` must come from the row (never a constant): the planner folds constant expressions,
    even in a CASE branch never taken, and would raise at plan time.
    """
    return sql.SQL("((('etlportal: refused ' || coalesce({}::text, ''))::int4)::text)::{}").format(
        value, sql.SQL(type_sql)
    )


def _plain(spec: ColumnSpec, raw: sql.Identifier, markers: list[str], server_version: int) -> sql.Composable:
    column_type = spec.column_type
    type_sql = column_type.sql
    text = _transformed(spec, raw)
    converted = _convert(spec, text, server_version)
    default = _default(spec)
    is_null = sql.SQL("{} IN ({})").format(raw, sql.SQL(", ").join(map(sql.Literal, markers)))
    if default is None and not spec.nullable:
        empty: sql.Composable = _fail(raw, type_sql)
    else:
        empty = default if default is not None else sql.SQL("NULL::{}").format(sql.SQL(type_sql))
    if spec.transform:
        # As the row path: a null marker, or what the transform leaves empty, is empty.
        return sql.SQL("CASE WHEN {} THEN {} WHEN {} = '' THEN {} ELSE {} END").format(
            is_null, empty, text, empty, converted
        )
    return sql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(is_null, empty, converted)


def _transformed(spec: ColumnSpec, raw: sql.Composable) -> sql.Composable:
    name, args = spec.transform, spec.transform_args or {}
    ws = sql.Literal(WHITESPACE)
    if name == "":
        return raw
    if name == "trim":
        return sql.SQL("btrim({}, {})").format(raw, ws)
    if name == "ltrim":
        return sql.SQL("ltrim({}, {})").format(raw, ws)
    if name == "rtrim":
        return sql.SQL("rtrim({}, {})").format(raw, ws)
    if name in ("upper", "lower"):
        # Python's and the server's case mappings agree on ASCII only (ß, Turkish i, ...):
        # other text is refused here and converted by the row path.
        function = sql.SQL(name)
        return sql.SQL('CASE WHEN octet_length({0}) = char_length({0}) THEN {1}({0} COLLATE "C") ELSE {2} END').format(
            raw, function, _fail(raw, "text")
        )
    if name == "replace":
        return sql.SQL("replace({}, {}, {})").format(raw, sql.Literal(args["from"]), sql.Literal(args["to"]))
    if name == "substring":
        if args.get("length") is None:
            return sql.SQL("substr({}, {})").format(raw, sql.Literal(args["start"]))
        return sql.SQL("substr({}, {}, {})").format(raw, sql.Literal(args["start"]), sql.Literal(args["length"]))
    if name == "nullif_empty":
        return sql.SQL("CASE WHEN btrim({0}, {1}) = '' THEN '' ELSE {0} END").format(raw, ws)
    raise NotPushable(f"column {spec.destination_column!r}: the {name} transform runs in Python")


def _convert(spec: ColumnSpec, text: sql.Composable, server_version: int) -> sql.Composable:
    """text (not empty) -> the typed value, exactly as the Python converter, or an error."""
    column_type = spec.column_type
    name, type_sql = column_type.name, column_type.sql
    trimmed = sql.SQL("btrim({}, {})").format(text, sql.Literal(WHITESPACE))

    def guarded(guard: str, cast: str) -> sql.Composable:
        # Most values need no trimming: the regex on the value itself first, btrim only for the rest.
        return sql.SQL("CASE WHEN {0} ~ {1} THEN {0}::{2} WHEN {3} ~ {1} THEN {3}::{2} ELSE {4} END").format(
            text, sql.Literal(guard), sql.SQL(cast), trimmed, _fail(text, cast)
        )

    def unless_contains(characters: str, cast: str) -> sql.Composable:
        # The server's input function (which trims ASCII blanks, as str.strip() does) decides,
        # except for the spellings it takes and Python does not ("NaN", "inf", "0x1p3").
        refused = sql.SQL(" + ").join(sql.SQL("strpos({}, {})").format(text, sql.Literal(c)) for c in characters)
        return sql.SQL("CASE WHEN {} = 0 THEN {}::{} ELSE {} END").format(
            refused, text, sql.SQL(cast), _fail(text, cast)
        )

    if spec.format and name in ("date", "timestamp", "timestamptz"):
        raise NotPushable(f"column {spec.destination_column!r}: a {name} format is read in Python")
    if name == "text":
        return text
    if name == "varchar":
        return sql.SQL("CASE WHEN char_length({0}) <= {1} THEN {0} ELSE {2} END").format(
            text, sql.Literal(column_type.params[0]), _fail(text, type_sql)
        )
    if name in _INT_TYPES:
        if server_version < 160000:
            # Before PostgreSQL 16 its integer input is exactly Python's: blanks, a sign, digits
            # (16 added "1_000" and "0x1F"). Unicode blanks it refuses: the row path takes them.
            return sql.SQL("{}::{}").format(text, sql.SQL(_INT_TYPES[name]))
        return guarded(INT_GUARD, _INT_TYPES[name])
    if name == "numeric":
        if not column_type.params:
            raise NotPushable(f"column {spec.destination_column!r}: numeric without a precision is read in Python")
        if server_version < 160000:
            return unless_contains("nN", type_sql)  # "NaN", "Infinity", "inf"
        return guarded(DECIMAL_GUARD, type_sql)
    if name == "double precision":
        if server_version < 160000:
            return unless_contains("nNxX", "float8")  # "NaN", "inf", hexadecimal floats
        return guarded(DECIMAL_GUARD, "float8")
    if name == "boolean":
        return _boolean(spec, text)
    if name == "date":
        return guarded(DATE_GUARD, "date")
    if name == "timestamp":
        return guarded(TIMESTAMP_GUARD, "timestamp")
    if name == "timestamptz":
        return guarded(TIMESTAMPTZ_GUARD, "timestamptz")
    if name == "uuid":
        return sql.SQL("{}::uuid").format(trimmed)
    if name in ("json", "jsonb"):
        return sql.SQL("{}::{}").format(text, sql.SQL(name))
    raise NotPushable(f"column {spec.destination_column!r}: {type_sql} is converted in Python")


def _boolean(spec: ColumnSpec, text: sql.Composable) -> sql.Composable:
    from jobs.coltypes import _DEFAULT_FALSE, _DEFAULT_TRUE

    # As the Python converter: a list not given keeps the default words.
    trues = [word.casefold() for word in spec.true_words or _DEFAULT_TRUE]
    falses = [word.casefold() for word in spec.false_words or _DEFAULT_FALSE]
    if not all(word.isascii() for word in trues + falses):
        raise NotPushable(f"column {spec.destination_column!r}: non-ASCII boolean words are read in Python")
    # Python compares str.strip().casefold(); on ASCII text that is the C collation's lower().
    word = sql.SQL('lower(btrim({}, {}) COLLATE "C")').format(text, sql.Literal(WHITESPACE))
    return sql.SQL(
        "CASE WHEN octet_length({0}) <> char_length({0}) THEN {1} WHEN {2} IN ({3}) THEN true "
        "WHEN {2} IN ({4}) THEN false ELSE {1} END"
    ).format(
        text,
        _fail(text, "boolean"),
        word,
        sql.SQL(", ").join(map(sql.Literal, trues)),
        sql.SQL(", ").join(map(sql.Literal, falses)),
    )


def _default(spec: ColumnSpec) -> sql.Composable | None:
    if spec.default in (None, ""):
        return None
    value = spec.converter()(spec.default)  # valid: compile_transform checked it
    return sql.SQL("{}::{}").format(sql.Literal(display_text(value)), sql.SQL(spec.column_type.sql))


def _kind(spec: ColumnSpec) -> str:
    name = spec.column_type.name
    if name in _INT_TYPES:
        return "int"
    if name == "numeric" and spec.column_type.params:
        return "numeric"
    return name


# -- calculated columns: + - * over whole numbers and decimals ------------------------------
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


def _expression(spec: ColumnSpec, values: dict, kinds: dict) -> tuple[sql.Composable, str]:
    """(SQL, "int" | "numeric") for an expression of + - * over number columns and literals.

    Python evaluates these exactly (ints unbounded, Decimals with no rounding), as PostgreSQL's
    integer and numeric arithmetic do; an int overflow on the server raises, and the row path
    then computes it.
    """
    refuse = NotPushable(f"column {spec.destination_column!r}: its expression is evaluated in Python")
    try:
        tree = ast.parse(spec.expression.strip(), mode="eval").body
    except SyntaxError:
        raise refuse from None

    def walk(node) -> tuple[sql.Composable, str]:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, left_kind = walk(node.left)
            right, right_kind = walk(node.right)
            kind = "int" if left_kind == right_kind == "int" else "numeric"
            return sql.SQL("({} {} {})").format(left, sql.SQL(_OPERATORS[type(node.op)]), right), kind
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand, kind = walk(node.operand)
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            return sql.SQL("({}{})").format(sql.SQL(sign), operand), kind
        if isinstance(node, ast.Name) and kinds.get(node.id) in ("int", "numeric"):
            return sql.SQL("({})").format(values[node.id]), kinds[node.id]
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            source = ast.get_source_segment(spec.expression.strip(), node)
            if source is None or not source.replace(".", "", 1).isdigit():
                raise refuse
            number = Decimal(source)
            if type(node.value) is int:
                return sql.SQL("{}::int8").format(sql.Literal(str(number))), "int"
            return sql.SQL("{}::numeric").format(sql.Literal(source)), "numeric"
        raise refuse

    return walk(tree)


def _calculated(spec: ColumnSpec, expression: sql.Composable, kind: str) -> sql.Composable:
    column_type = spec.column_type
    name, type_sql = column_type.name, column_type.sql
    if name == "numeric" and column_type.params:
        value = sql.SQL("({})::{}").format(expression, sql.SQL(type_sql))
    elif name in _INT_TYPES and kind == "int":
        value = sql.SQL("({})::{}").format(expression, sql.SQL(_INT_TYPES[name]))
    else:
        raise NotPushable(f"column {spec.destination_column!r}: a {type_sql} result is converted in Python")
    default = _default(spec)
    if default is not None:
        return sql.SQL("coalesce({}, {})").format(value, default)
    if not spec.nullable:
        return sql.SQL("coalesce({}, {})").format(value, _fail(expression, type_sql))
    return value
