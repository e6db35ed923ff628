"""Calculated columns: a small expression language, parsed once and evaluated per row.

The language
============

An expression computes one value per row from the row's other columns, e.g.
``qty * unit_price``, ``concat(upper(trim(first_name)), ' ', last_name)`` or
``'adult' if age >= 18 else 'minor'``. The syntax is a small part of Python's.

Names
    A name is a column: a destination column of a mapping that is not calculated (its
    converted value: a number, text, date, ...), a calculated column defined earlier in the
    mapping list, or a column of the source file by header name or normalised alias (its
    raw text). A destination column wins over a source column of the same name. NULL (and
    a source field equal to a null marker) is ``None``. Names must be identifiers
    (``unit_price``, not ``Unit Price``: use the normalised alias).
Literals
    ``'text'`` or ``"text"``, whole numbers ``42``, decimals ``1.25`` or ``1e3`` (exact
    decimals, never binary floats), ``True``, ``False``, ``None``.
Arithmetic
    ``+ - * / // % **`` and unary ``-``/``+``. Whole numbers and decimals stay exact:
    ``7 / 2`` is ``3.5``, ``0.1 + 0.2`` is ``0.3``; a division keeps 34 significant digits.
    ``//`` and ``%`` round down (towards minus infinity, as in Python). A float value (from
    a double precision column or float()) makes the result a float. ``+`` also joins two
    texts. Text and numbers never mix: ``'3' * 2`` is an error; use int(), decimal() or
    str(). Numbers are limited to 1,000 digits, text to 10,000,000 characters.
Comparisons
    ``== != < <= > >=`` between values of the same kind (numbers, texts, dates,
    timestamps, booleans), chains like ``0 < x <= 10``; ``x is None`` and ``x is not None``;
    ``'@' in email`` (text contains text) and ``x in ('a', 'b')`` (one of the listed values).
Logic
    ``and``, ``or``, ``not`` and ``a if condition else b``, with Python's truth rules: NULL,
    0, empty text and False are false; ``a or b`` gives ``a`` unless it is false.
NULL
    Arithmetic, ordering comparisons, ``in`` and functions (except concat, coalesce, nullif,
    min and max) give NULL when an input is NULL, as in SQL. ``x == None`` is true only
    when x is NULL. A result of NULL or empty text takes the column default, else NULL.
Functions
    Text: ``upper(s)``, ``lower(s)``, ``trim(s)``, ``ltrim(s)``, ``rtrim(s)``, ``title(s)``,
    ``length(s)``, ``replace(s, old, new)``, ``substring(s, start[, length])`` (1-based,
    as in SQL), ``left(s, n)``, ``right(s, n)`` (a negative n drops characters from the
    other end), ``concat(a, b, ...)`` (any values as text, NULLs skipped).
    Numbers: ``round(x[, digits])`` (half away from zero; floats as Python rounds them),
    ``abs(x)``, ``floor(x)``, ``ceil(x)``.
    Conversions: ``int(x)`` (whole-number text, or a number truncated towards zero),
    ``decimal(x)``, ``float(x)``, ``str(x)``.
    NULLs: ``coalesce(a, b, ...)`` (the first that is not NULL), ``nullif(a, b)`` (NULL if
    a equals b, else a). ``min(a, b, ...)`` and ``max(a, b, ...)`` skip NULLs.
Not available
    Attributes (``x.upper()``), indexing and slicing (``x[0]``), f-strings, lambda,
    comprehensions, assignment, keyword arguments and any function not listed above.

Errors
    Problems found when the mapping is saved or the load starts (syntax, unknown names or
    functions, anything not available, an expression longer than 10,000 characters, more
    than 1,000 parts or nested more than 100 levels, a constant part that cannot be
    computed such as ``1 / 0`` or ``9 ** 9 ** 9``) say what is wrong and at which character.
    A problem with one row's values (division by zero, text that int() cannot read, a result
    the destination column cannot take) rejects that row, naming the line, the column and
    the values the expression read.

Safety
    The text is parsed with Python's ``ast`` module, never compiled or run by Python: every
    node is checked against a whitelist when the mapping is compiled, then simpleeval
    walks the checked tree with this module's operators and functions only. Names resolve
    to the row's values only, calls to the functions above only, and every operator checks
    the size of what it makes (digits, characters) before making it, so a hostile
    expression fails quickly, with a clear message and no side effect.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from uuid import UUID

from simpleeval import SimpleEval

from jobs.coltypes import display_text, kind_of

MAX_EXPRESSION_LENGTH = 10_000  # characters of expression text
MAX_NODES = 1_000  # parts (names, literals, operators, calls) of one expression
MAX_DEPTH = 100  # nesting levels; keeps the recursive evaluation far from Python's limit
MAX_TEXT_LENGTH = 10_000_000  # characters of any text an expression makes
MAX_DIGITS = 1_000  # digits before the decimal point of any number an expression makes
MAX_EXPONENT = 1_000_000  # of **, whatever the base

_INT_LIMIT = 10**MAX_DIGITS
# Exact arithmetic: 1,000 significant digits hold any product of two numeric(p,s) values.
_EXACT = Context(
    prec=MAX_DIGITS,
    rounding=ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
# Division and fractional powers: 34 significant digits, as IEEE decimal128.
_INEXACT = Context(
    prec=34, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_NUMBERS = frozenset({int, Decimal, float})
_RESULT_TYPES = (str, int, Decimal, float, bool, date, UUID, type(None))
_WHOLE_RE = re.compile(r"[+-]?[0-9]+")
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ExpressionError(ValueError):
    """An expression that cannot be compiled, or that fails for one row's values.

    `position` is the 1-based character of the expression where the problem is (None when
    not known); `hint` says what to do instead.
    """

    def __init__(self, reason: str, *, position: int | None = None, hint: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.position = position
        self.hint = hint

    def __str__(self) -> str:
        text = self.reason
        if self.position is not None:
            text += f" at character {self.position} of the expression"
        if self.hint:
            text += f" ({self.hint})"
        return text


# -- values ----------------------------------------------------------------------------------
def _checked_int(number: int) -> int:
    if -_INT_LIMIT < number < _INT_LIMIT:
        return number
    raise ExpressionError(f"the result has more than {MAX_DIGITS:,} digits")


def _checked_decimal(number: Decimal) -> Decimal:
    if number and number.adjusted() >= MAX_DIGITS:
        raise ExpressionError(f"the result has more than {MAX_DIGITS:,} digits")
    return number


def _checked_text(text: str) -> str:
    if len(text) > MAX_TEXT_LENGTH:
        raise _too_long(len(text))
    return text


def _too_long(length: int) -> ExpressionError:
    return ExpressionError(f"the text would be {length:,} characters long, more than the {MAX_TEXT_LENGTH:,} allowed")


def _mismatch(symbol: str, a: object, b: object) -> ExpressionError:
    kinds = {kind_of(a), kind_of(b)}
    hint = ""
    if kinds == {"text", "number"}:
        hint = "text cannot be repeated; " if symbol == "*" else ""
        hint += "convert text with int() or decimal(), or a number with str()"
    elif kinds == {"date", "timestamp"}:
        hint = "a date and a timestamp are different kinds of value"
    return ExpressionError(f"{symbol!r} does not work on {kind_of(a)} and {kind_of(b)}", hint=hint)


def _arithmetic_type(symbol: str, a: object, b: object) -> type:
    """int, Decimal or float: the type two operands are computed in; anything else is an error."""
    type_a, type_b = type(a), type(b)
    if type_a not in _NUMBERS or type_b not in _NUMBERS:  # bool is not a number here
        raise _mismatch(symbol, a, b)
    if type_a is float or type_b is float:
        return float
    if type_a is Decimal or type_b is Decimal:
        return Decimal
    return int


def _whole(function: str, value: object, what: str) -> int:
    if type(value) is int:
        return value
    if type(value) is Decimal and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise ExpressionError(f"{function}() needs a whole number for {what}, not {shown_value(value)}")


def shown_value(value: object) -> str:
    """A value in a message: NULL, 'text' quoted, other values as text; clipped to 40 characters."""
    if value is None:
        return "NULL"
    text = display_text(value)
    text = text if len(text) <= 40 else text[:40] + "…"
    return repr(text) if isinstance(value, str) else text


def _text_argument(function: str, value: object) -> str:
    if type(value) is not str:
        raise ExpressionError(
            f"{function}() needs text, not {kind_of(value)} {shown_value(value)}", hint="convert it with str()"
        )
    return value


def _number_argument(function: str, value: object) -> object:
    if type(value) not in _NUMBERS:
        hint = "convert text with int() or decimal()" if isinstance(value, str) else ""
        raise ExpressionError(f"{function}() needs a number, not {kind_of(value)} {shown_value(value)}", hint=hint)
    return value


# -- operators -------------------------------------------------------------------------------
def _add(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    if type(a) is str and type(b) is str:
        if len(a) + len(b) > MAX_TEXT_LENGTH:
            raise _too_long(len(a) + len(b))
        return a + b
    kind = _arithmetic_type("+", a, b)
    if kind is int:
        return _checked_int(a + b)
    if kind is Decimal:
        return _checked_decimal(_EXACT.add(a, b))
    return float(a) + float(b)


def _subtract(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    kind = _arithmetic_type("-", a, b)
    if kind is int:
        return _checked_int(a - b)
    if kind is Decimal:
        return _checked_decimal(_EXACT.subtract(a, b))
    return float(a) - float(b)


def _multiply(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    kind = _arithmetic_type("*", a, b)
    if kind is int:
        if a and b and a.bit_length() + b.bit_length() > _INT_LIMIT.bit_length() + 1:
            raise ExpressionError(f"the result has more than {MAX_DIGITS:,} digits")  # never build it
        return _checked_int(a * b)
    if kind is Decimal:
        return _checked_decimal(_EXACT.multiply(a, b))
    return float(a) * float(b)


def _divide(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    kind = _arithmetic_type("/", a, b)
    if not b:
        raise ExpressionError("division by zero")
    if kind is float:
        return float(a) / float(b)
    return _checked_decimal(_INEXACT.divide(a, b))


def _floor_divide(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    kind = _arithmetic_type("//", a, b)
    if not b:
        raise ExpressionError("division by zero")
    if kind is int:
        return a // b
    if kind is float:
        return float(a) // float(b)
    quotient = _EXACT.divide_int(a, b)  # truncates towards zero; Python's // rounds down
    remainder = _EXACT.subtract(a, _EXACT.multiply(quotient, b))
    if remainder and (remainder < 0) != (b < 0):
        quotient = _EXACT.subtract(quotient, 1)
    return _checked_decimal(quotient)


def _modulo(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    kind = _arithmetic_type("%", a, b)  # also keeps '%' away from text formatting
    if not b:
        raise ExpressionError("division by zero")
    if kind is int:
        return a % b
    if kind is float:
        return float(a) % float(b)
    remainder = _EXACT.remainder(a, b)  # takes the sign of a; Python's % takes the sign of b
    if remainder and (remainder < 0) != (b < 0):
        remainder = _EXACT.add(remainder, b)
    return remainder


def _log10(number: int | Decimal) -> float:
    """About log10(|number|) (0 for 0), without building anything large."""
    if not number:
        return 0.0
    if type(number) is int:
        bits = abs(number).bit_length()
        return math.log10(abs(number)) if bits < 1000 else (bits - 1) * math.log10(2)
    adjusted = number.adjusted()
    return math.log10(abs(float(number))) if abs(adjusted) < 300 else float(adjusted)


def _power(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    kind = _arithmetic_type("**", a, b)
    if kind is float:
        if abs(b) > MAX_EXPONENT:
            raise ExpressionError(f"the exponent {shown_value(b)} is too large (at most {MAX_EXPONENT:,})")
        try:
            return math.pow(float(a), float(b))
        except OverflowError:
            raise ExpressionError(f"{shown_value(a)} ** {shown_value(b)} is too large for a float") from None
        except ValueError:
            raise ExpressionError(f"{shown_value(a)} ** {shown_value(b)} is not a real number") from None
    if abs(b) > MAX_EXPONENT:
        raise ExpressionError(f"the exponent {shown_value(b)} is too large (at most {MAX_EXPONENT:,})")
    if type(b) is int or b == b.to_integral_value():
        exponent = int(b)
        # Estimate the size first: 9 ** 9 ** 9 must fail at once, not after minutes.
        digits = exponent * _log10(a)
        if digits > MAX_DIGITS:
            raise ExpressionError(
                f"{shown_value(a)} ** {exponent} would have about {digits:,.0f} digits, "
                f"more than the {MAX_DIGITS:,} allowed"
            )
        if not a and exponent < 0:
            raise ExpressionError("division by zero")
        if kind is int and exponent >= 0:
            return _checked_int(a**exponent)
        context = _EXACT if exponent >= 0 else _INEXACT
        return _checked_decimal(context.power(Decimal(a), exponent))
    if a < 0:
        raise ExpressionError(
            f"{shown_value(a)} ** {shown_value(b)} is not a real number (a negative number to a fractional power)"
        )
    if float(b) * _log10(a) > MAX_DIGITS:
        raise ExpressionError(f"{shown_value(a)} ** {shown_value(b)} would have more than {MAX_DIGITS:,} digits")
    return _checked_decimal(_INEXACT.power(Decimal(a), b))


def _negative(a: object) -> object:
    if a is None:
        return None
    if type(a) is Decimal:
        return _EXACT.minus(a)  # -a would round to the default context's 28 digits
    if type(a) in _NUMBERS:
        return -a
    raise ExpressionError(f"'-' does not work on {kind_of(a)}")


def _positive(a: object) -> object:
    if a is None:
        return None
    if type(a) in _NUMBERS:
        return a
    raise ExpressionError(f"'+' does not work on {kind_of(a)}")


def _not(a: object) -> bool:
    return not a


def _comparable(symbol: str, a: object, b: object) -> None:
    if type(a) is not type(b) and not (type(a) in _NUMBERS and type(b) in _NUMBERS):
        raise _mismatch(symbol, a, b)


def _equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    _comparable("==", a, b)
    return a == b


def _not_equal(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is not b
    _comparable("!=", a, b)
    return a != b


def _ordering(symbol: str, compare: Callable[[object, object], bool]) -> Callable[[object, object], bool | None]:
    def ordered(a: object, b: object) -> bool | None:
        if a is None or b is None:
            return None
        _comparable(symbol, a, b)
        try:
            return compare(a, b)
        except TypeError:  # timestamps with and without a time zone
            raise ExpressionError(f"cannot compare {shown_value(a)} and {shown_value(b)} with {symbol!r}") from None

    return ordered


_less = _ordering("<", lambda a, b: a < b)
_greater = _ordering(">", lambda a, b: a > b)


def _contains(item: object, container: object) -> bool | None:
    if item is None or container is None:
        return None
    if type(container) is str:
        if type(item) is not str:
            raise _mismatch("in", item, container)
        return item in container
    if type(container) is not tuple:
        raise _mismatch("in", item, container)
    return any(candidate is not None and _equal(item, candidate) for candidate in container)


def _not_contains(item: object, container: object) -> bool | None:
    found = _contains(item, container)
    return None if found is None else not found


_OPERATORS: dict[type, Callable] = {
    ast.Add: _add,
    ast.Sub: _subtract,
    ast.Mult: _multiply,
    ast.Div: _divide,
    ast.FloorDiv: _floor_divide,
    ast.Mod: _modulo,
    ast.Pow: _power,
    ast.USub: _negative,
    ast.UAdd: _positive,
    ast.Not: _not,
    ast.Eq: _equal,
    ast.NotEq: _not_equal,
    ast.Lt: _less,
    ast.LtE: _ordering("<=", lambda a, b: a <= b),
    ast.Gt: _greater,
    ast.GtE: _ordering(">=", lambda a, b: a >= b),
    ast.In: _contains,
    ast.NotIn: _not_contains,
    ast.Is: lambda a, b: a is b,  # only ever `x is None`: checked when compiling
    ast.IsNot: lambda a, b: a is not b,
}
_SYMBOLS = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
}


# -- functions -------------------------------------------------------------------------------
def _text_function(name: str, method: Callable[[str], str]) -> Callable[[object], object]:
    def function(value: object) -> object:
        if value is None:
            return None
        return _checked_text(method(_text_argument(name, value)))  # upper() can make text longer

    return function


def _length(value: object) -> object:
    return None if value is None else len(_text_argument("length", value))


def _concat(*values: object) -> str:
    parts = [value if type(value) is str else display_text(value) for value in values if value is not None]
    total = sum(map(len, parts))
    if total > MAX_TEXT_LENGTH:
        raise _too_long(total)
    return "".join(parts)


def _coalesce(*values: object) -> object:
    for value in values:
        if value is not None:
            return value
    return None


def _nullif(a: object, b: object) -> object:
    if a is None:
        return None
    return None if _equal(a, b) else a


def _replace(value: object, old: object, new: object) -> object:
    if value is None or old is None or new is None:
        return None
    text = _text_argument("replace", value)
    old = _text_argument("replace", old)
    new = _text_argument("replace", new)
    if not old:
        return text  # as in SQL: nothing to replace
    if len(new) > len(old):
        length = len(text) + text.count(old) * (len(new) - len(old))
        if length > MAX_TEXT_LENGTH:
            raise _too_long(length)
    return text.replace(old, new)


def _substring(value: object, start: object, *length: object) -> object:
    if value is None or start is None or (length and length[0] is None):
        return None
    text = _text_argument("substring", value)
    first = _whole("substring", start, "the start")
    begin = max(first - 1, 0)
    if not length:
        return text[begin:]
    count = _whole("substring", length[0], "the length")
    if count < 0:
        raise ExpressionError(f"substring() length cannot be negative ({count})")
    return text[begin : max(first - 1 + count, 0)]


def _left(value: object, count: object) -> object:
    if value is None or count is None:
        return None
    return _text_argument("left", value)[: _whole("left", count, "the count")]


def _right(value: object, count: object) -> object:
    if value is None or count is None:
        return None
    text = _text_argument("right", value)
    count = _whole("right", count, "the count")
    return text[-count:] if count else ""


def _round(value: object, *digits: object) -> object:
    if value is None or (digits and digits[0] is None):
        return None
    number = _number_argument("round", value)
    places = _whole("round", digits[0], "the digits") if digits else 0
    if abs(places) > MAX_DIGITS:
        raise ExpressionError(f"round() digits must be between -{MAX_DIGITS} and {MAX_DIGITS}, not {places}")
    if type(number) is float:
        return round(number, places)
    if type(number) is int and places >= 0:
        return number
    rounded = Decimal(number).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_EXACT)
    return int(rounded) if type(number) is int else _checked_decimal(rounded)


def _abs(value: object) -> object:
    if value is None:
        return None
    number = _number_argument("abs", value)
    return _EXACT.abs(number) if type(number) is Decimal else abs(number)


def _integral(name: str, rounding: str) -> Callable[[object], object]:
    def function(value: object) -> object:
        if value is None:
            return None
        number = _number_argument(name, value)
        if type(number) is int:
            return number
        if type(number) is float:
            if not math.isfinite(number):
                raise ExpressionError(f"{name}() needs a finite number, not {number}")
            number = Decimal(number)
        return int(number.to_integral_value(rounding=rounding))

    return function


def _int(value: object) -> object:
    if value is None or type(value) is int:
        return value
    if type(value) is bool:
        return int(value)
    if type(value) is str:
        text = value.strip()
        if not _WHOLE_RE.fullmatch(text):
            raise ExpressionError(f"int() cannot read {shown_value(value)} as a whole number")
        if len(text.lstrip("+-0")) > MAX_DIGITS:
            raise ExpressionError(f"int() of {shown_value(value)}: the number has more than {MAX_DIGITS:,} digits")
        return int(text)
    if type(value) is float and not math.isfinite(value):
        raise ExpressionError(f"int() needs a finite number, not {value}")
    if type(value) in _NUMBERS:
        return int(value)  # towards zero, as Python does
    raise ExpressionError(f"int() cannot convert {kind_of(value)} {shown_value(value)}")


def _decimal(value: object) -> object:
    if value is None or type(value) is Decimal:
        return value
    if type(value) in (int, bool):
        return Decimal(int(value))
    if type(value) is float:
        if not math.isfinite(value):
            raise ExpressionError(f"decimal() needs a finite number, not {value}")
        return Decimal(repr(value))  # the shortest text of the float: 0.1, not 0.1000000000000000055...
    if type(value) is str:
        text = value.strip()
        if len(text) > 4 * MAX_DIGITS or not _DECIMAL_RE.fullmatch(text):
            raise ExpressionError(f"decimal() cannot read {shown_value(value)} as a number")
        try:
            return _checked_decimal(Decimal(text))
        except InvalidOperation:  # an exponent beyond any decimal
            raise ExpressionError(f"decimal() of {shown_value(value)}: the number is too large") from None
    raise ExpressionError(f"decimal() cannot convert {kind_of(value)} {shown_value(value)}")


def _float(value: object) -> object:
    if value is None or type(value) is float:
        return value
    if type(value) is str:
        text = value.strip()
        try:
            if not text.isascii() or "_" in text:
                raise ValueError
            number = float(text)
        except ValueError:
            raise ExpressionError(f"float() cannot read {shown_value(value)} as a number") from None
        if math.isinf(number) and "n" not in text.lower():  # "1e400", not the word inf or infinity
            raise ExpressionError(f"float() of {shown_value(value)}: the number is too large for a float")
        return number
    if type(value) in _NUMBERS or type(value) is bool:
        try:
            number = float(value)
        except OverflowError:  # a whole number of 309 digits or more
            number = math.inf
        if math.isinf(number):
            raise ExpressionError(f"float() of {shown_value(value)}: the number is too large for a float")
        return number
    raise ExpressionError(f"float() cannot convert {kind_of(value)} {shown_value(value)}")


def _str(value: object) -> object:
    return display_text(value)


def _extreme(name: str, better: Callable[[object, object], bool | None]) -> Callable[..., object]:
    def function(*values: object) -> object:
        best = None
        for value in values:
            if value is not None and (best is None or better(value, best)):
                best = value
        return best

    function.__name__ = name
    return function


# name: (function, least arguments, most arguments or None for any number)
_FUNCTIONS: dict[str, tuple[Callable, int, int | None]] = {
    "upper": (_text_function("upper", str.upper), 1, 1),
    "lower": (_text_function("lower", str.lower), 1, 1),
    "trim": (_text_function("trim", str.strip), 1, 1),
    "ltrim": (_text_function("ltrim", str.lstrip), 1, 1),
    "rtrim": (_text_function("rtrim", str.rstrip), 1, 1),
    "title": (_text_function("title", str.title), 1, 1),
    "length": (_length, 1, 1),
    "concat": (_concat, 1, None),
    "coalesce": (_coalesce, 1, None),
    "nullif": (_nullif, 2, 2),
    "replace": (_replace, 3, 3),
    "substring": (_substring, 2, 3),
    "left": (_left, 2, 2),
    "right": (_right, 2, 2),
    "round": (_round, 1, 2),
    "abs": (_abs, 1, 1),
    "floor": (_integral("floor", ROUND_FLOOR), 1, 1),
    "ceil": (_integral("ceil", ROUND_CEILING), 1, 1),
    "int": (_int, 1, 1),
    "decimal": (_decimal, 1, 1),
    "float": (_float, 1, 1),
    "str": (_str, 1, 1),
    "min": (_extreme("min", _less), 1, None),
    "max": (_extreme("max", _greater), 1, None),
}
FUNCTION_NAMES = tuple(sorted(_FUNCTIONS))


# -- checking the tree -----------------------------------------------------------------------
_USE_SUBSTRING = "use substring(), left() or right()"
_REFUSED: dict[type, tuple[str, str]] = {
    ast.Subscript: ("indexing and slicing (x[...]) are not allowed", _USE_SUBSTRING),
    ast.Slice: ("slicing is not allowed", _USE_SUBSTRING),
    ast.Lambda: ("lambda is not allowed", ""),
    ast.ListComp: ("comprehensions are not allowed", ""),
    ast.SetComp: ("comprehensions are not allowed", ""),
    ast.DictComp: ("comprehensions are not allowed", ""),
    ast.GeneratorExp: ("comprehensions are not allowed", ""),
    ast.JoinedStr: ("f-strings are not allowed", "use concat()"),
    ast.FormattedValue: ("f-strings are not allowed", "use concat()"),
    ast.NamedExpr: ("assignment (:=) is not allowed", ""),
    ast.Starred: ("* unpacking is not allowed", ""),
    ast.Dict: ("dict literals are not allowed", ""),
    ast.Set: ("set literals are not allowed", ""),
    ast.Await: ("await is not allowed", ""),
    ast.Yield: ("yield is not allowed", ""),
    ast.YieldFrom: ("yield is not allowed", ""),
}
_ALLOWED_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ALLOWED_UNARY = (ast.UAdd, ast.USub, ast.Not)
_LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


class _Source:
    """The expression text, for turning ast positions (UTF-8 byte columns) into characters."""

    def __init__(self, text: str, lead: int):
        self.lines = _LINE_BREAK.split(text)
        self.breaks = [len(m.group()) for m in _LINE_BREAK.finditer(text)]
        self.lead = lead

    def position(self, lineno: int | None, column: int | None, *, in_bytes: bool = True) -> int | None:
        if lineno is None or column is None or not 1 <= lineno <= len(self.lines):
            return None
        before = sum(len(line) + brk for line, brk in zip(self.lines[: lineno - 1], self.breaks, strict=False))
        line = self.lines[lineno - 1]
        if in_bytes:
            column = len(line.encode()[:column].decode("utf-8", "ignore"))
        else:
            column -= 1  # SyntaxError.offset counts characters from 1
        return self.lead + before + max(column, 0) + 1

    def of(self, node: ast.AST) -> int | None:
        return self.position(getattr(node, "lineno", None), getattr(node, "col_offset", None))


def _error(source: _Source, node: ast.AST, reason: str, hint: str = "") -> ExpressionError:
    return ExpressionError(reason, position=source.of(node), hint=hint)


def _check_size(source: _Source, root: ast.expr) -> None:
    """Count the parts and measure the nesting without recursion (the tree may be very deep)."""
    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(
                f"the expression has more than {MAX_NODES:,} parts", hint="split it over several calculated columns"
            )
        if depth > MAX_DEPTH:
            raise _error(source, node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if not isinstance(child, _LEAVES))


def _arity(name: str, least: int, most: int | None) -> str:
    if most is None:
        return f"at least {least} argument{'s' if least != 1 else ''}"
    if least == most:
        return f"{least} argument{'s' if least != 1 else ''}"
    return f"{least} or {most} arguments" if most == least + 1 else f"{least} to {most} arguments"


def _clipped_list(names: Iterable[str], limit: int = 40) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _check_tree(source: _Source, root: ast.expr, names: dict[str, str] | None) -> list[str]:
    """Refuse anything outside the language; return the names read, in order of appearance.

    `names` maps the NFKC form Python's parser gives identifiers to the column's own
    spelling (None: accept any name). Name nodes are rewritten to the column's spelling.
    """
    sequences_after_in: set[int] = set()
    called: set[int] = set()
    name_nodes: list[ast.Name] = []
    for node in ast.walk(root):  # breadth first, iterative
        if isinstance(node, _LEAVES):
            continue
        kind = type(node)
        if kind is ast.Constant:
            value = node.value
            if isinstance(value, complex):
                raise _error(source, node, "complex numbers are not supported")
            if isinstance(value, bytes):
                raise _error(source, node, "bytes literals are not supported")
            if value is Ellipsis:
                raise _error(source, node, "'...' is not allowed")
            if type(value) is int and abs(value) >= _INT_LIMIT:
                raise _error(source, node, f"the number has more than {MAX_DIGITS:,} digits")
        elif kind is ast.Name:
            if id(node) in called:
                continue
            if node.id.startswith("__"):
                raise _error(source, node, f"names starting with '__' are not allowed ({node.id!r})")
            name_nodes.append(node)
        elif kind is ast.UnaryOp:
            if not isinstance(node.op, _ALLOWED_UNARY):
                raise _error(source, node, f"operator {_SYMBOLS.get(type(node.op), '?')!r} is not allowed")
        elif kind is ast.BinOp:
            if not isinstance(node.op, _ALLOWED_BINARY):
                raise _error(source, node, f"operator {_SYMBOLS.get(type(node.op), '?')!r} is not allowed")
        elif kind is ast.Compare:
            for operation, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(operation, ast.Is | ast.IsNot):
                    if not (isinstance(right, ast.Constant) and right.value is None):
                        raise _error(
                            source, node, "'is' only tests for None (x is None)", "compare values with == or !="
                        )
                elif isinstance(operation, ast.In | ast.NotIn) and isinstance(right, ast.Tuple | ast.List):
                    sequences_after_in.add(id(right))
        elif kind is ast.Call:
            _check_call(source, node)
            called.add(id(node.func))
        elif kind in (ast.Tuple, ast.List):
            if id(node) not in sequences_after_in:
                raise _error(source, node, "a list of values is only allowed after 'in'", "as in: x in ('a', 'b')")
        elif kind is ast.Attribute:
            raise _error(source, node, f"attribute access ('.{node.attr}') is not allowed", "use the functions")
        elif kind in _REFUSED:
            raise _error(source, node, *_REFUSED[kind])
        elif kind not in (ast.BoolOp, ast.IfExp):
            raise _error(source, node, f"{kind.__name__} is not allowed")
    used = []
    for node in sorted(name_nodes, key=lambda node: (node.lineno, node.col_offset)):  # report in reading order
        if names is not None:
            if node.id not in names:
                hint = f"available names: {_clipped_list(names.values())}" if names else "no names are available"
                if node.id in _FUNCTIONS:
                    hint = f"{node.id} is a function: call it as {node.id}(...)"
                raise _error(source, node, f"unknown name {node.id!r}", hint)
            node.id = names[node.id]
        used.append(node.id)
    return used


def _check_call(source: _Source, node: ast.Call) -> None:
    function = node.func
    if isinstance(function, ast.Attribute):
        raise _error(source, function, f"attribute access ('.{function.attr}') is not allowed", "use the functions")
    if not isinstance(function, ast.Name):
        raise _error(source, node, "only the listed functions can be called, by name")
    if function.id not in _FUNCTIONS:
        raise _error(
            source, node, f"function {function.id!r} is not available", f"functions: {', '.join(FUNCTION_NAMES)}"
        )
    if node.keywords:
        raise _error(source, node, f"{function.id}() takes no keyword arguments")
    _, least, most = _FUNCTIONS[function.id]
    given = len(node.args)
    if given < least or (most is not None and given > most):
        raise _error(source, node, f"{function.id}() takes {_arity(function.id, least, most)} ({given} given)")


def _exact_literals(source_text: str, root: ast.expr) -> None:
    """1.1 is read as the decimal 1.1, never as the nearest binary float."""
    for node in ast.walk(root):
        if isinstance(node, ast.Constant) and type(node.value) is float:
            segment = ast.get_source_segment(source_text, node) or repr(node.value)
            node.value = Decimal(segment.replace("_", ""))


class _Evaluator(SimpleEval):
    """simpleeval's tree walker, restricted to the nodes `_check_tree` lets through.

    The names of one row are set before each evaluation, so one evaluator serves one
    thread. simpleeval's per-node check for modules and forbidden functions is not needed:
    no name, literal, operator or function here can produce anything but plain values.
    """

    def __init__(self, source: _Source):
        super().__init__(
            operators=_OPERATORS, functions={name: entry[0] for name, entry in _FUNCTIONS.items()}, names={}
        )
        self.nodes = {
            ast.Constant: self._eval_constant,
            ast.Name: self._eval_name,
            ast.UnaryOp: self._eval_unaryop,
            ast.BinOp: self._eval_binop,
            ast.BoolOp: self._eval_boolop,
            ast.Compare: self._eval_compare,
            ast.IfExp: self._eval_ifexp,
            ast.Call: self._eval_call,
            ast.Tuple: self._eval_values,
            ast.List: self._eval_values,
        }
        self.source = source

    def _eval(self, node: ast.AST) -> object:
        try:
            return self.nodes[type(node)](node)
        except ExpressionError as exc:
            if exc.position is None:
                exc.position = self.source.of(node)
            raise
        except ZeroDivisionError:
            raise ExpressionError("division by zero", position=self.source.of(node)) from None
        except (Overflow, OverflowError, InvalidOperation):
            raise ExpressionError("the number is too large", position=self.source.of(node)) from None
        except (TypeError, ValueError, KeyError) as exc:  # a gap in the checks above: reject the row, say why
            raise ExpressionError(f"cannot evaluate ({exc})", position=self.source.of(node)) from None

    def _eval_name(self, node: ast.Name) -> object:
        try:
            return self.names[node.id]
        except KeyError:
            raise ExpressionError(f"no value for {node.id!r}") from None

    @staticmethod
    def _eval_constant(node: ast.Constant) -> object:
        return node.value  # sizes are checked where values are made, not by simpleeval's 100,000 limit

    def _eval_call(self, node: ast.Call) -> object:
        # simpleeval's version also handles methods, keywords and forbidden functions, none of
        # which can reach here; this one is the hot path of most expressions.
        return self.functions[node.func.id](*[self._eval(argument) for argument in node.args])

    def _eval_values(self, node: ast.Tuple | ast.List) -> tuple:
        return tuple(self._eval(element) for element in node.elts)


def _operands(node: ast.AST) -> list[ast.AST] | None:
    """The sub-expressions of a node that could be computed once, when they are all constant."""
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.BoolOp):
        return list(node.values)
    if isinstance(node, ast.Compare):
        return [node.left, *node.comparators]
    if isinstance(node, ast.IfExp):
        return [node.test, node.body, node.orelse]
    if isinstance(node, ast.Call):
        return list(node.args)
    if isinstance(node, ast.Tuple | ast.List):
        return list(node.elts)
    return None


def _fold(evaluator: _Evaluator, node: ast.AST) -> ast.AST:
    """Compute constant parts once, now: `9 ** 9 ** 9` or `1 / 0` fail when compiling, not per row."""
    for field, value in ast.iter_fields(node):
        if isinstance(value, ast.expr) and not (isinstance(node, ast.Call) and field == "func"):
            setattr(node, field, _fold(evaluator, value))
        elif isinstance(value, list):
            value[:] = [_fold(evaluator, item) if isinstance(item, ast.expr) else item for item in value]
    operands = _operands(node)
    if operands is None or not all(isinstance(operand, ast.Constant) for operand in operands):
        return node
    evaluator.names = {}
    return ast.copy_location(ast.Constant(value=evaluator._eval(node)), node)


class CompiledExpression:
    """An expression parsed and checked once; `evaluate` computes it for one row.

    `names` are the names it reads, in order of appearance. Not thread-safe: compile one
    per thread.
    """

    def __init__(self, text: str, names: tuple[str, ...], node: ast.expr, evaluator: _Evaluator):
        self.text = text
        self.names = names
        self._node = node
        self._evaluator = evaluator

    def evaluate(self, values: Mapping[str, object]) -> object:
        """The value for one row (None for NULL); ExpressionError when these values do not compute."""
        evaluator = self._evaluator
        evaluator.names = values
        result = evaluator._eval(self._node)
        if not isinstance(result, _RESULT_TYPES):  # cannot happen with the checks above; never pass it on
            raise ExpressionError(f"the expression gave a {type(result).__name__}, which no column can store")
        return result

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"


def compile_expression(text: str, names: Iterable[str] | None) -> CompiledExpression:
    """Parse and check `text` once, or raise ExpressionError saying what is wrong and where.

    `names` are the names the expression may read (None accepts any name: for checking an
    expression before the source file is known).
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression is {len(text):,} characters long, more than the {MAX_EXPRESSION_LENGTH:,} allowed"
        )
    body = text.strip()
    if not body:
        raise ExpressionError("the expression is empty")
    source = _Source(body, len(text) - len(text.lstrip()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for "\d" and the like
            tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        position = source.position(exc.lineno, exc.offset, in_bytes=False)
        raise ExpressionError("syntax error", position=position, hint=exc.msg) from None
    except (MemoryError, RecursionError):  # the parser's own limits, e.g. ----...1
        raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # a NUL character
        raise ExpressionError(f"the expression cannot be read ({exc})") from None
    root = tree.body
    _check_size(source, root)
    available = None
    if names is not None:
        available = {}
        for name in names:
            if name.isidentifier() and not keyword.iskeyword(name):
                available.setdefault(unicodedata.normalize("NFKC", name), name)
    used = _check_tree(source, root, available)
    _exact_literals(body, root)
    evaluator = _Evaluator(source)
    root = _fold(evaluator, root)
    return CompiledExpression(text, tuple(dict.fromkeys(used)), root, evaluator)
