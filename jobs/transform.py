"""Column mappings compiled once into a function applied to every record.

Plain Python, no models: services turn ColumnMapping rows into ColumnSpec values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from jobs.coltypes import ColumnType, ConversionError, parse_type
from jobs.errors import SourceError

STRING_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "": lambda value: value,
    "upper": str.upper,
    "lower": str.lower,
    "trim": str.strip,
    "ltrim": str.lstrip,
    "rtrim": str.rstrip,
    "title": str.title,
}


@dataclass(frozen=True)
class ColumnSpec:
    destination_column: str
    destination_type: str = "text"
    source_column: str = ""
    transform: str = ""
    transform_args: dict = field(default_factory=dict)
    expression: str = ""
    default: str | None = None
    nullable: bool = True
    format: str = ""  # date/timestamp strptime format; "" reads ISO 8601
    true_words: tuple[str, ...] = ()  # booleans; () uses the defaults
    false_words: tuple[str, ...] = ()

    @property
    def column_type(self) -> ColumnType:
        return parse_type(self.destination_type)


def validate_columns(columns: Iterable[ColumnSpec]) -> list[str]:
    """Problems with the mappings themselves, each as a sentence naming the column."""
    problems = []
    seen: set[str] = set()
    columns_seen = False
    for spec in columns:
        columns_seen = True
        name = spec.destination_column
        if not name:
            problems.append("a mapping has no destination column name")
            continue
        if len(name.encode()) > 63:
            problems.append(f"destination column {name!r} is longer than PostgreSQL's 63-byte limit")
        if name in seen:
            problems.append(f"destination column {name!r} is mapped twice")
        seen.add(name)
        try:
            column_type = spec.column_type
        except ValueError as exc:
            problems.append(f"column {name!r}: {exc}")
            continue
        if spec.transform not in STRING_TRANSFORMS:
            problems.append(f"column {name!r}: unknown transform {spec.transform!r}")
        if spec.expression:
            # Calculated columns come with the load engine's expression language (issue #4).
            problems.append(f"column {name!r}: calculated columns (expressions) are not supported yet")
        elif not spec.source_column:
            problems.append(f"column {name!r} needs a source column")
        if spec.default not in (None, ""):
            try:
                column_type.converter()(spec.default)
            except ConversionError as exc:
                problems.append(f"column {name!r}: default {spec.default!r} {exc}")
    if not columns_seen:
        problems.append("there are no column mappings")
    return problems


class MappingError(ValueError):
    """The mappings themselves are invalid (not a problem of the file)."""


RowFunction = Callable[[int, list[str]], tuple]


def compile_transform(
    header: list[str],
    columns: list[ColumnSpec],
    *,
    aliases: list[str] | None = None,
    null_markers: Iterable[str] = ("",),
) -> RowFunction:
    """Return f(line, fields) -> tuple of destination values, raising SourceError for a bad value.

    A mapping's source column is a header name, or its normalised alias (e.g. "order_id"
    for "Order ID"). A field equal to one of `null_markers` (or empty after the string
    transform) is empty: the mapping's default, else NULL.
    """
    problems = validate_columns(columns)
    if problems:
        raise MappingError("; ".join(problems))
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    for index, name in enumerate(aliases or []):
        positions.setdefault(name, index)
    nulls = frozenset(null_markers) | {""}
    missing = list(dict.fromkeys(spec.source_column for spec in columns if spec.source_column not in positions))
    if missing:
        raise SourceError(
            f"mapped source column(s) {', '.join(repr(m) for m in missing)} not found in the header "
            f"({', '.join(header)})",
            line=1,
        )

    steps = []
    for spec in columns:
        convert = spec.column_type.converter()
        default = None if spec.default in (None, "") else convert(spec.default)
        steps.append(
            (positions[spec.source_column], STRING_TRANSFORMS[spec.transform], convert, default, spec.nullable, spec)
        )

    def transform(line: int, fields: list[str]) -> tuple:
        out = []
        for index, string_transform, convert, default, nullable, spec in steps:
            raw = fields[index]
            text = "" if raw in nulls else string_transform(raw)
            if text == "":  # a null marker, empty, or only blanks that a trim removed: the default, else NULL
                value = default
            else:
                try:
                    value = convert(text)
                except ConversionError as exc:
                    raise SourceError(str(exc), line=line, column=spec.source_column, value=raw) from None
            if value is None and not nullable:
                raise SourceError(
                    f"is empty but {spec.destination_column!r} is NOT NULL and has no default",
                    line=line,
                    column=spec.source_column,
                )
            out.append(value)
        return tuple(out)

    return transform


def transformed(records: Iterable[tuple[int, list[str]]], transform: RowFunction) -> Iterator[tuple[int, tuple]]:
    for line, fields in records:
        yield line, transform(line, fields)
