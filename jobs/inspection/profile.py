"""Column profiling: the type of a column, the values that conflict with it, and its statistics.

A ColumnProfiler is fed the fields of one column in file order (one at a time, in lists, or as
Arrow arrays) and keeps bounded memory whatever the number of values. No Django.

How a type is chosen
--------------------
Every non-null value is put in one *class* (an integer of a given range, a decimal, an ISO
timestamp with an offset, a day-first date, text, ...). Every candidate type accepts some classes.
The column gets the candidate that accepts the most values, the narrowest one on a tie, so with no
stray values this is the narrowest type every value fits: widening (smallint to integer, integer to
numeric, date to timestamp) never loses data. If a candidate rejects only a few values (the
*stray-value rule*: at most max(1, 0.1% of the non-null values), and only once at least 20 values
were seen) those are reported as `conflicts` with their line numbers and the column keeps the
candidate; with more, the column is text. The conflicts are the values the load will reject, or
would read but change (the "+" of "+5", "1e5", "on"), so none is lost unseen.

The rules, each chosen so that no value is silently changed by the load:

- Null markers match the whole field exactly, case-sensitively; nothing else is null ("   " is text).
- Leading and trailing whitespace (as str.strip() sees it, like the load's converters) is ignored
  when typing numbers, booleans and dates: " 42" is an integer. Statistics use the field as it is.
- Integers: ASCII digits with an optional "-". smallint/integer/bigint by range; beyond 64 bits,
  numeric (never wrapped). A leading zero on a multi-digit number ("007", ZIP "02134", "-01") makes the
  whole column text, never a stray value: the zero is data, and a column that has one is a column of
  codes (ZIP codes of which only a few start with 0, ids padded in one export). A "+" sign makes the
  value text ("+4420..." is a phone number). "1,234" is text: a comma is a thousands separator in one
  locale and a decimal point in another, so reading it would guess. "1_000", non-ASCII digits, "0x1F",
  "NaN", "inf" are text.
- Decimals: "-12.50", ".5", "5." are numeric(p,s): scale is the most digits after the point, precision
  the most digits before it plus the scale (so "1.50" keeps its trailing zero); precision over 1000
  (PostgreSQL's limit) makes the value text. Exponents ("1e5", "2.5E-3") are text: they are usually
  codes ("12E3" is a part number) and loading them as numbers would change how they read.
- Booleans: true/false, yes/no, t/f, y/n in any case. "0" and "1" count as booleans only when the
  column has both of them and no other integer, or when it also has boolean words; a column of only
  "1"s is smallint. "on"/"off" are not inferred (a column of "on" may be a word); an override can
  still ask for boolean.
- ISO dates and times: YYYY-MM-DD, then " " or "T", HH:MM, optional :SS and .ffffff (1 to 6 digits:
  more would be truncated, so they are text), optional Z or +HH:MM. A value with an offset makes the
  column timestamptz (values without one are read as UTC by the load); date-only values fit a
  timestamp column (midnight). The ISO variants may mix in a column: the load's ISO parser
  (datetime.fromisoformat) reads them all, and `format` shows the most common one.
- Day/month dates: DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY, YYYY/MM/DD (1- or 2-digit day and month, as
  strptime reads them), each optionally with " HH:MM", ":SS", ".ffffff"; no offset. All values of a
  column must share ONE strptime pattern, reported in `format`. DD/MM vs MM/DD: a value with a first
  part over 12 is day-first, a second part over 12 month-first; when nothing decides, day-first
  ("%d/%m/%Y") is chosen, as most of the world writes dates that way and the pattern is shown.
- Any value containing a NUL character fits no type (PostgreSQL cannot store it): it is always a
  conflict and does not count against the stray-value rule.
- A column with no non-null value is text.

Statistics
----------
Exact while a column has at most 10,000 distinct values holding at most 1,000,000 characters;
past that, the distinct count is a HyperLogLog estimate (16,384 registers over a 64-bit hash,
about 1% error; never below the count known exactly) and the top values come from a Misra-Gries
summary (1,000 to 4,000 counters, plus one batch's distinct values), whose counts are lower
bounds, at most (non-null values) / 1001 below the truth; `ColumnProfiler.approximate` says when
that happened. The cap is checked, and the summary pruned, after each batch of values (an Arrow
block, or BATCH_VALUES values given one by one or in lists), so past the cap the estimates also
depend on where batches ended; nothing else does. Everything else stays exact past the cap:
rows, nulls, the type, conflicts, min/max, max_length. min/max compare values in the column's
type (numbers numerically, dates chronologically, text by code point; none for booleans) and are
shown as written, without the surrounding whitespace; among equal values, the first in the file
is shown. Values longer than 200 characters are shown cut to 200 with "…" (conflicts, top values,
text min/max) and, for counting, are keyed by their first 200 characters and a hash, so memory
stays bounded.

How it runs
-----------
Values are profiled a batch at a time, as Arrow string arrays: add() and add_many() buffer Python
strings, add_array() takes a column of pyarrow's CSV reader as it is. A batch is dictionary-
encoded first, so everything below runs once per distinct value, and counts come from the codes;
then its values are looked up among the keys counted so far, and only those not met before are
classified (the others have their class already, and cannot move a range or add a word).
Classes are found with Arrow and numpy kernels for the common shapes (integers up to 18 digits,
decimals, ISO dates and times, booleans, text); the rare ones (longer integers, day/month dates,
anything odd) go through `classify_value`, the rules above written value by value in Python.
`ColumnProfiler(per_value=True)` sends every value there: the reference the kernels are tested
against.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.coltypes import WHITESPACE
from jobs.inspection.results import ColumnProfile, Conflict

# Shown to users and configurable. Not "NA" by default: it is a country code (Namibia) and a
# region (North America), and reading it as NULL would silently drop real values. Not "-" either:
# exports use it as a value (a zero in accounting, an empty code, a range "-"). Users add either.
DEFAULT_NULL_MARKERS: tuple[str, ...] = ("", "NULL", "null", "N/A", "n/a", "#N/A")

EXACT_DISTINCT_CAP = 10_000  # distinct values counted exactly; beyond, HyperLogLog + Misra-Gries
EXACT_CHARS_CAP = 1_000_000  # ...as long as they hold no more characters than this (memory)
SUMMARY_SIZE = 1_000  # Misra-Gries counters kept after a pruning
BATCH_VALUES = 16_384  # values add() and add_many() buffer before profiling them as one batch
# A batch is deduplicated before it is classified unless the last one had more distinct values
# than this share of its values (then deduplicating costs more than it saves).
REPEATS_WORTH_IT = 0.8
STRAY_FRACTION = 0.001  # at most this share of non-null values (and at least 1) may conflict...
MIN_VALUES_FOR_STRAYS = 20  # ...and only once this many non-null values were seen
MAX_NUMERIC_PRECISION = 1000  # PostgreSQL's numeric(p,s) limit
DISPLAY_CHARS = 200  # longer values are shown cut, and keyed by prefix + hash

_PRUNE_AT = 4 * SUMMARY_SIZE
_HLL_BITS = 14
_HLL_REGISTERS = 1 << _HLL_BITS
_HLL_REST = 64 - _HLL_BITS

_TRUE_WORDS = frozenset({"true", "t", "yes", "y"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n"})
_SMALLINT = 2**15
_INTEGER = 2**31
_BIGINT = 2**63
_INT64_DIGITS = 18  # every number of up to 18 digits fits an int64

# ASCII only: in a str pattern [0-9] is ASCII, unlike \d, which takes any Unicode digit.
_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)?\.([0-9]*)")
_TIME = r"(?:([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)"
_ISO_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:([T ])" + _TIME + r"(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_SHORT_TIME = r"(?: ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?"
_DAY_MONTH_RE = re.compile(r"([0-9]{1,2})([/.])([0-9]{1,2})\2([0-9]{4})" + _SHORT_TIME)
_YMD_SLASH_RE = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})" + _SHORT_TIME)
# The same shapes for Arrow's RE2 (anchored; no back-references, so DD/MM/YYYY and DD.MM.YYYY apart).
_RE2_DECIMAL = r"^-?(0|[1-9][0-9]*)?\.[0-9]*$"
_RE2_ISO = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_RE2_SHORT_TIME = r"(?: [0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?"
_RE2_OTHER_DATES = (
    r"^(?:[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2})"
    + _RE2_SHORT_TIME
    + "$"
)

# Fixed value classes; then one class per date/time layout (tokens from _FIXED_CLASSES up).
_TEXT, _NUL, _BOOL, _ZERO_ONE, _INT16, _INT32, _INT64, _BIGNUM, _DECIMAL, _PADDED = range(10)
_FIXED_CLASSES = 10

_SMALLINT_CLASSES = (_ZERO_ONE, _INT16)
_INTEGER_CLASSES = (*_SMALLINT_CLASSES, _INT32)
_BIGINT_CLASSES = (*_INTEGER_CLASSES, _INT64)
_NUMERIC_CLASSES = (*_BIGINT_CLASSES, _BIGNUM, _DECIMAL)

_PRECISION_SUFFIX = {"": "", "M": "%H:%M", "S": "%H:%M:%S", "F": "%H:%M:%S.%f"}
_ORDER_PATTERN = {"dmy": "%d{0}%m{0}%Y", "mdy": "%m{0}%d{0}%Y", "ymd": "%Y{0}%m{0}%d"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class _Layout:
    """A date/time class: the layout of the value and what it can mean."""

    iso: bool
    kind: str  # "date", "naive" or "aware"
    order: str  # "iso", "dmy", "mdy", "ymd", or "either" (DD/MM or MM/DD, both <= 12)
    family: str  # non-ISO: separator; candidates group values of one family + precision
    precision: str  # "" (date), "M", "S", "F" (fraction)
    pattern: str  # strptime pattern; for "either" the day-first one


def _iso_layout(separator: str | None, precision: str, kind: str) -> _Layout:
    pattern = "%Y-%m-%d"
    if separator is not None:
        pattern += separator + _PRECISION_SUFFIX[precision] + ("%z" if kind == "aware" else "")
    return _Layout(iso=True, kind=kind, order="iso", family="iso", precision=precision, pattern=pattern)


def _other_layout(separator: str, order: str, precision: str) -> _Layout:
    pattern = _ORDER_PATTERN["dmy" if order == "either" else order].format(separator)
    if precision:
        pattern += " " + _PRECISION_SUFFIX[precision]
    family = "ymd" if order == "ymd" else separator
    kind = "naive" if precision else "date"
    return _Layout(iso=False, kind=kind, order=order, family=family, precision=precision, pattern=pattern)


# Every layout a value can have, each with a fixed class token. A profiler ranks the ones it meets
# in the order it meets them (ties in `format` go to the first met).
_LAYOUT_KEYS: list[tuple] = [("iso", None, "", "date")]
_LAYOUT_KEYS += [("iso", sep, p, kind) for sep in ("T", " ") for p in "MSF" for kind in ("naive", "aware")]
_LAYOUT_KEYS += [("/", order, p) for order in ("dmy", "mdy", "either", "ymd") for p in ("", "M", "S", "F")]
_LAYOUT_KEYS += [(".", "dmy", p) for p in ("", "M", "S", "F")]
_TOKEN = {key: _FIXED_CLASSES + i for i, key in enumerate(_LAYOUT_KEYS)}
_LAYOUT = {_TOKEN[key]: _iso_layout(*key[1:]) if key[0] == "iso" else _other_layout(*key) for key in _LAYOUT_KEYS}
_TOKENS = _FIXED_CLASSES + len(_LAYOUT_KEYS)
# ISO tokens by (separator code: none/T/space, precision code: date/M/S/F, offset: 0/1).
_ISO_TOKEN = np.zeros((3, 4, 2), np.int16)
for _sep_code, _sep in enumerate((None, "T", " ")):
    for _p_code, _p in enumerate(("", "M", "S", "F")):
        for _aware in (0, 1):
            _key = ("iso", _sep, _p, "aware" if _aware else "naive") if _sep else ("iso", None, "", "date")
            _ISO_TOKEN[_sep_code, _p_code, _aware] = _TOKEN.get(_key, _TEXT)

_ASCII_SPACE = np.zeros(256, bool)
_ASCII_SPACE[[c for c in range(128) if chr(c).isspace()]] = True
_DIGIT = np.zeros(256, bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_BOOL_FIRST = np.zeros(256, bool)
_BOOL_FIRST[[ord(c) for c in "tfynTFYN"]] = True
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def _display(value: str) -> str:
    return value if len(value) <= DISPLAY_CHARS else value[:DISPLAY_CHARS] + "…"


def _long_key(value: str) -> str:
    # Bounded memory: a 10 MB field is counted by its start and a hash. The key is longer than
    # DISPLAY_CHARS, so _display shows only the start.
    # surrogatepass: text decoded with surrogateescape may hold lone surrogates.
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return value[:DISPLAY_CHARS] + "#" + digest


# -- the rules, value by value (rare shapes, and the reference) -----------------------------------
def classify_value(value: str) -> tuple[int, str, dict]:
    """(class token, the value stripped, {interpretation: comparison key}) of one non-null value.

    Interpretations are "" for all but day/month dates that read both ways ("dmy", "mdy").
    Keys: ints for integers, Decimal for decimals, microseconds since 1970 UTC for ISO dates and
    times (naive ones read as UTC, as the load reads them for timestamptz), datetime otherwise.
    """
    text = value.strip()
    if "\x00" in value:
        return _NUL, text, {}
    if not text:
        return _TEXT, text, {}
    if text.isdigit():
        return _integer(text, text) if text.isascii() else (_TEXT, text, {})
    first = text[0]
    # Only "-" may sign a number: "+4420..." is a phone number, and nothing else writes "+5".
    if first == "-":
        digits = text[1:]
        if digits.isdigit() and digits.isascii():
            return _integer(text, digits)
    # A "." is the only decimal point, with no grouping: "1,234" is 1234 in one locale and
    # 1.234 in another, so it stays text rather than be guessed. No exponent either ("12E3").
    if "." in text:
        match = _DECIMAL_RE.fullmatch(text)
        if match:
            return _decimal(text, match)
    if first in "0123456789" and len(text) >= 8:
        return _date_time(text)
    if len(text) <= 5:
        word = text.lower()
        if word in _TRUE_WORDS or word in _FALSE_WORDS:
            return _BOOL, text, {}
    return _TEXT, text, {}


def _integer(text: str, digits: str) -> tuple[int, str, dict]:
    count = len(digits)
    if count > 1 and digits[0] == "0":
        return _PADDED, text, {}  # a zero-padded code: text, and so is its column
    if count > MAX_NUMERIC_PRECISION:
        return _TEXT, text, {}
    number = int(text)
    if text == "0" or text == "1":
        cls = _ZERO_ONE
    elif -_SMALLINT <= number < _SMALLINT:
        cls = _INT16
    elif -_INTEGER <= number < _INTEGER:
        cls = _INT32
    elif -_BIGINT <= number < _BIGINT:
        cls = _INT64
    else:
        cls = _BIGNUM
    return cls, text, {"": number}


def _decimal(text: str, match: re.Match) -> tuple[int, str, dict]:
    whole, fraction = match.group(1) or "", match.group(2)
    if not whole and not fraction:
        return _TEXT, text, {}  # "." or "-."
    before = 0 if whole in ("", "0") else len(whole)
    if before + len(fraction) > MAX_NUMERIC_PRECISION:
        return _TEXT, text, {}
    return _DECIMAL, text, {"": Decimal(text)}


def _date_time(text: str) -> tuple[int, str, dict]:
    match = _ISO_RE.fullmatch(text)
    if match:
        try:
            # The load's own parser: what it reads here, it reads at load time.
            moment = datetime.fromisoformat(text)
        except ValueError:
            return _TEXT, text, {}  # 2023-02-30, 25:00, +25:00 ...
        separator, seconds, fraction, offset = match.group(4, 7, 8, 9)
        if separator is None:
            key = ("iso", None, "", "date")
        else:
            key = ("iso", separator, "F" if fraction else "S" if seconds else "M", "aware" if offset else "naive")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _TOKEN[key], text, {"": (moment - _EPOCH) // _MICROSECOND}
    match = _DAY_MONTH_RE.fullmatch(text)
    if match:
        first, separator, second, year = match.group(1, 2, 3, 4)
        a, b = int(first), int(second)
        if separator == "." or a > 12:
            orders = ("dmy",)
        elif b > 12:
            orders = ("mdy",)
        else:
            orders = ("dmy", "mdy")
        moments = {}
        for order in orders:
            day, month = (a, b) if order == "dmy" else (b, a)
            moment = _moment(int(year), month, day, match.groups()[4:])
            if moment is not None:
                moments[order] = moment
        if not moments:
            return _TEXT, text, {}
        order = "either" if len(moments) == 2 else next(iter(moments))
        return _TOKEN[(separator, order, _precision(match.groups()[4:]))], text, moments
    match = _YMD_SLASH_RE.fullmatch(text)
    if match:
        moment = _moment(int(match.group(1)), int(match.group(2)), int(match.group(3)), match.groups()[3:])
        if moment is None:
            return _TEXT, text, {}
        return _TOKEN[("/", "ymd", _precision(match.groups()[3:]))], text, {"ymd": moment}
    return _TEXT, text, {}


def _moment(year: int, month: int, day: int, time_groups) -> datetime | None:
    hour, minute, second, fraction = time_groups[:4]
    try:
        return datetime(
            year,
            month,
            day,
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None


def _precision(time_groups) -> str:
    hour, _, second, fraction = time_groups[:4]
    if hour is None:
        return ""
    return "F" if fraction else "S" if second else "M"


# -- Arrow and numpy helpers ----------------------------------------------------------------------
def _views(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array: value i is bytes[offsets[i]:offsets[i + 1]]."""
    if pa.types.is_large_string(array.type):
        offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + len(array) + 1]
    else:
        offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    return offsets.astype(np.int64), (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8))


