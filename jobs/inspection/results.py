"""Result types of file inspection, shared by every inspection module. Plain, JSON-friendly."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EncodingGuess:
    # A Python codec name, normalised: "utf-8", "utf-8-sig" (UTF-8 with BOM), "utf-16-le",
    # "utf-16-be" (a UTF-16 BOM was found; decoding starts after it), "cp1252", "latin-1", ...
    encoding: str
    confidence: float  # 0..1
    bom: bool  # the file starts with a byte order mark (never part of the first header)
    bom_length: int  # bytes to skip at the start of the file (0 without a BOM)
    evidence: str  # one sentence a user can read: why this encoding


@dataclass(frozen=True)
class DialectGuess:
    delimiter: str  # one of "," ";" "\t" "|" (or another single character)
    quotechar: str  # '"' or "'" ; "" when fields are never quoted
    doublequote: bool  # "" inside a quoted field stands for one quote
    escapechar: str  # "\\" when backslash escapes are used, else ""
    line_terminator: str  # "\n", "\r\n", "\r" or "mixed"
    confidence: float  # 0..1
    evidence: str
    # Spaces after a delimiter are skipped (csv's skipinitialspace): `1, "Smith, John"` is two fields.
    skipinitialspace: bool = False
    # The first line is Excel's "sep=X", which named the delimiter: readers skip it, and line
    # numbers still count it (the header is then on line 2).
    sep_line: bool = False
    # Fields opened and closed by quotechar in the sample. 0 with a quotechar: quoting is assumed,
    # not seen, so a quote found open later may be data rather than quoting.
    quoted_fields: int = 0


@dataclass(frozen=True)
class Record:
    line: int  # 1-based physical line on which the record starts
    offset: int  # byte offset in the file where the record starts (after any BOM for the first)
    fields: list[str]


@dataclass(frozen=True)
class Conflict:
    line: int
    value: str


@dataclass
class ColumnProfile:
    type_sql: str  # boolean, smallint, integer, bigint, numeric(p,s), date, timestamp, timestamptz, text
    format: str = ""  # for dates/timestamps: the strptime format chosen, e.g. "%d/%m/%Y"; else ""
    nullable: bool = True
    rows: int = 0  # values seen (including nulls)
    null_count: int = 0
    distinct_estimate: int = 0
    min: str | None = None  # as text, for ordered types (numbers, dates, timestamps, text)
    max: str | None = None
    max_length: int = 0  # in characters
    top_values: list[tuple[str, int]] = field(default_factory=list)  # most frequent non-null values
    conflicts: list[Conflict] = field(default_factory=list)  # first few values that break the type
    conflict_count: int = 0
    true_words: tuple[str, ...] = ()  # booleans: the spellings found for true/false
    false_words: tuple[str, ...] = ()

    @property
    def null_percent(self) -> float:
        return 100.0 * self.null_count / self.rows if self.rows else 0.0
