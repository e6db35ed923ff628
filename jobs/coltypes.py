"""Destination column types: parsing, validation and conversion of text values.

Shared by the row transform (what a value becomes) and the connectors (the DDL).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation


class ConversionError(ValueError):
    pass


_INT_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


@dataclass(frozen=True)
class ColumnType:
    name: str  # canonical: text, varchar, integer, numeric, ...
    params: tuple[int, ...] = ()

    @property
    def sql(self) -> str:
        if self.params:
            return f"{self.name}({','.join(str(p) for p in self.params)})"
        return self.name

    @property
    def is_text(self) -> bool:
        return self.name in {"text", "varchar"}

    def converter(self) -> Callable[[str], object]:
        return _converter(self)


_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int2": "smallint",
    "int8": "bigint",
    "string": "text",
    "character varying": "varchar",
    "decimal": "numeric",
    "float": "double precision",
    "float8": "double precision",
    "double": "double precision",
    "float4": "real",
    "bool": "boolean",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "datetime": "timestamp",
}
_KNOWN = {
    "text",
    "varchar",
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "double precision",
    "real",
    "boolean",
    "date",
    "timestamp",
    "timestamptz",
    "uuid",
    "jsonb",
    "json",
}
_TYPE_RE = re.compile(r"^\s*([a-z][a-z0-9 ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


def parse_type(text: str) -> ColumnType:
    """Parse "numeric(12, 2)", "VARCHAR(40)", "int" ... or raise ValueError saying what is allowed."""
    match = _TYPE_RE.match(" ".join(text.lower().split()))
    if not match:
        raise ValueError(f"unknown column type {text!r}")
    name = _ALIASES.get(match.group(1), match.group(1))
    params = tuple(int(g) for g in match.groups()[1:] if g is not None)
    if name not in _KNOWN:
        raise ValueError(f"unknown column type {text!r}; use one of: {', '.join(sorted(_KNOWN))}")
    if name == "varchar" and len(params) != 1:
        raise ValueError("varchar needs a length, e.g. varchar(100)")
    if name == "varchar" and not 1 <= params[0] <= 10_485_760:
        raise ValueError("varchar length must be between 1 and 10485760 (PostgreSQL's limit)")
    if name == "numeric" and params:
        precision = params[0]
        scale = params[1] if len(params) > 1 else 0
        if not 1 <= precision <= 1000 or scale > precision:
            raise ValueError(f"numeric({precision},{scale}) needs 1 <= precision <= 1000 and scale <= precision")
    elif name not in {"varchar", "numeric"} and params:
        raise ValueError(f"{name} takes no size")
    return ColumnType(name, params)


def _converter(column_type: ColumnType) -> Callable[[str], object]:
    name = column_type.name
    if name == "text":

        def to_text(value: str) -> str:
            if "\x00" in value:
                raise ConversionError("contains a NUL byte (0x00), which PostgreSQL cannot store in text")
            return value

        return to_text
    if name == "varchar":
        limit = column_type.params[0]

        def to_varchar(value: str) -> str:
            if "\x00" in value:
                raise ConversionError("contains a NUL byte (0x00), which PostgreSQL cannot store in text")
            if len(value) > limit:
                raise ConversionError(f"is {len(value)} characters long, more than varchar({limit}) allows")
            return value

        return to_varchar
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]

        def to_int(value: str) -> int:
            value = value.strip()
            if not _INT_RE.fullmatch(value):
                raise ConversionError(f"is not a whole number ({name})")
            number = int(value)
            if not low <= number <= high:
                raise ConversionError(f"is out of range for {name} ({low} to {high})")
            return number

        return to_int
    if name == "numeric":
        precision = column_type.params[0] if column_type.params else None
        scale = column_type.params[1] if len(column_type.params) > 1 else 0
        context = Context(prec=precision, rounding=ROUND_HALF_UP) if precision is not None else None

        def to_decimal(value: str) -> Decimal:
            value = value.strip()
            if not _DECIMAL_RE.fullmatch(value):
                raise ConversionError("is not a number")
            number = Decimal(value)
            if precision is not None:
                # Round as PostgreSQL does (half away from zero). With prec=precision,
                # quantize signals InvalidOperation exactly when the result needs more
                # digits than the column has, whatever the default context's 28 digits.
                try:
                    number = number.quantize(Decimal(1).scaleb(-scale), context=context)
                except InvalidOperation:
                    raise ConversionError(f"does not fit numeric({precision},{scale})") from None
            return number

        return to_decimal
    if name in {"double precision", "real"}:

        def to_float(value: str) -> float:
            value = value.strip()
            if not _DECIMAL_RE.fullmatch(value) and value.lower() not in {
                "nan",
                "infinity",
                "-infinity",
                "inf",
                "-inf",
            }:
                raise ConversionError("is not a number")
            number = float(value)
            if math.isinf(number) and _DECIMAL_RE.fullmatch(value):
                # float() turns 1e400 into infinity; PostgreSQL rejects it as out of range.
                raise ConversionError(f"is out of range for {name}")
            return number

        return to_float
    if name == "boolean":

        def to_bool(value: str) -> bool:
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ConversionError("is not a boolean (true/false, yes/no, 1/0, t/f)")

        return to_bool
    if name == "date":

        def to_date(value: str) -> date:
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                raise ConversionError("is not a date (YYYY-MM-DD)") from None

        return to_date
    if name in {"timestamp", "timestamptz"}:
        aware = name == "timestamptz"

        def to_timestamp(value: str) -> datetime:
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ConversionError("is not a timestamp (YYYY-MM-DD HH:MM:SS)") from None
            if aware and moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)  # documented: naive timestamps are UTC
            if not aware and moment.tzinfo is not None:
                raise ConversionError("has a time zone offset; use timestamptz for this column")
            return moment

        return to_timestamp
    if name == "uuid":

        def to_uuid(value: str) -> uuid.UUID:
            try:
                return uuid.UUID(value.strip())
            except ValueError:
                raise ConversionError("is not a UUID") from None

        return to_uuid
    if name in {"json", "jsonb"}:

        def to_json(value: str) -> str:
            try:
                # Only validated, never used: parse_int=str skips int() and its 4300-digit
                # limit (a plain ValueError without .msg); NaN and Infinity are not JSON.
                json.loads(value, parse_int=str, parse_constant=_reject_json_constant)
            except json.JSONDecodeError as exc:
                raise ConversionError(f"is not valid JSON ({exc.msg})") from None
            return value

        return to_json
    raise AssertionError(f"no converter for {name}")


def _reject_json_constant(word: str) -> None:
    raise ConversionError(f"is not valid JSON ({word} is not allowed)")