# Conversions between numpy and Arrow through buffers. pyarrow's own (pa.array, to_numpy, take or
# filter with numpy arguments) import pandas, 40+ MB a process, to check for pandas objects.
_NUMPY_TYPES = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64}


def _bools(array) -> np.ndarray:
    """An Arrow boolean array (nulls read as false) as numpy."""
    if isinstance(array, pa.ChunkedArray):
        return np.concatenate([_bools(chunk) for chunk in array.chunks]) if array.num_chunks else np.zeros(0, bool)
    if array.null_count:
        array = pc.fill_null(array, False)
    bits = np.frombuffer(array.buffers()[1], np.uint8)
    return np.unpackbits(bits, count=array.offset + len(array), bitorder="little")[array.offset :].astype(bool)


def _numbers(array) -> np.ndarray:
    """An Arrow integer array without nulls as numpy."""
    if isinstance(array, pa.ChunkedArray):
        parts = [_numbers(chunk) for chunk in array.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if array.null_count:
        raise ValueError("an array with nulls")
    data = np.frombuffer(array.buffers()[1], _NUMPY_TYPES[array.type])
    return data[array.offset : array.offset + len(array)]


def _mask(mask: np.ndarray) -> pa.BooleanArray:
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))])


def _indices(where: np.ndarray) -> pa.Array:
    where = np.ascontiguousarray(where, np.int64)
    return pa.Array.from_buffers(pa.int64(), len(where), [None, pa.py_buffer(where)])


