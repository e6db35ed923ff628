"""Destination column types: parsing, validation and conversion of values.

Shared by the row transform (what a value becomes) and the connectors (the DDL).
Two kinds of converter: `ColumnType.converter()` reads the text of a CSV field;
`ColumnType.value_converter()` takes a Python value a calculated column produced
(int, Decimal, float, bool, date, datetime, UUID or text). Both raise ConversionError
with a reason that reads after the value ("is not a whole number (integer)").
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache


class ConversionError(ValueError):
    pass


_INT_RE = re.compile(r"([+-]?)0*([0-9]+)")
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
# PostgreSQL's numeric: at most 131072 digits before the decimal point and 16383 after.
_NUMERIC_MAX_ADJUSTED = 131071
_NUMERIC_MIN_EXPONENT = -16383
# What a 4-byte real cannot hold: from here up it rounds to infinity, from here down to zero.
_REAL_OVERFLOW = 3.4028235677973366e38
_REAL_UNDERFLOW = 7.006492321624085e-46
DATE_TYPES = frozenset({"date", "timestamp", "timestamptz"})
# What str.strip() removes (every character whose isspace() is true), which is what every
# converter strips: for code that trims without Python (Arrow's utf8_trim, SQL's btrim) and must
# trim the same characters. Written out: working it out takes 60 ms at every import.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


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

    def converter(
        self, *, format: str = "", true_words: Iterable[str] = (), false_words: Iterable[str] = ()
    ) -> Callable[[str], object]:
        """A function text -> value raising ConversionError.

        `format` is a strptime format for date, timestamp and timestamptz ("" reads ISO 8601);
        `true_words`/`false_words` replace the default boolean words (both or neither).
        Raises ValueError, one sentence, for options that do not fit this type.
        """
        return _converter(self, format, tuple(true_words), tuple(false_words))

    def value_converter(
        self, *, format: str = "", true_words: Iterable[str] = (), false_words: Iterable[str] = ()
    ) -> Callable[[object], object]:
        """A function Python value -> value raising ConversionError, for calculated columns.

        Text goes through `converter(...)` (so formats and words apply); numbers, booleans,
        dates, timestamps and UUIDs are checked against the type: an integer column takes
        only whole numbers in its range, never wrapped or silently rounded.
        """
        return _value_converter(self, self.converter(format=format, true_words=true_words, false_words=false_words))


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


@lru_cache(maxsize=1024)  # the Arrow path asks for each column's type at every block
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


def kind_of(value: object) -> str:
    """What a value is, in the words error messages use."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, uuid.UUID):
        return "uuid"
    return type(value).__name__


