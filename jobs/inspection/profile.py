"""Column profiling: the type of a column, the values that conflict with it, and its statistics.

A ColumnProfiler is fed the fields of one column, one at a time, in file order, and keeps bounded
memory whatever the number of values. Plain Python, no Django.

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
  timestamp column (midnight). The ISO variants may mix in a column: the load's ISO parser reads
  them all, and `format` shows the most common one.
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
Exact while a column has at most 10,000 distinct values holding at most 1,000,000 characters
(about 2.5 MB per column at worst); past that, the distinct count is a HyperLogLog estimate
(16,384 one-byte registers, about 1% error; never below the count known exactly) and the top
values come from a Misra-Gries summary (1,000 to 4,000 counters) whose counts are lower bounds, at
most (non-null values) / 1001 below the truth; `ColumnProfiler.approximate` says when that
happened. Everything else stays exact past the cap: rows, nulls, the type, conflicts, min/max,
max_length. min/max compare values in the column's type (numbers numerically, dates
chronologically, text by code point; none for booleans) and are shown as written, without the
surrounding whitespace. Values longer than 200 characters are shown cut to 200 with "…"
(conflicts, top values, text min/max) and, for counting, are keyed by their first 200 characters
and a hash, so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from datetime import UTC, datetime
from decimal import Decimal

from jobs.inspection.results import ColumnProfile, Conflict

# Shown to users and configurable. Not "NA" by default: it is a country code (Namibia) and a
# region (North America), and reading it as NULL would silently drop real values. Not "-" either:
# exports use it as a value (a zero in accounting, an empty code, a range "-"). Users add either.
DEFAULT_NULL_MARKERS: tuple[str, ...] = ("", "NULL", "null", "N/A", "n/a", "#N/A")

EXACT_DISTINCT_CAP = 10_000  # distinct values counted exactly; beyond, HyperLogLog + Misra-Gries
EXACT_CHARS_CAP = 1_000_000  # ...as long as they hold no more characters than this (memory)
SUMMARY_SIZE = 1_000  # Misra-Gries counters kept once the exact cap is passed
STRAY_FRACTION = 0.001  # at most this share of non-null values (and at least 1) may conflict...
MIN_VALUES_FOR_STRAYS = 20  # ...and only once this many non-null values were seen
MAX_NUMERIC_PRECISION = 1000  # PostgreSQL's numeric(p,s) limit
DISPLAY_CHARS = 200  # longer values are shown cut, and keyed by prefix + hash

_HLL_BITS = 14
_HLL_REGISTERS = 1 << _HLL_BITS
_HLL_REST = 32 - _HLL_BITS
_HLL_REST_MASK = (1 << _HLL_REST) - 1
_PRUNE_AT = 4 * SUMMARY_SIZE
_crc32 = zlib.crc32

_TRUE_WORDS = frozenset({"true", "t", "yes", "y"})
_FALSE_WORDS = frozenset({"false", "f", "no", "n"})
_SMALLINT = 2**15
_INTEGER = 2**31
_BIGINT = 2**63

# ASCII only: in a str pattern [0-9] is ASCII, unlike \d, which takes any Unicode digit.
_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)?\.([0-9]*)")
_TIME = r"(?:([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)"
_ISO_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:([T ])" + _TIME + r"(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_SHORT_TIME = r"(?: ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?"
_DAY_MONTH_RE = re.compile(r"([0-9]{1,2})([/.])([0-9]{1,2})\2([0-9]{4})" + _SHORT_TIME)
_YMD_SLASH_RE = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})" + _SHORT_TIME)

# Fixed value classes; date/time layouts get further class ids as they are met.
_TEXT, _NUL, _BOOL, _ZERO_ONE, _INT16, _INT32, _INT64, _BIGNUM, _DECIMAL, _PADDED = range(10)
_FIXED_CLASSES = 10

_SMALLINT_CLASSES = (_ZERO_ONE, _INT16)
_INTEGER_CLASSES = (*_SMALLINT_CLASSES, _INT32)
_BIGINT_CLASSES = (*_INTEGER_CLASSES, _INT64)
_NUMERIC_CLASSES = (*_BIGINT_CLASSES, _BIGNUM, _DECIMAL)

_PRECISION_SUFFIX = {"": "", "M": "%H:%M", "S": "%H:%M:%S", "F": "%H:%M:%S.%f"}
_ORDER_PATTERN = {"dmy": "%d{0}%m{0}%Y", "mdy": "%m{0}%d{0}%Y", "ymd": "%Y{0}%m{0}%d"}


class _Layout:
    """A date/time class: the layout of the value and what it can mean."""

    __slots__ = ("family", "iso", "kind", "order", "pattern", "precision")

    def __init__(self, *, iso: bool, kind: str, order: str, family: str, precision: str, pattern: str):
        self.iso = iso
        self.kind = kind  # "date", "naive" or "aware"
        self.order = order  # "iso", "dmy", "mdy", "ymd", or "either" (DD/MM or MM/DD, both <= 12)
        self.family = family  # non-ISO: separator; candidates group values of one family + precision
        self.precision = precision  # "" (date), "M", "S", "F" (fraction)
        self.pattern = pattern  # strptime pattern; for "either" the day-first one


def _display(value: str) -> str:
    return value if len(value) <= DISPLAY_CHARS else value[:DISPLAY_CHARS] + "…"


def _long_key(value: str) -> str:
    # Bounded memory: a 10 MB field is counted by its start and a hash. The key is longer than
    # DISPLAY_CHARS, so _display shows only the start.
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return value[:DISPLAY_CHARS] + "#" + digest


def _hll_hash(key: str) -> int:
    # crc32 is fast but no good hash on its own (sequential numbers skew HyperLogLog by 30%); a
    # multiplication by the golden ratio spreads it well enough (within 2% on sequential, random,
    # UUID, date, decimal and e-mail values in testing). Inlined in _new_entry.
    # surrogatepass: text decoded with surrogateescape may hold lone surrogates.
    return (_crc32(key.encode("utf-8", "surrogatepass")) * 0x9E3779B1) & 0xFFFFFFFF


class ColumnProfiler:
    """Type inference and statistics for one column, fed one field at a time."""

    def __init__(self, *, null_markers=DEFAULT_NULL_MARKERS, max_conflicts: int = 5, top_k: int = 5):
        self.null_markers: tuple[str, ...] = tuple(null_markers)
        self.max_conflicts = max_conflicts
        self.top_k = top_k
        self.null_count = 0
        self._nulls = frozenset(self.null_markers)
        # Key -> [count, class]. Exact (every distinct value) until EXACT_DISTINCT_CAP, then a
        # Misra-Gries summary; it also caches each value's class so repeats are not re-parsed.
        self._entries: dict[str, list[int]] = {}
        self._capped = False
        self._key_chars = 0  # characters in the keys, while exact
        self._distinct_floor = 0
        self._registers: bytearray | None = None
        self._decremented = 0  # Misra-Gries: the most any kept count is below the truth
        self._pruned: list[int] = [0] * _FIXED_CLASSES  # per class: counts Misra-Gries subtracted
        self._examples: list[list[tuple[int, str]]] = [[] for _ in range(_FIXED_CLASSES)]
        self._want_examples: list[bool] = [max_conflicts > 0] * _FIXED_CLASSES
        # Per class: interpretation ("" or "dmy"/"mdy") -> [low key, low text, high key, high text].
        self._ranges: list[dict[str, list]] = [{} for _ in range(_FIXED_CLASSES)]
        self._number_bounds: list[list] = []  # the same lists, by class, for the integer fast path
        for cls in range(_FIXED_CLASSES):  # numbers compare with the infinities; dates get theirs when met
            self._number_bounds.append([math.inf, None, -math.inf, None])
            if cls in _NUMERIC_CLASSES:
                self._ranges[cls][""] = self._number_bounds[cls]
        self._layouts: dict[tuple, int] = {}  # layout key -> class id
        self._layout_of: dict[int, _Layout] = {}
        self._decimal_digits = 0  # decimals: most digits before the point (no leading zeros)
        self._scale = 0  # decimals: most digits after the point
        self._true_words: set[str] = set()
        self._false_words: set[str] = set()
        self._zero_one: set[str] = set()
        self._max_length = 0
        self._text_low: str | None = None  # keys, compared by code point; kept only once summarized
        self._text_high: str | None = None

    # -- streaming -------------------------------------------------------------------------
    # Called millions of times, so a value seen before costs a set test, a dict lookup and two
    # list operations: class counts are not kept here but summed from the entries when needed
    # (the Misra-Gries pruning keeps, per class, what it subtracts).
    def add(self, value: str, line: int) -> None:
        if value in self._nulls:
            self.null_count += 1
            return
        entry = self._entries.get(value)
        if entry is None:
            entry = self._new_entry(value)
        entry[0] += 1
        if self._want_examples[entry[1]]:
            self._example(entry[1], line, value)

    def add_many(self, values, lines) -> None:
        """add() for a batch of one column's values and their lines: the same result, faster
        (no method call per value on a full pass over millions of rows)."""
        nulls = self._nulls
        get = self._entries.get
        new_entry = self._new_entry
        want = self._want_examples
        null_count = 0
        for value, line in zip(values, lines, strict=True):
            if value in nulls:
                null_count += 1
                continue
            entry = get(value)
            if entry is None:
                entry = new_entry(value)
                get = self._entries.get  # pruning may have replaced the dict
            entry[0] += 1
            if want[entry[1]]:
                self._example(entry[1], line, value)
        self.null_count += null_count

    def _example(self, cls: int, line: int, value: str) -> None:
        examples = self._examples[cls]
        examples.append((line, _display(value)))
        if len(examples) >= self.max_conflicts:
            self._want_examples[cls] = False

    @property
    def rows(self) -> int:
        """Values seen, nulls included."""
        return self.null_count + sum(self._counts())

    @property
    def approximate(self) -> bool:
        """True once the column passed EXACT_DISTINCT_CAP distinct values (or EXACT_CHARS_CAP
        characters of them): distinct_estimate is then a HyperLogLog estimate and top_values counts
        are lower bounds."""
        return self._capped

    @property
    def top_values_error(self) -> int:
        """The most any top_values count can be below the true count (0 while exact)."""
        return self._decremented

    def _counts(self) -> list[int]:
        """Non-null values per class."""
        counts = list(self._pruned)
        for count, cls in self._entries.values():
            counts[cls] += count
        return counts

    def _new_entry(self, value: str) -> list[int]:
        length = len(value)
        if length > self._max_length:
            self._max_length = length
        if length <= 18 and value.isdigit() and value.isascii() and (length == 1 or value[0] != "0"):
            # The common case, inlined: a plain non-negative integer that fits in 64 bits.
            key = value
            number = int(value)
            if length == 1 and number < 2:
                cls = _ZERO_ONE
                self._zero_one.add(value)
            elif number < _SMALLINT:
                cls = _INT16
            elif number < _INTEGER:
                cls = _INT32
            else:
                cls = _INT64
            bounds = self._number_bounds[cls]
            if number < bounds[0]:
                bounds[0], bounds[1] = number, value
            if number > bounds[2]:
                bounds[2], bounds[3] = number, value
        else:
            key = value
            if length > DISPLAY_CHARS:
                key = _long_key(value)
                entry = self._entries.get(key)
                if entry is not None:
                    return entry
            cls = self._classify(value)
        if not self._capped:
            self._key_chars += len(key)
            if len(self._entries) >= EXACT_DISTINCT_CAP or self._key_chars > EXACT_CHARS_CAP:
                self._summarize()  # before the new entry goes in, so the pruning cannot drop it
        entries = self._entries
        if self._capped:
            if cls != _NUL:
                low = self._text_low
                if low is None:
                    self._text_low = self._text_high = key
                elif key < low:
                    self._text_low = key
                elif key > self._text_high:
                    self._text_high = key
            # HyperLogLog, inlined: this runs for most values of a high-cardinality column.
            try:
                h = (_crc32(key.encode()) * 0x9E3779B1) & 0xFFFFFFFF  # as _hll_hash
            except UnicodeEncodeError:
                h = _hll_hash(key)
            rank = 19 - (h & 0x3FFFF).bit_length()  # _HLL_REST + 1 - bit length of the rest
            registers = self._registers
            if rank > registers[h >> 18]:
                registers[h >> 18] = rank
            if len(entries) >= _PRUNE_AT:
                self._prune()
                entries = self._entries
        entry = entries[key] = [0, cls]
        return entry

    def _summarize(self) -> None:
        # Past the cap: distinct values go to HyperLogLog, counts to a Misra-Gries summary.
        self._capped = True
        self._distinct_floor = len(self._entries) + 1  # known exactly: these and the value coming in
        self._registers = bytearray(_HLL_REGISTERS)
        keys = [key for key, entry in self._entries.items() if entry[1] != _NUL]
        self._text_low, self._text_high = (min(keys), max(keys)) if keys else (None, None)
        for key in self._entries:
            self._hll_add(key)
        self._prune()

    def _prune(self) -> None:
        # Misra-Gries, in batches: subtract the (SUMMARY_SIZE+1)-th largest count from every counter
        # and drop those left at zero. At least SUMMARY_SIZE+1 counters lose that much each time, so
        # the total subtracted, the error of any count, stays <= values / (SUMMARY_SIZE + 1).
        # What is subtracted is kept per class, so class counts stay exact.
        counts = sorted((entry[0] for entry in self._entries.values()), reverse=True)
        if len(counts) <= SUMMARY_SIZE:
            return
        cut = counts[SUMMARY_SIZE]
        self._decremented += cut
        pruned = self._pruned
        kept = {}
        for key, entry in self._entries.items():
            count = entry[0]
            if count > cut:
                entry[0] = count - cut
                kept[key] = entry
                pruned[entry[1]] += cut
            else:
                pruned[entry[1]] += count
        self._entries = kept

    def _hll_add(self, key: str) -> None:
        h = _hll_hash(key)
        rank = _HLL_REST + 1 - (h & _HLL_REST_MASK).bit_length()
        index = h >> _HLL_REST
        if rank > self._registers[index]:
            self._registers[index] = rank

    def _hll_estimate(self) -> int:
        m = _HLL_REGISTERS
        registers = self._registers
        estimate = 0.7213 / (1 + 1.079 / m) * m * m / math.fsum(2.0**-r for r in registers)
        zeros = registers.count(0)
        if estimate <= 2.5 * m and zeros:
            estimate = m * math.log(m / zeros)  # linear counting, better for small counts
        return round(estimate)

    # -- classification (once per distinct value while exact) ------------------------------
    def _classify(self, value: str) -> int:
        """The class of a value (all but the plain integers _new_entry handles itself)."""
        if "\x00" in value:
            return _NUL
        text = value.strip()
        if not text:
            return _TEXT
        if text.isdigit():
            return self._integer(text, text) if text.isascii() else _TEXT
        first = text[0]
        # Only "-" may sign a number: "+4420..." is a phone number, and nothing else writes "+5".
        if first == "-":
            digits = text[1:]
            if digits.isdigit() and digits.isascii():
                return self._integer(text, digits)
        # A "." is the only decimal point, with no grouping: "1,234" is 1234 in one locale and
        # 1.234 in another, so it stays text rather than be guessed. No exponent either ("12E3").
        if "." in text:
            match = _DECIMAL_RE.fullmatch(text)
            if match:
                return self._decimal(text, match)
        if first in "0123456789" and len(text) >= 8:
            return self._date_time(text)
        if len(text) <= 5:
            word = text.lower()
            if word in _TRUE_WORDS:
                self._true_words.add(text)
                return _BOOL
            if word in _FALSE_WORDS:
                self._false_words.add(text)
                return _BOOL
        return _TEXT

    def _integer(self, text: str, digits: str) -> int:
        count = len(digits)
        if count > 1 and digits[0] == "0":
            return _PADDED  # a zero-padded code: text, and so is its column
        if count > MAX_NUMERIC_PRECISION:
            return _TEXT
        number = int(text)
        if text == "0" or text == "1":
            cls = _ZERO_ONE
            self._zero_one.add(text)
        elif -_SMALLINT <= number < _SMALLINT:
            cls = _INT16
        elif -_INTEGER <= number < _INTEGER:
            cls = _INT32
        elif -_BIGINT <= number < _BIGINT:
            cls = _INT64
        else:
            cls = _BIGNUM
        self._widen(cls, "", number, text)
        return cls

    def _decimal(self, text: str, match: re.Match) -> int:
        whole, fraction = match.group(1) or "", match.group(2)
        if not whole and not fraction:
            return _TEXT  # "." or "-."
        before = 0 if whole in ("", "0") else len(whole)
        if before + len(fraction) > MAX_NUMERIC_PRECISION:
            return _TEXT
        if before > self._decimal_digits:
            self._decimal_digits = before
        if len(fraction) > self._scale:
            self._scale = len(fraction)
        self._widen(_DECIMAL, "", Decimal(text), text)
        return _DECIMAL

    def _date_time(self, text: str) -> int:
        match = _ISO_RE.fullmatch(text)
        if match:
            return self._iso(text, match)
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
                return _TEXT
            order = "either" if len(moments) == 2 else next(iter(moments))
            return self._non_iso(separator, order, _precision(match.groups()[4:]), moments, text)
        match = _YMD_SLASH_RE.fullmatch(text)
        if match:
            moment = _moment(int(match.group(1)), int(match.group(2)), int(match.group(3)), match.groups()[3:])
            if moment is None:
                return _TEXT
            return self._non_iso("/", "ymd", _precision(match.groups()[3:]), {"ymd": moment}, text)
        return _TEXT

    def _iso(self, text: str, match: re.Match) -> int:
        try:
            # The load's own parser: what it reads here, it reads at load time.
            moment = datetime.fromisoformat(text)
        except ValueError:
            return _TEXT  # 2023-02-30, 25:00, +25:00 ...
        separator, seconds, fraction, offset = match.group(4, 7, 8, 9)
        if separator is None:
            kind, precision = "date", ""
        else:
            kind = "aware" if offset else "naive"
            precision = "F" if fraction else "S" if seconds else "M"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # as the load reads naive values for timestamptz
        key = ("iso", separator, precision, kind)
        cls = self._layouts.get(key)
        if cls is None:
            pattern = "%Y-%m-%d"
            if separator is not None:
                pattern += separator + _PRECISION_SUFFIX[precision] + ("%z" if offset else "")
            layout = _Layout(iso=True, kind=kind, order="iso", family="iso", precision=precision, pattern=pattern)
            cls = self._new_layout(key, layout)
        self._widen(cls, "", moment, text)
        return cls

    def _non_iso(self, separator: str, order: str, precision: str, moments: dict[str, datetime], text: str) -> int:
        key = (separator, order, precision)
        cls = self._layouts.get(key)
        if cls is None:
            family = "ymd" if order == "ymd" else separator
            pattern = _ORDER_PATTERN["dmy" if order == "either" else order].format(separator)
            if precision:
                pattern += " " + _PRECISION_SUFFIX[precision]
            kind = "naive" if precision else "date"
            layout = _Layout(iso=False, kind=kind, order=order, family=family, precision=precision, pattern=pattern)
            cls = self._new_layout(key, layout)
        for interpretation, moment in moments.items():
            self._widen(cls, interpretation, moment, text)
        return cls

    def _new_layout(self, key: tuple, layout: _Layout) -> int:
        cls = len(self._pruned)
        self._layouts[key] = cls
        self._layout_of[cls] = layout
        self._pruned.append(0)
        self._examples.append([])
        self._want_examples.append(self.max_conflicts > 0)
        self._ranges.append({})
        return cls

    def _widen(self, cls: int, interpretation: str, key, text: str) -> None:
        bounds = self._ranges[cls].get(interpretation)
        if bounds is None:
            self._ranges[cls][interpretation] = [key, text, key, text]
            return
        if key < bounds[0]:
            bounds[0], bounds[1] = key, text
        if key > bounds[2]:
            bounds[2], bounds[3] = key, text

    # -- result ----------------------------------------------------------------------------
    def result(self) -> ColumnProfile:
        counts = self._counts()
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
        for cls, examples in enumerate(self._examples):
            if cls not in fitting_classes:
                conflicts.extend(examples)
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

        if self._capped:
            distinct = max(self._hll_estimate(), self._distinct_floor)
        else:
            distinct = len(self._entries)
        ranked = sorted(self._entries.items(), key=lambda item: (-item[1][0], item[0]))
        top_values = [(_display(key), entry[0]) for key, entry in ranked[: self.top_k]]

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

        layouts = [(cls, layout) for cls, layout in self._layout_of.items() if counts[cls]]
        iso = [(cls, layout) for cls, layout in layouts if layout.iso]
        iso_dates = [(cls, layout) for cls, layout in iso if layout.kind == "date"]
        iso_naive = [(cls, layout) for cls, layout in iso if layout.kind != "aware"]
        non_iso_dates = [(cls, layout) for cls, layout in layouts if not layout.iso and not layout.precision]
        non_iso_times = [(cls, layout) for cls, layout in layouts if not layout.iso and layout.precision]
        if iso_dates:
            yield "date", "%Y-%m-%d", [(cls, "") for cls, _ in iso_dates]
        yield from self._non_iso_candidates("date", non_iso_dates)
        if len(iso_naive) > len(iso_dates):
            yield "timestamp", _common_pattern(counts, iso_naive, "naive"), [(cls, "") for cls, _ in iso_naive]
        yield from self._non_iso_candidates("timestamp", non_iso_times)
        if len(iso) > len(iso_naive):
            yield "timestamptz", _common_pattern(counts, iso, "aware"), [(cls, "") for cls, _ in iso]

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
        low, high = self._number_bounds[cls][0], self._number_bounds[cls][2]
        return max(len(str(abs(low))), len(str(abs(high))))  # integers: no leading zeros

    def _text_bounds(self) -> tuple[str | None, str | None]:
        if self._capped:
            low, high = self._text_low, self._text_high
            if low is None:
                return None, None  # every value had a NUL
        else:
            keys = [key for key, entry in self._entries.items() if entry[1] != _NUL]
            if not keys:
                return None, None
            low, high = min(keys), max(keys)
        return _display(low), _display(high)

    def _bounds(self, fitting) -> tuple[str | None, str | None]:
        low = high = None
        for cls, interpretation in fitting:
            bounds = self._ranges[cls].get(interpretation)
            if bounds is None or bounds[1] is None:
                continue
            if low is None or bounds[0] < low[0]:
                low = (bounds[0], bounds[1])
            if high is None or bounds[2] > high[0]:
                high = (bounds[2], bounds[3])
        return (low[1] if low else None), (high[1] if high else None)


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


def _common_pattern(counts: list[int], layouts, kind: str) -> str:
    # The most frequent layout of that kind; the first met on a tie.
    return max((counts[cls], -cls, layout.pattern) for cls, layout in layouts if layout.kind == kind)[2]


def _precision(time_groups) -> str:
    hour, _, second, fraction = time_groups[:4]
    if hour is None:
        return ""
    return "F" if fraction else "S" if second else "M"