def _strings(values: list[str]) -> pa.Array:
    """Python strings as an Arrow string array."""
    try:
        encoded = [value.encode() for value in values]
    except UnicodeEncodeError:  # lone surrogates: counted as the replacement character
        encoded = [value.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    if offsets[-1] >= 2**31:
        return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data).cast(pa.string())
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets.astype(np.int32)), data)


def _edges(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte lengths, first bytes and last bytes (0 for empty values)."""
    lengths = np.diff(offsets)
    some = lengths > 0
    first = np.zeros(len(lengths), np.uint8)
    last = np.zeros(len(lengths), np.uint8)
    first[some] = data[offsets[:-1][some]]
    last[some] = data[offsets[1:][some] - 1]
    return lengths, first, last


def _digits_at(data: np.ndarray, starts: np.ndarray, position, count: int) -> np.ndarray:
    """The number written by `count` ASCII digits at starts + position (an int or an array)."""
    number = np.zeros(len(starts), np.int64)
    for i in range(count):
        number = number * 10 + (data[starts + position + i].astype(np.int64) - 48)
    return number


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _iso_parse(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class token or _TEXT, microseconds since 1970 UTC) of values of the ISO shape (_RE2_ISO matched).

    What datetime.fromisoformat accepts: year 1 to 9999, real days of the month, hours to 23,
    minutes and seconds to 59, an offset strictly within a day (its minutes may be 60 to 99).
    """
    year = _digits_at(data, starts, 0, 4)
    month = _digits_at(data, starts, 5, 2)
    day = _digits_at(data, starts, 8, 2)
    timed = lengths > 10
    last = data[starts + lengths - 1]
    signed = timed & (lengths >= 22) & np.isin(data[starts + lengths - 6], (ord("+"), ord("-")))
    signed &= data[starts + lengths - 3] == ord(":")
    zulu = timed & (last == ord("Z"))
    core = lengths - np.where(signed, 6, np.where(zulu, 1, 0))
    precision = np.select([core == 10, core == 16, core == 19], [0, 1, 2], 3)
    timed_starts = np.where(timed, starts, starts - 11)  # date-only values: read the date again, unused
    hour = np.where(timed, _digits_at(data, timed_starts, 11, 2), 0)
    minute = np.where(timed, _digits_at(data, timed_starts, 14, 2), 0)
    with_seconds = precision >= 2
    second = np.where(with_seconds, _digits_at(data, np.where(with_seconds, starts, starts - 17), 17, 2), 0)
    fraction = np.zeros(len(starts), np.int64)
    for i in range(6):  # .f to .ffffff, as microseconds
        present = (precision == 3) & (core > 20 + i)
        digit = data[np.where(present, starts + 20 + i, starts)].astype(np.int64) - 48
        fraction += np.where(present, digit * 10 ** (5 - i), 0)
    offset_hours = np.where(signed, _digits_at(data, np.where(signed, starts + lengths - 5, starts), 0, 2), 0)
    offset_minutes = np.where(signed, _digits_at(data, np.where(signed, starts + lengths - 2, starts), 0, 2), 0)
    offset = offset_hours * 60 + offset_minutes
    offset = np.where(data[starts + lengths - 6] == ord("-"), -offset, offset)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    valid = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59) & (np.abs(offset) < 24 * 60)
    separator = np.where(timed, np.where(data[np.where(timed, starts + 10, starts)] == ord("T"), 1, 2), 0)
    tokens = _ISO_TOKEN[separator, precision, (signed | zulu).astype(np.int64)]
    days = _days_from_civil(year, month, np.where(valid, day, 1))
    minutes = days * 1440 + hour * 60 + minute - np.where(signed, offset, 0)
    micros = (minutes * 60 + second) * 1_000_000 + fraction
    return np.where(valid, tokens, _TEXT).astype(np.int16), micros


