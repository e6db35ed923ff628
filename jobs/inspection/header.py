"""The first row of a CSV file: is it a header, and which SQL column names does it give.

`detect_header` compares the first row with the rows below it, column by column: a word
above a column of numbers, dates or booleans is a column name; a number above numbers is
data. Where the columns below are all text the evidence is weak, and a first row of
distinct, non-empty words is taken for a header (most real files have one).

`normalize_names` turns the names, as written, into PostgreSQL identifiers that need no
quoting. The original names are kept by the caller for display and mapping.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# Rows below the first that are looked at: enough to know a column's type.
_SAMPLE_ROWS = 200
# Share of a column's non-null values that must have one type for the column to have it.
_TYPED_SHARE = 0.8

_NULL_MARKERS = frozenset({"na", "n/a", "null", "none", "nan", "-", "--", "?"})
_BOOLEANS = frozenset({"true", "false", "yes", "no"})
_NUMBER = re.compile(
    r"[+-]?[$€£¥]?\s?(?:\d+|\d{1,3}(?:[,.' ]\d{3})+)(?:[.,]\d+)?(?:[eE][+-]?\d+)?\s?%?|[+-]?[.,]\d+(?:[eE][+-]?\d+)?"
)
_DATE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s?(?:Z|[+-]\d{2}:?\d{2}|[AaPp][Mm])?"
    r"|\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
)
_YEAR = re.compile(r"(?:18|19|20|21)\d\d")
_TYPED = ("number", "date", "boolean")


def detect_header(rows: list[list[str]]) -> bool:
    """Whether the first of these rows (the start of a file, already parsed) is a header.

    Each column votes: a text value above a column of numbers, dates or booleans is a name
    (+2); a value of the same type as the column below is data (-1), except a year above
    numbers that are not years (+1, a pivoted table); above a text column, a value that
    repeats below is data (-1), and a value of another shape than values that all share one
    shape (codes such as "US", "FR") is a name (+1). Null markers (NA, null, -, ...) and
    blank names do not vote. Without a decisive vote the first row is a header when its
    values are all non-empty, distinct and untyped text.
    """
    rows = [row for row in rows if any(value.strip() for value in row)]
    if not rows:
        return False
    first, below = rows[0], rows[1 : _SAMPLE_ROWS + 1]
    score = 0
    for index, value in enumerate(first):
        column = [row[index].strip() for row in below if index < len(row)]
        score += _vote(value.strip(), [v for v in column if _kind(v) != "null"])
    if score:
        return score > 0
    return _looks_like_names(first)


def _vote(value: str, column: list[str]) -> int:
    kind = _kind(value)
    if kind == "null" or not column:
        return 0
    kinds = Counter(_kind(v) for v in column)
    column_kind, count = kinds.most_common(1)[0]
    if count < _TYPED_SHARE * len(column):
        return 0  # a column of mixed values says nothing about the value above it
    if column_kind in _TYPED:
        if kind == column_kind == "number" and _YEAR.fullmatch(value):
            # Years over other numbers head a pivoted table ("region,2023,2024"); over years they are data.
            return -1 if sum(1 for v in column if _YEAR.fullmatch(v)) >= len(column) / 2 else 1
        if kind == column_kind:
            return -1
        return 2 if kind == "text" else 1
    # A text column.
    if kind != "text":
        return -1
    if value in column:
        return -1
    shapes = {_shape(v) for v in column}
    if len(column) >= 3 and len(shapes) == 1 and _shape(value) not in shapes:
        return 1
    return 0


def _looks_like_names(row: list[str]) -> bool:
    values = [value.strip() for value in row]
    if not all(values):
        return False
    if len({value.casefold() for value in values}) < len(values):
        return False
    return all(_kind(value) == "text" for value in values)


def _kind(value: str) -> str:
    folded = value.casefold()
    if not value or folded in _NULL_MARKERS:
        return "null"
    if folded in _BOOLEANS:
        return "boolean"
    if _NUMBER.fullmatch(value):
        return "number"
    if _DATE.fullmatch(value):
        return "date"
    return "text"


def _shape(value: str) -> str:
    """Character classes with repeats collapsed: "AB-12" -> "A-9", "Paris" -> "Aa"."""
    classes = []
    for char in value:
        if char.isdigit():
            cls = "9"
        elif char.isupper():
            cls = "A"
        elif char.isalpha():
            cls = "a"
        else:
            cls = char
        if not classes or classes[-1] != cls:
            classes.append(cls)
    return "".join(classes)


# -- SQL names -----------------------------------------------------------------------------

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL truncates longer identifiers (NAMEDATALEN - 1)

# PostgreSQL's reserved key words, which cannot name a column without quotes: categories "R"
# and "T" of pg_get_keywords() on PostgreSQL 15, plus system_user (reserved since 16).
_RESERVED_WORDS = """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left
    like limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with
"""
POSTGRES_RESERVED = frozenset(_RESERVED_WORDS.split())

# Latin letters NFKD does not decompose into a base letter and a mark, and Cyrillic (the
# most common non-Latin script in the files of legacy encodings), transliterated simply.
_LETTERS = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ħ": "h", "ı": "i", "ŋ": "n"}
    | dict(zip("абвгдеёзийклмнопрстуфыэіґў", "abvgdeeziyklmnoprstufyeigu", strict=True))
    | {"ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ь": ""}
    | {"ю": "yu", "я": "ya", "ї": "yi", "є": "ye"}
)
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9]+")


def normalize_names(names: list[str]) -> list[str]:
    """Safe, unique, lower-case PostgreSQL column names for these header names, in order.

    - accents are dropped (é -> e, ß -> ss, æ -> ae) and Cyrillic is transliterated
      (имя -> imya); any other character that is not an ASCII letter or digit becomes "_",
      runs of "_" collapse to one, and "_" is trimmed from both ends (so names in other
      scripts, Greek or Chinese, and symbol-only names end up blank);
    - a name starting with a digit gets the prefix "c_" ("2024" -> "c_2024");
    - a blank name becomes column_<position>, counting from 1;
    - a reserved word gets a trailing "_" ("select" -> "select_", "user" -> "user_");
    - names are cut to 63 bytes;
    - a repeated name gets "_2", "_3", ... skipping any name used elsewhere in the header,
      and names written out in the header keep priority over generated ones.
    """
    bases = [_base(name) for name in names]
    explicit = {_final(base) for base in bases if base}
    taken: set[str] = set()
    result = []
    for position, base in enumerate(bases, start=1):
        if base and _final(base) not in taken:
            name = _final(base)
        else:
            name = _unique(base or f"column_{position}", taken | explicit)
        taken.add(name)
        result.append(name)
    return result


def _base(name: str) -> str:
    text = name.strip().casefold().translate(_LETTERS)  # before NFKD, which would turn й into и
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = _NOT_IDENTIFIER.sub("_", text).strip("_")
    if text[:1].isdigit():
        text = f"c_{text}"
    return _cut(text)


def _final(base: str) -> str:
    return f"{base}_" if base in POSTGRES_RESERVED else base


def _unique(base: str, used: set[str]) -> str:
    name = _final(base)
    number = 1
    while name in used:
        number += 1
        suffix = f"_{number}"
        name = _cut(base, len(suffix)) + suffix
    return name


def _cut(text: str, room: int = 0) -> str:
    # Only ASCII is left, so characters are bytes.
    return text[: MAX_IDENTIFIER_BYTES - room].rstrip("_")