def display_text(value: object) -> str | None:
    """A value as people read it: Decimal digits as stored, ISO dates, true/false; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _converter(
    column_type: ColumnType, format: str, true_words: tuple[str, ...], false_words: tuple[str, ...]
) -> Callable[[str], object]:
    name = column_type.name
    if format and name not in DATE_TYPES:
        raise ValueError(f"a format only applies to date and timestamp columns, not {column_type.sql}")
    if (true_words or false_words) and name != "boolean":
        raise ValueError(f"true and false words only apply to boolean columns, not {column_type.sql}")
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
        out_of_range = f"is out of range for {name} ({low} to {high})"

        def to_int(value: str) -> int:
            if len(value) < 19 and value.isdigit() and value.isascii():  # the common case: plain digits
                number = int(value)
            else:
                match = _INT_RE.fullmatch(value.strip())
                if not match:
                    raise ConversionError(f"is not a whole number ({name})")
                sign, digits = match.groups()
                if len(digits) > 19:  # never hand int() thousands of digits (its 4300-digit limit)
                    raise ConversionError(out_of_range)
                number = -int(digits) if sign == "-" else int(digits)
            if not low <= number <= high:
                raise ConversionError(out_of_range)
            return number

        return to_int
    if name == "numeric":
        return _numeric_converter(column_type)
    if name in {"double precision", "real"}:
        return _float_converter(name)
    if name == "boolean":
        return _boolean_converter(true_words, false_words)
    if name in DATE_TYPES:
        return _date_converter(name, format)
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


def _read_decimal(value: str) -> Decimal:
    """Plain ASCII decimal notation (sign, digits, point, exponent) or ConversionError."""
    text = value.strip()
    # Decimal() alone would also take "NaN", "Infinity", "1_000" and non-ASCII digits.
    if text.isascii() and "_" not in text:
        try:
            number = Decimal(text)
        except InvalidOperation:
            if _DECIMAL_RE.fullmatch(text):  # well formed, but an exponent beyond any decimal
                raise ConversionError("is out of range for numeric") from None
        else:
            if number.is_finite():
                return number
    raise ConversionError("is not a number")


def _numeric_converter(column_type: ColumnType) -> Callable[[str], Decimal]:
    fit = _numeric_fit(column_type)

    def to_decimal(value: str) -> Decimal:
        return fit(_read_decimal(value))

    return to_decimal


def _numeric_fit(column_type: ColumnType) -> Callable[[Decimal], Decimal]:
    """Decimal -> the value the column stores (rounded to its scale), or ConversionError."""
    precision = column_type.params[0] if column_type.params else None
    scale = column_type.params[1] if len(column_type.params) > 1 else 0
    if precision is None:

        def unconstrained(number: Decimal) -> Decimal:
            if number and (
                number.adjusted() > _NUMERIC_MAX_ADJUSTED or number.as_tuple().exponent < _NUMERIC_MIN_EXPONENT
            ):
                raise ConversionError("is out of range for numeric")
            return number

        return unconstrained
    context = Context(prec=precision, rounding=ROUND_HALF_UP)
    step = Decimal(1).scaleb(-scale)
    does_not_fit = f"does not fit numeric({precision},{scale})"

    def fixed(number: Decimal) -> Decimal:
        # Round as PostgreSQL does (half away from zero). With prec=precision, quantize
        # signals InvalidOperation exactly when the result needs more digits than the
        # column has, whatever the default context's 28 digits.
        try:
            return number.quantize(step, context=context)
        except InvalidOperation:
            raise ConversionError(does_not_fit) from None

    return fixed


def _float_converter(name: str) -> Callable[[str], float]:
    real = name == "real"
    out_of_range = f"is out of range for {name}"

    def to_float(value: str) -> float:
        text = value.strip()
        # float() alone would also take "1_0" and non-ASCII digits.
        if not text.isascii() or "_" in text:
            raise ConversionError("is not a number")
        try:
            number = float(text)
        except ValueError:
            raise ConversionError("is not a number") from None
        if number == 0.0 or math.isinf(number) or (real and not _REAL_UNDERFLOW < abs(number) < _REAL_OVERFLOW):
            _check_float_range(text, number, real, out_of_range)
        return number

    return to_float


def _check_float_range(text: str, number: float, real: bool, out_of_range: str) -> None:
    """PostgreSQL rejects what does not fit instead of turning it into infinity or zero."""
    if math.isnan(number):
        return
    if math.isinf(number):
        if "n" not in text.lower():  # "1e400", not one of the words inf, infinity
            raise ConversionError(out_of_range)
        return
    if number == 0.0:
        mantissa = text.lower().split("e")[0]
        if mantissa.strip("+-0."):  # "1e-400": not zero, too small for a double
            raise ConversionError(out_of_range)
        return
    if real:  # finite in a double but not in a 4-byte real
        raise ConversionError(out_of_range)


_DEFAULT_TRUE = ("true", "t", "yes", "y", "1", "on")
_DEFAULT_FALSE = ("false", "f", "no", "n", "0", "off")


def _boolean_converter(true_words: tuple[str, ...], false_words: tuple[str, ...]) -> Callable[[str], bool]:
    """Words read as true and false, case-insensitively; a list not given keeps the default words."""
    if true_words or false_words:
        true_words = true_words or _DEFAULT_TRUE
        false_words = false_words or _DEFAULT_FALSE
        trues, falses = _boolean_words(true_words, false_words)
        problem = f"is not one of the accepted words (true: {', '.join(true_words)}; false: {', '.join(false_words)})"
    else:
        trues, falses = set(_DEFAULT_TRUE), set(_DEFAULT_FALSE)
        problem = "is not a boolean (true/false, yes/no, 1/0, t/f)"

    def to_bool(value: str) -> bool:
        word = value.strip().casefold()
        if word in trues:
            return True
        if word in falses:
            return False
        raise ConversionError(problem)

    return to_bool


def _boolean_words(true_words: tuple[str, ...], false_words: tuple[str, ...]) -> tuple[set[str], set[str]]:
    words = []
    for kind, given in (("true", true_words), ("false", false_words)):
        found = set()
        for word in given:
            if not isinstance(word, str) or not word.strip():
                raise ValueError(f"the {kind} words must be non-empty text, not {word!r}")
            found.add(word.strip().casefold())
        words.append(found)
    both = words[0] & words[1]
    if both:
        # With one list given, the other is the defaults: true words ["0"] clash with the default false "0".
        raise ValueError(f"{', '.join(repr(w) for w in sorted(both))} cannot be both a true and a false word")
    return words[0], words[1]


# strptime directives a format may use: date fields, time fields, the UTC offset, and %%.
_DATE_DIRECTIVES = frozenset("aAbBdjmyYGVuwUW")
_TIME_DIRECTIVES = frozenset("HIpMSf")
_WEEKDAYS = frozenset("aAuw")
_SAMPLE = datetime(2024, 1, 31, 13, 45, 30, 123456)


def _format_directives(format: str) -> list[str]:
    """The directives of a strptime format, or ValueError naming the first one not allowed."""
    found = []
    index = 0
    while (index := format.find("%", index)) != -1:
        if index + 1 == len(format):
            raise ValueError(f"format {format!r} ends with a lone %; write %% for a percent sign")
        letter = format[index + 1]
        index += 2
        if letter == "%":
            continue
        if letter == "Z":
            raise ValueError(f"format {format!r}: %Z (time zone names) is not supported; use %z for offsets like +0200")
        if letter in "cxX":
            raise ValueError(f"format {format!r}: %{letter} depends on the locale; spell the parts out, e.g. %d/%m/%Y")
        if letter not in _DATE_DIRECTIVES | _TIME_DIRECTIVES | {"z"}:
            raise ValueError(f"format {format!r}: %{letter} is not a strptime directive")
        if letter in found:
            raise ValueError(f"format {format!r} has %{letter} twice")
        found.append(letter)
    return found


def check_date_format(name: str, format: str) -> str:
    """Validate a strptime format for a date/timestamp/timestamptz column; return an example value.

    Refused: no directive at all; directives strptime would silently ignore or that drop
    information (time fields for a date, %I without %p, a UTC offset for a timestamp without
    time zone, %Z); a format that does not fix a whole date (%m/%Y would make every day the 1st).
    """
    directives = set(_format_directives(format))
    if not directives:
        raise ValueError(f"format {format!r} has no directive such as %Y, %m or %d")
    time_fields = directives & (_TIME_DIRECTIVES | {"z"})
    if name == "date" and time_fields:
        first = next(d for d in _format_directives(format) if d in time_fields)
        raise ValueError(
            f"format {format!r} reads a time (%{first}), which a date column would drop; "
            "use a timestamp column or leave the time out of the format"
        )
    if name == "timestamp" and "z" in directives:
        raise ValueError(f"format {format!r} reads a UTC offset (%z); use a timestamptz column for it")
    if "I" in directives and "p" not in directives:
        raise ValueError(f"format {format!r} has %I (12-hour clock) without %p (AM/PM)")
    if "p" in directives and "I" not in directives:
        raise ValueError(f"format {format!r} has %p (AM/PM), which only works with %I (12-hour clock)")
    _check_whole_date(format, directives)
    sample = _SAMPLE.replace(tzinfo=timezone(timedelta(hours=2))) if "z" in directives else _SAMPLE
    example = sample.strftime(format)
    try:
        parsed = datetime.strptime(example, format)
    except (ValueError, re.error) as exc:
        raise ValueError(f"format {format!r} cannot be used: {exc}") from None
    if parsed.date() != sample.date():
        raise ValueError(f"format {format!r} does not read back the date it writes ({example})")
    return example


def _check_whole_date(format: str, directives: set[str]) -> None:
    """The format fixes a day in exactly one way; strptime ignores the others without a word."""
    for group in ({"Y", "y"}, {"m", "b", "B"}):
        if len(directives & group) > 1:
            both = " and ".join(f"%{d}" for d in sorted(directives & group))
            raise ValueError(f"format {format!r} reads the same field twice ({both})")
    year = bool(directives & {"Y", "y"})
    weekday = bool(directives & _WEEKDAYS)
    ways = {
        "month and day": bool(directives & {"m", "b", "B", "d"}),
        "day of the year": "j" in directives,
        "week number": bool(directives & {"U", "W"}),
        "ISO week": bool(directives & {"G", "V"}),
    }
    used = [way for way, present in ways.items() if present]
    if len(used) > 1:
        raise ValueError(f"format {format!r} gives the day in two ways ({' and '.join(used)}); keep one")
    whole = (
        (year and bool(directives & {"m", "b", "B"}) and "d" in directives)
        or (year and "j" in directives)
        or (year and len(directives & {"U", "W"}) == 1 and weekday)
        or ({"G", "V"} <= directives and weekday and not year)
    )
    if not whole:
        raise ValueError(f"format {format!r} does not give a whole date; it needs a year, a month and a day")


def _date_converter(name: str, format: str) -> Callable[[str], date | datetime]:
    if format:
        example = check_date_format(name, format)
        kind = "date" if name == "date" else "timestamp"
        problem = f"is not a {kind} in the format {format!r} (e.g. {example})"
        strptime = datetime.strptime
        if name == "date":

            def to_date_with_format(value: str) -> date:
                try:
                    return strptime(value.strip(), format).date()
                except ValueError:
                    raise ConversionError(problem) from None

            return to_date_with_format
        aware = name == "timestamptz"

        def to_timestamp_with_format(value: str) -> datetime:
            try:
                moment = strptime(value.strip(), format)
            except ValueError:
                raise ConversionError(problem) from None
            if aware and moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)  # documented: naive timestamps are UTC
            return moment

        return to_timestamp_with_format
    if name == "date":

        def to_date(value: str) -> date:
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                raise ConversionError("is not a date (YYYY-MM-DD)") from None

        return to_date
    aware = name == "timestamptz"

    def to_timestamp(value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConversionError("is not a timestamp (YYYY-MM-DD HH:MM:SS)") from None
        return _timestamp_zone(moment, aware)

    return to_timestamp


def _timestamp_zone(moment: datetime, aware: bool) -> datetime:
    if aware and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # documented: naive timestamps are UTC
    if not aware and moment.tzinfo is not None:
        raise ConversionError("has a time zone offset; use timestamptz for this column")
    return moment


def _value_converter(column_type: ColumnType, from_text: Callable[[str], object]) -> Callable[[object], object]:
    name = column_type.name
    if column_type.is_text or name in {"json", "jsonb"}:

        def text_value(value: object) -> object:
            return from_text(value if isinstance(value, str) else display_text(value))

        return text_value
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]

        def int_value(value: object) -> object:
            if isinstance(value, str):
                return from_text(value)
            if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
                raise ConversionError(f"is a {kind_of(value)}, not a whole number ({name})")
            if isinstance(value, float) and not value.is_integer():  # also inf and nan
                raise ConversionError(f"is not a whole number ({name})")
            if isinstance(value, Decimal) and value != value.to_integral_value():
                raise ConversionError(f"is not a whole number ({name})")
            value = int(value)
            if not low <= value <= high:
                raise ConversionError(f"is out of range for {name} ({low} to {high})")
            return value

        return int_value
    if name in {"numeric", "double precision", "real"}:
        fit = _numeric_fit(column_type) if name == "numeric" else None  # Decimals need no trip through text

        def number_value(value: object) -> object:
            kind = type(value)
            if kind is Decimal and fit is not None:
                return fit(value)
            if kind is str:
                return from_text(value)
            if kind not in (int, Decimal, float):
                raise ConversionError(f"is a {kind_of(value)}, not a number")
            return from_text(str(value))  # checks the range of floats, inf and nan

        return number_value
    expected: type | tuple[type, ...] = {"boolean": bool, "uuid": uuid.UUID}.get(name, date)

    def typed_value(value: object) -> object:
        if isinstance(value, str):
            return from_text(value)
        if name == "date" and isinstance(value, datetime):
            raise ConversionError("is a timestamp, not a date")
        if not isinstance(value, expected):
            wanted = "a timestamp" if name in {"timestamp", "timestamptz"} else f"a {name}"
            raise ConversionError(f"is a {kind_of(value)}, not {wanted}")
        if name in {"timestamp", "timestamptz"}:
            if not isinstance(value, datetime):
                value = datetime.combine(value, time())  # a date is its midnight
            return _timestamp_zone(value, name == "timestamptz")
        return value

    return typed_value


def _reject_json_constant(word: str) -> None:
    raise ConversionError(f"is not valid JSON ({word} is not allowed)")


# -- COPY text: values as the text PostgreSQL's COPY reads -------------------------------------
# A row's fields are sent as one line of COPY's text format: TAB between fields, \N for NULL,
# and a backslash, TAB, LF or CR inside a value escaped. What each type sends is what psycopg's
# text dumpers send for the Python value (copy.write_row), so the server stores the same value;
# where the raw field already is such a text (plain digits, YYYY-MM-DD, ...) it is sent as it is.
COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NUL_IN_TEXT = "contains a NUL byte (0x00), which PostgreSQL cannot store in text"
_FLOAT_WORDS = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}


def copy_escape(text: str) -> str:
    """Text as a field of COPY's text format (backslash, TAB, LF and CR escaped)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _float_text(number: float) -> str:
    text = repr(number)
    return _FLOAT_WORDS.get(text, text)