_MASK = np.array([(1 << (8 * r)) - 1 if r < 8 else 0xFFFFFFFFFFFFFFFF for r in range(9)], np.uint64)


def hash64(array: pa.Array) -> np.ndarray:
    """A 64-bit hash of every string of an Arrow string array (for HyperLogLog), eight bytes at a time."""
    offsets, data = _views(array)
    n = len(array)
    base = offsets[0] if n else 0
    padded = np.zeros(offsets[-1] - base + 8 if n else 8, np.uint8)
    padded[: offsets[-1] - base] = data[base : offsets[-1]]
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))  # unaligned reads
    lengths = np.diff(offsets)
    hashes = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(0x243F6A8885A308D3)
    rows = np.arange(n)
    position = offsets[:-1] - base
    remaining = lengths
    while rows.size:
        word = words[position] & _MASK[np.minimum(remaining, 8)]
        mixed = (hashes[rows] ^ word) * np.uint64(0xFF51AFD7ED558CCD)
        hashes[rows] = mixed ^ (mixed >> np.uint64(32))
        position = position + 8
        remaining = remaining - 8
        more = remaining > 0
        if not more.all():
            rows, position, remaining = rows[more], position[more], remaining[more]
    hashes ^= hashes >> np.uint64(33)
    hashes *= np.uint64(0xC4CEB9FE1A85EC53)
    hashes ^= hashes >> np.uint64(33)
    return hashes


# -- the profiler ---------------------------------------------------------------------------------
@dataclass
class _Batch:
    """The values of a batch the profiler had not met before, classified."""

    values: pa.Array  # distinct values, in the order first met
    lengths: np.ndarray  # in characters
    text: pa.Array  # stripped
    tokens: np.ndarray  # class token per value
    numbers: np.ndarray  # int64 keys: integers (vectorised) and ISO instants in microseconds
    by_number: np.ndarray  # where `numbers` holds the key
    decimals: np.ndarray  # positions of vectorised decimals
    per_value: list[tuple[int, int, dict]]  # (position, token, keys) of values classified one by one