def _decimal_text(number: Decimal) -> str:
    text = str(number)
    return "NaN" if text[-1] == "N" else text  # NaN, -NaN, sNaN: psycopg sends NaN


def _bool_text(value: bool) -> str:
    return "t" if value else "f"


_COPY_RENDER: dict[type, Callable[[object], str]] = {
    str: copy_escape,
    bool: _bool_text,
    int: str,
    Decimal: _decimal_text,
    float: _float_text,
    date: str,  # YYYY-MM-DD, whatever the server's DateStyle
    datetime: str,  # YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]
    uuid.UUID: lambda value: value.hex,
}


def copy_text(value: object) -> str:
    """A converted value (or None) as its COPY text field: what psycopg's copy.write_row sends."""
    if value is None:
        return COPY_NULL
    render = _COPY_RENDER.get(type(value))
    if render is None:
        render = next((r for kind, r in _COPY_RENDER.items() if isinstance(value, kind)), None)
        if render is None:
            raise TypeError(f"no COPY text for a {type(value).__name__}")
    return render(value)


_VALUE_KINDS = {
    "text": str,
    "varchar": str,
    "json": str,
    "jsonb": str,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "numeric": Decimal,
    "double precision": float,
    "real": float,
    "boolean": bool,
    "date": date,
    "timestamp": datetime,
    "timestamptz": datetime,
    "uuid": uuid.UUID,
}


def copy_renderer(column_type: ColumnType) -> Callable[[object], str]:
    """copy_text specialised for the values of one column's type (any other value still works)."""
    kind = _VALUE_KINDS[column_type.name]
    if kind is Decimal:

        def decimal_field(value: object) -> str:
            if type(value) is Decimal:
                text = str(value)
                return "NaN" if text[-1] == "N" else text
            return copy_text(value)

        return decimal_field
    render = _COPY_RENDER[kind]

    def field(value: object) -> str:
        return render(value) if type(value) is kind else copy_text(value)

    return field


def copy_converter(
    column_type: ColumnType,
    *,
    format: str = "",
    true_words: Iterable[str] = (),
    false_words: Iterable[str] = (),
    nulls: Iterable[str] = (),
    empty: str = COPY_NULL,
) -> Callable[[str], str]:
    """A function text -> the COPY text field of what `column_type.converter(...)` makes of it.

    Raises exactly the ConversionError the converter raises, and its text gives the server the
    value copy.write_row would have given it for the converter's result. The common shapes are
    checked on the text itself and sent without building a Python value; anything else goes
    through the converter. A text in `nulls` gives `empty` (NULL, or a default's field).
    """
    convert = column_type.converter(format=format, true_words=true_words, false_words=false_words)
    nulls = frozenset(nulls)
    name = column_type.name
    if name == "text":

        def text_field(value: str) -> str:
            if value.isprintable() and "\\" not in value:  # the usual text: nothing to check or escape
                return empty if value in nulls else value
            if value in nulls:
                return empty
            if "\x00" in value:
                raise ConversionError(_NUL_IN_TEXT)
            return copy_escape(value)

        return text_field
    if name == "varchar":
        limit = column_type.params[0]

        def varchar_field(value: str) -> str:
            if value in nulls:
                return empty
            if len(value) > limit or "\x00" in value:
                convert(value)  # raises the converter's error
            if value.isprintable() and "\\" not in value:
                return value
            return copy_escape(value)

        return varchar_field
    if name in _INT_RANGES:
        # Fewer digits than the type's largest value has: in range whatever they are.
        digits = len(str(_INT_RANGES[name][1]))

        def int_field(value: str) -> str:
            if value in nulls:
                return empty
            if len(value) < digits and value.isdigit() and value.isascii():
                return value  # leading zeros read the same on the server
            return str(convert(value))

        return int_field
    if name == "numeric":
        return _numeric_field(column_type, convert, nulls, empty)
    if name == "double precision":
        # A double read from decimal text is correctly rounded by Python and by the server
        # (strtod) alike: the same double. Short plain numbers cannot overflow or underflow.
        def double_field(value: str) -> str:
            if value in nulls:
                return empty
            if len(value) <= 20 and value.isascii():
                head, dot, tail = value.partition(".")
                if head.isdigit() and (not dot or tail.isdigit()):
                    return value
            return _float_text(convert(value))

        return double_field
    if name == "boolean":
        # The words as written in the converter's lists (and upper-cased), decided once by the converter itself.
        known: dict[str, str] = {}
        for word in (*(true_words or _DEFAULT_TRUE), *(false_words or _DEFAULT_FALSE)):
            for form in (word, word.strip(), word.strip().casefold(), word.strip().upper(), word.strip().title()):
                try:
                    known[form] = "t" if convert(form) else "f"
                except ConversionError:
                    pass
        known.update(dict.fromkeys(nulls, empty))  # a null marker is never a word: it is checked first
        get = known.get

        def boolean_field(value: str) -> str:
            return get(value) or ("t" if convert(value) else "f")

        return boolean_field
    if name == "date" and not format:
        fromisoformat = date.fromisoformat

        def date_field(value: str) -> str:
            if value in nulls:
                return empty
            # Ten characters with dashes at 4 and 7 that fromisoformat reads: YYYY-MM-DD, as str(date).
            if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
                try:
                    fromisoformat(value)
                except ValueError:
                    pass
                else:
                    return value
            return str(convert(value))

        return date_field
    if name in {"timestamp", "timestamptz"} and not format:
        fromisoformat = datetime.fromisoformat
        zone = "+00" if name == "timestamptz" else ""  # naive timestamps are UTC, as the converter says

        def timestamp_field(value: str) -> str:
            if value in nulls:
                return empty
            # YYYY-MM-DD HH:MM:SS (or with T) that fromisoformat reads: the server reads it the same.
            if (
                len(value) == 19
                and value[10] in " T"
                and value[4] == "-"
                and value[7] == "-"
                and value[13] == ":"
                and value[16] == ":"
                and value.isascii()
            ):
                try:
                    fromisoformat(value)
                except ValueError:
                    pass
                else:
                    return value + zone
            return str(convert(value))

        return timestamp_field
    if name == "real":
        # Not the raw text: text -> double -> real can round otherwise than text -> real.
        render: Callable[[object], str] = _float_text
    elif name in DATE_TYPES:
        render = str
    elif name == "uuid":
        render = _COPY_RENDER[uuid.UUID]
    elif name in {"json", "jsonb"}:
        render = copy_escape
    else:
        raise AssertionError(f"no COPY text for {name}")

    def rendered_field(value: str) -> str:
        if value in nulls:
            return empty
        return render(convert(value))

    return rendered_field


def _numeric_field(
    column_type: ColumnType, convert: Callable[[str], Decimal], nulls: frozenset[str], empty: str
) -> Callable[[str], str]:
    if column_type.params:
        precision = column_type.params[0]
        scale = column_type.params[1] if len(column_type.params) > 1 else 0
        whole = precision - scale
    else:  # unconstrained: any plain number of reasonable length keeps its digits as written
        whole = scale = 1000

    def numeric_field(value: str) -> str:
        if value in nulls:
            return empty
        # Digits, optionally a point and digits, no more than the column holds on either side:
        # exact, so the server stores what the rounded Decimal would be (the column's scale).
        head, dot, tail = value.partition(".")
        if len(head) <= whole and head.isdigit() and value.isascii():
            if not dot:
                return value
            if len(tail) <= scale and tail.isdigit():
                return value
        return _decimal_text(convert(value))

    return numeric_field