class ColumnProfiler:
    """Type inference and statistics for one column, fed its values in file order."""

    def __init__(
        self, *, null_markers=DEFAULT_NULL_MARKERS, max_conflicts: int = 5, top_k: int = 5, per_value: bool = False
    ):
        self.null_markers: tuple[str, ...] = tuple(null_markers)
        self.max_conflicts = max_conflicts
        self.top_k = top_k
        self.per_value = per_value
        self.null_count = 0
        self._markers = _strings(list(self.null_markers))
        # No value longer than the longest marker can be one: only the others are looked up.
        self._marker_bytes = int(np.diff(_views(self._markers)[0]).max()) if len(self._markers) else -1
        self._pending: list[str] = []
        self._pending_lines: list[int] = []
        self._finished = False
        self._counts = np.zeros(_TOKENS, np.int64)  # non-null values per class
        self._layouts: list[int] = []  # layout tokens in the order first met
        self._examples: dict[int, list[tuple[int, str]]] = {}
        self._want_examples = np.full(_TOKENS, max_conflicts > 0)
        # (class, interpretation) -> [low key, low text, high key, high text]
        self._ranges: dict[tuple[int, str], list] = {}
        self._decimal_digits = 0  # decimals: most digits before the point (no leading zeros)
        self._scale = 0  # decimals: most digits after the point
        self._true_words: set[str] = set()
        self._false_words: set[str] = set()
        self._zero_one: set[str] = set()
        self._max_length = 0
        self._slow_cache: dict[str, tuple[int, str, dict]] = {}
        self._deduplicate = True
        # Distinct values as arrays (key, count, class): every one while exact; past the cap a
        # Misra-Gries summary, with HyperLogLog registers for the distinct count.
        self._keys: tuple[pa.Array, np.ndarray, np.ndarray] = (
            _strings([]),
            np.zeros(0, np.int64),
            np.zeros(0, np.int16),
        )
        self._capped = False
        self._key_chars = 0
        self._distinct_floor = 0
        self._registers: np.ndarray | None = None
        self._decremented = 0  # Misra-Gries: the most any kept count is below the truth
        self._text_low: str | None = None  # keys, compared by code point; kept only once summarized
        self._text_high: str | None = None

    # -- feeding ---------------------------------------------------------------------------
    def add(self, value: str, line: int) -> None:
        self._pending.append(value)
        self._pending_lines.append(line)
        if len(self._pending) >= BATCH_VALUES:
            self._flush()

    def add_many(self, values, lines) -> None:
        """add() for a batch of one column's values and their lines."""
        self._pending.extend(values)
        self._pending_lines.extend(lines)
        if len(self._pending) >= BATCH_VALUES:
            self._flush()

    def add_array(self, values: pa.Array | pa.ChunkedArray, lines: np.ndarray) -> None:
        """Values as an Arrow string array, chunked or not (a null is a missing field: not counted
        at all), and their lines; add()'s result, without a Python string per value."""
        self._flush()
        self._feed(values, np.asarray(lines, np.int64))

    def _flush(self) -> None:
        if self._finished:
            raise RuntimeError("result() was called: this profiler takes no more values")
        if not self._pending:
            return
        values = _strings(self._pending)
        lines = np.array(self._pending_lines, np.int64)
        self._pending, self._pending_lines = [], []
        self._feed(values, lines)

    def _feed(self, values: pa.Array, lines: np.ndarray) -> None:
        """One batch: every value is classified and counted once per distinct value."""
        if values.type != pa.string():
            values = values.cast(pa.string())
        if values.null_count:
            present = _bools(values.is_valid())
            values, lines = values.filter(present), lines[present]
        if not len(values):
            return
        if self._deduplicate:
            # A chunked column (Arrow's CSV reader parses in blocks) is encoded as it is, without
            # copying it whole: the chunks' codes share one dictionary.
            encoded = pc.dictionary_encode(values)
            if isinstance(encoded, pa.ChunkedArray):
                distinct = encoded.chunk(0).dictionary
                rows = np.concatenate([_numbers(chunk.indices) for chunk in encoded.chunks])
            else:
                distinct, rows = encoded.dictionary, _numbers(encoded.indices)
            counts = np.bincount(rows, minlength=len(distinct))
            deduplicated = True
            self._deduplicate = len(distinct) <= REPEATS_WORTH_IT * len(rows)
        else:
            # Values that hardly repeat (ids, timestamps): each is its own "distinct" value, and
            # the merge into the counts (which hashes them anyway) adds up the repeats.
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            distinct, counts, rows = values, np.ones(len(values), np.int64), np.arange(len(values))
            deduplicated = False
        if len(self._markers):
            nulls = self._marked(distinct)
            if nulls.any():
                self.null_count += int(counts[nulls].sum())
                kept = ~nulls
                renumber = np.cumsum(kept) - 1
                keep_rows = kept[rows]
                rows, lines = renumber[rows[keep_rows]], lines[keep_rows]
                distinct, counts = distinct.filter(_mask(kept)), counts[kept]
                if not len(distinct):
                    return
        # The values of `distinct` are numbered in the order first met, which settles ties. They
        # are merged into the known keys first: a value met before has its class already, and
        # cannot move a range, add a word or a layout; only the others are classified.
        lengths = _numbers(pc.utf8_length(distinct))
        keys = distinct
        long = lengths > DISPLAY_CHARS
        if long.any():
            replaced = [_long_key(value) for value in distinct.filter(_mask(long)).to_pylist()]
            keys = pc.replace_with_mask(distinct, _mask(long), _strings(replaced))
        known_keys, known_counts, known_classes = self._keys
        known = len(known_keys)
        if known or not deduplicated:
            encoded = pc.dictionary_encode(pa.concat_arrays([known_keys, keys]))
            unique, indices = encoded.dictionary, _numbers(encoded.indices)
            at = indices[known:]  # where each value of the batch is among all keys
        else:  # the batch's values are distinct already
            unique, indices, at = keys, None, np.arange(len(keys))
        fresh = at >= known
        tokens = np.empty(len(distinct), np.int16)
        tokens[~fresh] = known_classes[at[~fresh]]
        new = np.flatnonzero(fresh)
        batch = self._classify(distinct if len(new) == len(distinct) else distinct.take(_indices(new)), lengths[new])
        tokens[new] = batch.tokens
        self._absorb(batch, tokens, distinct, counts, rows, lines)
        if indices is None:
            merged, classes = counts.astype(np.int64), tokens
        else:
            merged = np.bincount(indices, weights=np.concatenate([known_counts, counts]), minlength=len(unique))
            merged = merged.astype(np.int64)
            classes = np.empty(len(unique), np.int16)
            classes[:known] = known_classes
            classes[at] = tokens
        self._count_distinct(unique, merged, classes, known, None if deduplicated else len(keys))

    def _marked(self, values: pa.Array) -> np.ndarray:
        """Which values are null markers."""
        short = np.diff(_views(values)[0]) <= self._marker_bytes
        if short.all():
            return _bools(pc.is_in(values, value_set=self._markers))
        nulls = np.zeros(len(values), bool)
        where = np.flatnonzero(short)
        if where.size:
            nulls[where] = _bools(pc.is_in(values.take(_indices(where)), value_set=self._markers))
        return nulls

    # -- classification --------------------------------------------------------------------
    def _classify(self, values: pa.Array, lengths: np.ndarray | None = None) -> _Batch:
        """Classes of these values (and their ranges' keys); lengths: theirs in characters, if known."""
        n = len(values)
        char_lengths = _numbers(pc.utf8_length(values)) if lengths is None else lengths
        tokens = np.full(n, _TEXT, np.int16)
        numbers = np.zeros(n, np.int64)
        by_number = np.zeros(n, bool)
        decimals = np.zeros(0, np.int64)
        offsets, data = _views(values)
        lengths, first, last = _edges(offsets, data)
        if self.per_value:
            slow = np.ones(n, bool)
            text = values
        else:
            slow = np.zeros(n, bool)
            nul = np.zeros(n, bool)
            if data.size and (data == 0).any():
                nul = _bools(pc.match_substring(values, "\x00"))
                slow |= nul
            edged = (lengths > 0) & (_ASCII_SPACE[first] | _ASCII_SPACE[last] | (first >= 0x80) | (last >= 0x80))
            text = values
            if edged.any():
                trimmed = pc.utf8_trim(values.filter(edged), characters=WHITESPACE)
                text = pc.replace_with_mask(values, _mask(edged), trimmed)
                offsets, data = _views(text)
                lengths, first, last = _edges(offsets, data)
            starts = offsets[:-1]
            plain = ~nul & (lengths > 0) & _bools(pc.string_is_ascii(text))
            # Integers: digits, or "-" and digits. Zero-padded ones are codes; up to 18 digits
            # are read here, longer ones (int64's edge, numeric) value by value.
            digits = plain & _bools(pc.ascii_is_decimal(text))
            signed = plain & ~digits & (first == ord("-")) & (lengths >= 2)
            if signed.any():
                where = np.flatnonzero(signed)
                rest = pc.utf8_slice_codeunits(text.take(_indices(where)), 1)
                signed[where] = _bools(pc.ascii_is_decimal(rest))
            count = lengths - signed
            lead = np.zeros(n, np.uint8)
            if data.size:  # an empty last value starts at the end of the bytes: clamped, and masked below
                lead = data[np.minimum(np.where(signed, starts + 1, starts), data.size - 1)]
            integer = digits | signed
            padded = integer & (count > 1) & (lead == ord("0"))
            tokens[padded] = _PADDED
            integer &= ~padded
            slow |= integer & (count > _INT64_DIGITS) & (count <= MAX_NUMERIC_PRECISION)
            short = integer & (count <= _INT64_DIGITS)
            if short.any():
                where = np.flatnonzero(short)
                number = _numbers(pc.cast(text.take(_indices(where)), pa.int64()))
                numbers[where] = number
                by_number[where] = True
                cls = np.select(
                    [
                        (lengths[where] == 1) & (number <= 1),
                        (number >= -_SMALLINT) & (number < _SMALLINT),
                        (number >= -_INTEGER) & (number < _INTEGER),
                    ],
                    [_ZERO_ONE, _INT16, _INT32],
                    _INT64,
                )
                tokens[where] = cls
            rest = plain & ~integer & ~padded & ~slow
            # Decimals: "-12.50", ".5", "5.".
            dotted = rest & np.isin(first, np.frombuffer(b"-.0123456789", np.uint8))
            decimal = np.zeros(n, bool)
            if dotted.any():
                where = np.flatnonzero(dotted)
                subset = text.take(_indices(where))
                dot = _numbers(pc.find_substring(subset, "."))
                candidates = where[dot >= 0]
                if candidates.size:
                    matched = _bools(pc.match_substring_regex(text.take(_indices(candidates)), _RE2_DECIMAL))
                    decimal[candidates[matched]] = True
            if decimal.any():
                decimals = self._decimal_classes(text, data, starts, lengths, first, decimal, tokens)
            rest &= ~decimal
            # Dates and times: a digit first and at least 8 characters.
            dated = rest & _DIGIT[first] & (lengths >= 8)
            if dated.any():
                where = np.flatnonzero(dated)
                subset = text.take(_indices(where))
                iso = _bools(pc.match_substring_regex(subset, _RE2_ISO))
                if iso.any():
                    at = where[iso]
                    cls, micros = _iso_parse(data, starts[at], lengths[at])
                    tokens[at] = cls
                    numbers[at] = micros
                    by_number[at] = cls != _TEXT
                others = where[~iso]
                if others.size:
                    shaped = _bools(pc.match_substring_regex(text.take(_indices(others)), _RE2_OTHER_DATES))
                    slow[others[shaped]] = True
            # Booleans: a word of up to 5 letters.
            worded = rest & ~dated & (lengths <= 5) & _BOOL_FIRST[first]
            if worded.any():
                where = np.flatnonzero(worded)
                word = pc.ascii_lower(text.take(_indices(where)))
                known = _strings(sorted(_TRUE_WORDS | _FALSE_WORDS))
                tokens[where[_bools(pc.is_in(word, value_set=known))]] = _BOOL
        per_value = []
        if slow.any():
            text, per_value = self._classify_slowly(values, text, slow, tokens, numbers, by_number)
        return _Batch(values, char_lengths, text, tokens, numbers, by_number, decimals, per_value)

    def _decimal_classes(self, text, data, starts, lengths, first, decimal, tokens) -> np.ndarray:
        """Decimal classes (and the digit counts) of the decimal-shaped values; returns their positions."""
        where = np.flatnonzero(decimal)
        dot = _numbers(pc.find_substring(text.take(_indices(where)), ".")).astype(np.int64)
        sign = (first[where] == ord("-")).astype(np.int64)
        whole = dot - sign
        scale = lengths[where] - dot - 1
        zero = (whole == 1) & (data[starts[where] + sign] == ord("0"))
        before = np.where((whole == 0) | zero, 0, whole)
        text_like = ((whole == 0) & (scale == 0)) | (before + scale > MAX_NUMERIC_PRECISION)
        tokens[where] = np.where(text_like, _TEXT, _DECIMAL)
        kept = ~text_like
        if kept.any():
            self._decimal_digits = max(self._decimal_digits, int(before[kept].max()))
            self._scale = max(self._scale, int(scale[kept].max()))
        return where[kept]

    def _classify_slowly(self, values, text, slow, tokens, numbers, by_number):
        """Values the kernels leave alone, classified one distinct value at a time."""
        where = np.flatnonzero(slow)
        cache = self._slow_cache
        if len(cache) > 65_536:
            cache.clear()
        per_value = []
        texts = []
        for position, value in zip(where.tolist(), values.take(_indices(where)).to_pylist(), strict=True):
            found = cache.get(value)
            if found is None:
                found = cache[value] = classify_value(value)
            token, stripped, keys = found
            tokens[position] = token
            texts.append(stripped)
            if keys:
                per_value.append((position, token, keys))
        by_number[where] = False
        # Digit counts and words are read from the stripped text, as for every other value.
        text = pc.replace_with_mask(text, _mask(slow), _strings(texts))
        decimal = where[tokens[where] == _DECIMAL]
        if decimal.size:
            for value in text.take(_indices(decimal)).to_pylist():
                match = _DECIMAL_RE.fullmatch(value)
                whole, fraction = match.group(1) or "", match.group(2)
                self._decimal_digits = max(self._decimal_digits, 0 if whole in ("", "0") else len(whole))
                self._scale = max(self._scale, len(fraction))
        return text, per_value

    # -- what a batch adds: counts, examples, ranges, words --------------------------------
    def _absorb(self, batch: _Batch, tokens, distinct: pa.Array, counts, rows, lines) -> None:
        """What a batch adds. batch: its values not met before, classified; tokens, counts: the class
        and count of each distinct value of the batch; rows: each row's distinct value."""
        by_class = np.bincount(tokens, weights=counts, minlength=_TOKENS).astype(np.int64)
        self._counts += by_class
        present = np.flatnonzero(by_class).tolist()
        wanted = [token for token in present if self._want_examples[token]]
        if wanted:
            row_tokens = tokens[rows]
            for token in wanted:
                examples = self._examples.setdefault(token, [])
                at = np.flatnonzero(row_tokens == token)[: self.max_conflicts - len(examples)]
                shown = distinct.take(_indices(rows[at])).to_pylist()
                examples.extend(zip(lines[at].tolist(), map(_display, shown), strict=True))
                if len(examples) >= self.max_conflicts:
                    self._want_examples[token] = False
        if not len(batch.values):
            return
        tokens = batch.tokens
        present = np.flatnonzero(np.bincount(tokens, minlength=_TOKENS)).tolist()
        new_layouts = [token for token in present if token >= _FIXED_CLASSES and token not in self._layouts]
        if new_layouts:
            met = {token: int(np.argmax(tokens == token)) for token in new_layouts}  # the first met
            self._layouts.extend(sorted(new_layouts, key=met.__getitem__))
        self._max_length = max(self._max_length, int(batch.lengths.max()))
        if _ZERO_ONE in present:
            self._zero_one.update(batch.text.filter(_mask(tokens == _ZERO_ONE)).to_pylist())
        if _BOOL in present:
            for word in batch.text.filter(_mask(tokens == _BOOL)).to_pylist():
                (self._true_words if word.lower() in _TRUE_WORDS else self._false_words).add(word)
        self._widen_all(batch, present)

    def _widen_all(self, batch: _Batch, present: list[int]) -> None:
        """Each class's lowest and highest value in this batch (the first met of equals), into the ranges."""
        lows: dict[tuple[int, str], tuple] = {}  # (class, interpretation) -> (key, distinct value's number)
        highs: dict[tuple[int, str], tuple] = {}

        def offer(slot, key, number):
            # Distinct values are numbered in the order first met: a lower number was met first.
            low = lows.get(slot)
            if low is None or key < low[0] or (key == low[0] and number < low[1]):
                lows[slot] = (key, number)
            high = highs.get(slot)
            if high is None or key > high[0] or (key == high[0] and number < high[1]):
                highs[slot] = (key, number)

        tokens = batch.tokens
        for token in present:
            if token in (_TEXT, _NUL, _BOOL, _PADDED):
                continue
            if token == _DECIMAL and batch.decimals.size:
                self._decimal_range(batch, offer)
            mine = batch.by_number & (tokens == token)
            if mine.any():
                where = np.flatnonzero(mine)
                keys = batch.numbers[where]
                low, high = int(np.argmin(keys)), int(np.argmax(keys))  # the first of equals
                offer((token, ""), int(keys[low]), int(where[low]))
                offer((token, ""), int(keys[high]), int(where[high]))
        for number, token, keys in batch.per_value:
            for interpretation, key in keys.items():
                offer((token, interpretation), key, number)
        for slot, (key, number) in lows.items():
            text = batch.text[number].as_py()
            bounds = self._ranges.get(slot)
            if bounds is None:
                self._ranges[slot] = bounds = [key, text, None, None]
            elif key < bounds[0]:
                bounds[0], bounds[1] = key, text
            high_key, high_number = highs[slot]
            if bounds[2] is None or high_key > bounds[2]:
                bounds[2], bounds[3] = high_key, batch.text[high_number].as_py()

    def _decimal_range(self, batch: _Batch, offer) -> None:
        where = batch.decimals
        subset = batch.text.take(_indices(where))
        dot = _numbers(pc.find_substring(subset, "."))
        lengths = _numbers(pc.utf8_length(subset))
        scale = int((lengths - dot - 1).max())
        precision = max(int((dot - (_bools(pc.starts_with(subset, "-")))).max()) + scale, 1)
        if precision <= 76:
            kind = pa.decimal128 if precision <= 38 else pa.decimal256
            numbers = pc.cast(subset, kind(precision, scale))
            extremes = pc.min_max(numbers)
            for which in ("min", "max"):
                key = extremes[which]
                first = int(np.argmax(_bools(pc.equal(numbers, key))))
                offer((_DECIMAL, ""), key.as_py(), int(where[first]))
        else:  # past what Arrow's decimals hold: Python's
            keys = [Decimal(value) for value in subset.to_pylist()]
            for index in (keys.index(min(keys)), keys.index(max(keys))):
                offer((_DECIMAL, ""), keys[index], int(where[index]))

    # -- distinct values and top values ----------------------------------------------------
    def _count_distinct(self, unique: pa.Array, counts, classes, known: int, undeduplicated: int | None) -> None:
        """The keys, counts and classes merged with the batch (the known keys first); then check
        the cap, or prune. undeduplicated: how many values the batch had, when they were not."""
        new = unique.slice(known)
        self._keys = (unique, counts, classes)
        if undeduplicated is not None:  # were they worth deduplicating after all?
            self._deduplicate = len(new) <= REPEATS_WORTH_IT * undeduplicated
        if not self._capped:
            self._key_chars += int(pc.sum(pc.utf8_length(new)).as_py() or 0)
            if len(unique) > EXACT_DISTINCT_CAP or self._key_chars > EXACT_CHARS_CAP:
                self._summarize()
        else:
            self._hll_add(new)
            self._widen_text(new, classes[known:])
            if len(unique) > _PRUNE_AT:
                self._prune()

    def _summarize(self) -> None:
        # Past the cap: distinct values go to HyperLogLog, counts to a Misra-Gries summary.
        keys, _counts, classes = self._keys
        self._capped = True
        self._distinct_floor = len(keys)
        self._registers = np.zeros(_HLL_REGISTERS, np.uint8)
        self._hll_add(keys)
        self._widen_text(keys, classes)
        self._prune()

    def _prune(self) -> None:
        # Misra-Gries, in batches: subtract the (SUMMARY_SIZE+1)-th largest count from every counter
        # and drop those left at zero. At least SUMMARY_SIZE+1 counters lose that much each time, so
        # the total subtracted, the error of any count, stays <= values / (SUMMARY_SIZE + 1).
        keys, counts, classes = self._keys
        if len(counts) <= SUMMARY_SIZE:
            return
        cut = int(np.partition(counts, len(counts) - SUMMARY_SIZE - 1)[len(counts) - SUMMARY_SIZE - 1])
        self._decremented += cut
        kept = counts > cut
        self._keys = (keys.filter(_mask(kept)), counts[kept] - cut, classes[kept])

    def _hll_add(self, keys: pa.Array) -> None:
        if not len(keys):
            return
        hashes = hash64(keys)
        index = (hashes >> np.uint64(_HLL_REST)).astype(np.int64)
        rest = (hashes & np.uint64((1 << _HLL_REST) - 1)).astype(np.float64)  # exact: < 2**53
        rank = (_HLL_REST + 1 - np.frexp(rest)[1]).astype(np.uint8)  # frexp's exponent is the bit length
        np.maximum.at(self._registers, index, rank)

    def _widen_text(self, keys: pa.Array, classes: np.ndarray) -> None:
        """Lowest and highest text key (by code point), NUL values left out."""
        if (classes == _NUL).any():
            keys = keys.filter(_mask(classes != _NUL))
        if not len(keys):
            return
        extremes = pc.min_max(keys)
        low, high = extremes["min"].as_py(), extremes["max"].as_py()
        if self._text_low is None or low < self._text_low:
            self._text_low = low
        if self._text_high is None or high > self._text_high:
            self._text_high = high

    def _hll_estimate(self) -> int:
        m = _HLL_REGISTERS
        registers = self._registers
        estimate = 0.7213 / (1 + 1.079 / m) * m * m / math.fsum(np.ldexp(1.0, -registers.astype(np.int64)))
        zeros = int((registers == 0).sum())
        if estimate <= 2.5 * m and zeros:
            estimate = m * math.log(m / zeros)  # linear counting, better for small counts
        return round(estimate)

    # -- what was seen ---------------------------------------------------------------------
    def _finish(self) -> None:
        if not self._finished:
            self._flush()
            self._finished = True

    @property
    def rows(self) -> int:
        """Values seen, nulls included."""
        return self.null_count + int(self._counts.sum()) + len(self._pending)

    @property
    def approximate(self) -> bool:
        """True once the column passed EXACT_DISTINCT_CAP distinct values (or EXACT_CHARS_CAP
        characters of them): distinct_estimate is then a HyperLogLog estimate and top_values counts
        are lower bounds."""
        self._finish()
        return self._capped

    @property
    def top_values_error(self) -> int:
        """The most any top_values count can be below the true count (0 while exact)."""
        self._finish()
        return self._decremented

    def result(self) -> ColumnProfile:
        """The profile of every value added. Ends the stream: no value can be added after it."""
        self._finish()
        counts = self._counts.tolist()
        non_null = sum(counts)
        nul = counts[_NUL]
        chosen = None
        if non_null > nul and not counts[_PADDED]:
            best = None
            for candidate in self._candidates(counts):
                fits = sum(counts[cls] for cls, _ in candidate[2])
                if best is None or fits > best[0]:
                    best = (fits, candidate)
            if best is not None:
                strays = non_null - nul - best[0]
                allowed = max(1, math.floor(non_null * STRAY_FRACTION)) if non_null >= MIN_VALUES_FOR_STRAYS else 0
                if strays <= allowed:
                    chosen = best[1]
        if chosen is None:
            type_sql, fmt, fitting = "text", "", [(cls, "") for cls in range(len(counts)) if cls != _NUL]
        else:
            type_sql, fmt, fitting = chosen
        fitting_classes = {cls for cls, _ in fitting}

        conflicts: list[tuple[int, str]] = []
        for cls in [*range(_FIXED_CLASSES), *self._layouts]:  # class order: fixed ones, then layouts as met
            if cls not in fitting_classes:
                conflicts.extend(self._examples.get(cls, ()))
        conflicts.sort(key=lambda example: example[0])

        low = high = None
        if type_sql == "text":
            low, high = self._text_bounds()
        elif type_sql != "boolean":
            low, high = self._bounds(fitting)

        true_words: tuple[str, ...] = ()
        false_words: tuple[str, ...] = ()
        if type_sql == "boolean":
            zero_one = self._zero_one if _ZERO_ONE in fitting_classes else set()
            true_words = tuple(sorted(self._true_words | (zero_one & {"1"})))
            false_words = tuple(sorted(self._false_words | (zero_one & {"0"})))

        keys, key_counts, _ = self._keys
        distinct = max(self._hll_estimate(), self._distinct_floor) if self._capped else len(keys)
        # The top counts first (a partial sort: the summary may hold many), ties by value.
        top = np.argsort(-key_counts, kind="stable")
        if len(top) > self.top_k:
            floor = key_counts[top[self.top_k - 1]]
            top = np.flatnonzero(key_counts >= floor)
        items = zip(keys.take(_indices(top)).to_pylist(), key_counts[top].tolist(), strict=True)
        ranked = sorted(items, key=lambda item: (-item[1], item[0]))
        top_values = [(_display(key), count) for key, count in ranked[: self.top_k]]

        return ColumnProfile(
            type_sql=type_sql,
            format=fmt,
            nullable=self.null_count > 0,
            rows=self.null_count + non_null,
            null_count=self.null_count,
            distinct_estimate=distinct,
            min=low,
            max=high,
            max_length=self._max_length,
            top_values=top_values,
            conflicts=[Conflict(line=line, value=value) for line, value in conflicts[: self.max_conflicts]],
            conflict_count=non_null - sum(counts[cls] for cls in fitting_classes),
            true_words=true_words,
            false_words=false_words,
        )

    def _candidates(self, counts: list[int]):
        """(type_sql, format, [(class, interpretation)]) from narrowest to widest: ties go to the first."""
        zero_one_is_boolean = counts[_BOOL] > 0 or self._zero_one == {"0", "1"}
        boolean = [(_BOOL, "")] + ([(_ZERO_ONE, "")] if zero_one_is_boolean else [])
        yield "boolean", "", boolean
        yield "smallint", "", [(cls, "") for cls in _SMALLINT_CLASSES]
        yield "integer", "", [(cls, "") for cls in _INTEGER_CLASSES]
        yield "bigint", "", [(cls, "") for cls in _BIGINT_CLASSES]
        numeric = [(cls, "") for cls in _NUMERIC_CLASSES if counts[cls]]
        if numeric:
            scale = self._scale if counts[_DECIMAL] else 0
            precision = max(self._digits(cls) for cls, _ in numeric) + scale
            if precision <= MAX_NUMERIC_PRECISION:
                yield f"numeric({max(precision, 1)},{scale})", "", numeric

        layouts = [(cls, _LAYOUT[cls]) for cls in self._layouts if counts[cls]]
        iso = [(cls, layout) for cls, layout in layouts if layout.iso]
        iso_dates = [(cls, layout) for cls, layout in iso if layout.kind == "date"]
        iso_naive = [(cls, layout) for cls, layout in iso if layout.kind != "aware"]
        non_iso_dates = [(cls, layout) for cls, layout in layouts if not layout.iso and not layout.precision]
        non_iso_times = [(cls, layout) for cls, layout in layouts if not layout.iso and layout.precision]
        if iso_dates:
            yield "date", "%Y-%m-%d", [(cls, "") for cls, _ in iso_dates]
        yield from self._non_iso_candidates("date", non_iso_dates)
        if len(iso_naive) > len(iso_dates):
            yield "timestamp", self._common_pattern(counts, iso_naive, "naive"), [(cls, "") for cls, _ in iso_naive]
        yield from self._non_iso_candidates("timestamp", non_iso_times)
        if len(iso) > len(iso_naive):
            yield "timestamptz", self._common_pattern(counts, iso, "aware"), [(cls, "") for cls, _ in iso]

    def _common_pattern(self, counts: list[int], layouts, kind: str) -> str:
        # The most frequent layout of that kind; the first met on a tie.
        rank = self._layouts.index
        return max((counts[cls], -rank(cls), layout.pattern) for cls, layout in layouts if layout.kind == kind)[2]

    def _non_iso_candidates(self, type_sql: str, layouts):
        groups: dict[tuple[str, str], list[tuple[int, _Layout]]] = {}
        for cls, layout in layouts:
            groups.setdefault((layout.family, layout.precision), []).append((cls, layout))
        for (family, precision), members in groups.items():
            orders = ("dmy", "mdy") if family == "/" else ("ymd",) if family == "ymd" else ("dmy",)
            for order in orders:
                fitting = [(cls, order) for cls, layout in members if layout.order in (order, "either")]
                if not fitting:
                    continue
                separator = "/" if family == "ymd" else family
                pattern = _ORDER_PATTERN[order].format(separator)
                if precision:
                    pattern += " " + _PRECISION_SUFFIX[precision]
                yield type_sql, pattern, fitting

    def _digits(self, cls: int) -> int:
        """Numbers: the most digits before the point, in one class."""
        if cls == _DECIMAL:
            return self._decimal_digits
        low, _, high, _ = self._ranges[(cls, "")]
        return max(len(str(abs(low))), len(str(abs(high))))  # integers: no leading zeros

    def _text_bounds(self) -> tuple[str | None, str | None]:
        if not self._capped:
            keys, _counts, classes = self._keys
            self._widen_text(keys, classes)
        if self._text_low is None:
            return None, None  # no value, or every value had a NUL
        return _display(self._text_low), _display(self._text_high)

    def _bounds(self, fitting) -> tuple[str | None, str | None]:
        low = high = None
        for cls, interpretation in fitting:
            bounds = self._ranges.get((cls, interpretation))
            if bounds is None:
                continue
            if low is None or bounds[0] < low[0]:
                low = (bounds[0], bounds[1])
            if high is None or bounds[2] > high[0]:
                high = (bounds[2], bounds[3])
        return (low[1] if low else None), (high[1] if high else None)
