"""Column mappings compiled once into a function applied to every record.

Plain Python, no models: services turn ColumnMapping rows into ColumnSpec values.

A mapping either reads a source column (an optional string transform, then the conversion
to the destination type) or calculates its value with an expression (jobs.expressions).
Everything that can be decided once is decided in compile_transform; the function it
returns is the load's hot loop and does only per-value work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import call, itemgetter
from re import _constants as sre_constants  # the regex parser's tree, for the backtracking check
from re import _parser as sre_parser

from jobs.coltypes import (
    ColumnType,
    ConversionError,
    copy_converter,
    copy_renderer,
    copy_text,
    display_text,
    parse_type,
)
from jobs.errors import SourceError
from jobs.expressions import CompiledExpression, ExpressionError, compile_expression, shown_value

TRANSFORMS = (
    "",
    "upper",
    "lower",
    "trim",
    "ltrim",
    "rtrim",
    "title",
    "replace",
    "substring",
    "regex_extract",
    "nullif_empty",
)
_SIMPLE_TRANSFORMS: dict[str, Callable[[str], str] | None] = {
    "": None,  # no transform: the hot loop skips the call
    "upper": str.upper,
    "lower": str.lower,
    "trim": str.strip,
    "ltrim": str.lstrip,
    "rtrim": str.rstrip,
    "title": str.title,
}
# name: (required arguments, optional arguments)
_TRANSFORM_ARGUMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "replace": (("from", "to"), ()),
    "substring": (("start",), ("length",)),
    "regex_extract": (("pattern",), ("group",)),
    "nullif_empty": ((), ()),
}
MAX_PATTERN_LENGTH = 200


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

    @property
    def is_calculated(self) -> bool:
        return bool(self.expression.strip())

    def converter(self) -> Callable[[str], object]:
        """Text -> value for the destination type with this mapping's format and boolean words."""
        return self.column_type.converter(format=self.format, true_words=self.true_words, false_words=self.false_words)

    def copy_converter(self, nulls: Iterable[str] = (), empty: str = "\\N") -> Callable[[str], str]:
        """Text -> its field in COPY's text format: what converter()'s value would be sent as.

        A text in `nulls` gives `empty` (NULL, or the default's field).
        """
        return copy_converter(
            self.column_type,
            format=self.format,
            true_words=self.true_words,
            false_words=self.false_words,
            nulls=nulls,
            empty=empty,
        )


# -- string transforms -----------------------------------------------------------------------
def string_transform(name: str, args: Mapping | None = None) -> Callable[[str], str] | None:
    """The text -> text function of a transform (None for no transform).

    Raises ValueError, one sentence, for an unknown transform or arguments that do not fit.
    A result of "" (nullif_empty on blanks, regex_extract without a match) makes the value
    empty: the mapping's default, else NULL.
    """
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}")
    args = {} if args is None else args
    if not isinstance(args, Mapping):
        raise ValueError(f"the arguments of {name or 'a mapping without transform'} must be an object, not {args!r}")
    if name in _SIMPLE_TRANSFORMS:
        if args:
            what = f"{name} takes" if name else "a mapping without transform takes"
            raise ValueError(f"{what} no arguments, not {', '.join(repr(key) for key in args)}")
        return _SIMPLE_TRANSFORMS[name]
    required, optional = _TRANSFORM_ARGUMENTS[name]
    unknown = [key for key in args if key not in required + optional]
    if unknown:
        allowed = ", ".join(repr(key) for key in required + optional) or "none"
        raise ValueError(f"{name} does not take {', '.join(repr(k) for k in unknown)} (its arguments: {allowed})")
    missing = [key for key in required if key not in args]
    if missing:
        raise ValueError(f"{name} needs the argument(s) {', '.join(repr(key) for key in missing)}")
    return _ARGUMENT_TRANSFORMS[name](args)


def _replace(args: Mapping) -> Callable[[str], str]:
    old, new = args["from"], args["to"]
    if not isinstance(old, str) or not old:
        raise ValueError(f"replace's 'from' must be non-empty text, not {old!r}")
    if not isinstance(new, str):
        raise ValueError(f"replace's 'to' must be text (possibly empty), not {new!r}")
    return lambda value: value.replace(old, new)


def _whole_argument(name: str, key: str, value: object, least: int) -> int:
    if type(value) is not int or value < least:
        raise ValueError(f"{name}'s {key!r} must be a whole number of at least {least}, not {value!r}")
    return value


def _substring(args: Mapping) -> Callable[[str], str]:
    begin = _whole_argument("substring", "start", args["start"], 1) - 1  # 1-based, as in SQL
    if args.get("length") is None:
        return lambda value: value[begin:]
    end = begin + _whole_argument("substring", "length", args["length"], 0)
    return lambda value: value[begin:end]


def _regex_extract(args: Mapping) -> Callable[[str], str]:
    pattern = args["pattern"]
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"regex_extract's 'pattern' must be a non-empty regular expression, not {pattern!r}")
    compiled = safe_regex(pattern)
    group = args.get("group")
    if group is None:
        group = 1 if compiled.groups else 0  # the first group when there is one, else the whole match
    elif type(group) is not int or not 0 <= group <= compiled.groups:
        raise ValueError(
            f"regex_extract's 'group' must be a whole number from 0 to {compiled.groups} "
            f"(the pattern has {compiled.groups} group(s)), not {group!r}"
        )
    search = compiled.search

    def extract(value: str) -> str:
        match = search(value)
        return (match.group(group) or "") if match else ""  # a group that took no part is empty

    return extract


def _nullif_empty(args: Mapping) -> Callable[[str], str]:
    return lambda value: value if value.strip() else ""


_ARGUMENT_TRANSFORMS: dict[str, Callable[[Mapping], Callable[[str], str]]] = {
    "replace": _replace,
    "substring": _substring,
    "regex_extract": _regex_extract,
    "nullif_empty": _nullif_empty,
}
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)


def safe_regex(pattern: str) -> re.Pattern:
    """Compile a user's pattern, refusing what could make one value take minutes to search.

    Python's re backtracks and has no time limit, so `(a+)+$` on forty a's and a b takes
    longer than a load should. Rather than run searches under a timer (no way to stop a
    running search in a thread), the pattern's structure is checked once, when compiling:

    - at most MAX_PATTERN_LENGTH (200) characters;
    - no variable repeat inside another repeat: `(a+)+`, `(a*)*`, `(\\w+\\s?)*`, the shapes
      that backtrack exponentially (fixed counts such as `(\\d{3}-)+` are fine);
    - an alternation inside a repeat only between plain texts none of which starts another
      (`(foo|bar)+`, not `(a|aa)+` or `(\\d|x)+`: write `[\\dx]+`);
    - no backreferences (`\\1`, `(?(1)...)`), which make matching NP-hard.

    What remains is at worst polynomial in the length of the value (e.g. several `.*` in a
    row), which the length of a CSV field keeps in check.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"regex_extract's pattern is {len(pattern)} characters long, more than the {MAX_PATTERN_LENGTH} allowed"
        )
    try:
        compiled = re.compile(pattern)
        tree = sre_parser.parse(pattern)
    except re.error as exc:
        raise ValueError(f"regex_extract's pattern {pattern!r} is not a valid regular expression: {exc}") from None
    problem = _backtracking_problem(tree, inside_repeat=False)
    if problem:
        raise ValueError(f"regex_extract's pattern {pattern!r} {problem}")
    return compiled


def _backtracking_problem(items, *, inside_repeat: bool) -> str:
    for op, av in items:
        if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return "uses a backreference, which can make matching very slow"
        if op in _REPEATS:
            low, high, body = av
            variable = high > 1 and low != high
            if variable and inside_repeat:
                return "repeats a repeat (like (a+)+), which can make matching take forever; use a single repeat"
            problem = _backtracking_problem(body, inside_repeat=inside_repeat or high > 1)
        elif op is sre_constants.SUBPATTERN:
            problem = _backtracking_problem(av[3], inside_repeat=inside_repeat)
        elif op is sre_constants.BRANCH:
            branches = av[1]
            if inside_repeat and not _plain_distinct_texts(branches):
                return (
                    "repeats alternatives that can match the same text (like (a|aa)+), which can make matching "
                    "take forever; use a character class such as [ab]+ or plain words"
                )
            problem = next((p for b in branches if (p := _backtracking_problem(b, inside_repeat=inside_repeat))), "")
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            problem = _backtracking_problem(av[1], inside_repeat=inside_repeat)
        elif op is sre_constants.ATOMIC_GROUP:
            problem = _backtracking_problem(av, inside_repeat=inside_repeat)
        else:
            problem = ""
        if problem:
            return problem
    return ""


def _plain_distinct_texts(branches) -> bool:
    texts = []
    for branch in branches:
        if not branch or any(op is not sre_constants.LITERAL for op, _ in branch):
            return False
        texts.append("".join(chr(code) for _, code in branch))
    return not any(a != b and b.startswith(a) for a in texts for b in texts) and len(set(texts)) == len(texts)


# -- validation ------------------------------------------------------------------------------
def validate_columns(columns: Iterable[ColumnSpec], *, source_names: Iterable[str] | None = None) -> list[str]:
    """Problems with the mappings themselves, each as a sentence naming the column.

    With `source_names` (the file's header names and aliases) an expression's names are
    checked too; without, only its syntax and what it uses.
    """
    columns = list(columns)
    if not columns:
        return ["there are no column mappings"]
    problems = []
    seen: set[str] = set()
    plain_destinations = [spec.destination_column for spec in columns if not spec.is_calculated]
    sources = None if source_names is None else list(source_names)
    calculated_before: list[str] = []
    for spec in columns:
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
            parse_type(spec.destination_type)
        except ValueError as exc:
            problems.append(f"column {name!r}: {exc}")
            continue
        if spec.is_calculated:
            if spec.source_column:
                problems.append(f"column {name!r} has both a source column and an expression; keep one")
            if spec.transform or spec.transform_args:
                problems.append(
                    f"column {name!r}: a transform applies to a source column; "
                    "use the functions in the expression instead (upper(), trim(), replace(), ...)"
                )
            names = None if sources is None else [*plain_destinations, *calculated_before, *sources]
            try:
                compile_expression(spec.expression, names)
            except ExpressionError as exc:
                problems.append(f"column {name!r}: {exc}")
            calculated_before.append(name)
        else:
            if not spec.source_column:
                problems.append(f"column {name!r} needs a source column")
            try:
                string_transform(spec.transform, spec.transform_args)
            except ValueError as exc:
                problems.append(f"column {name!r}: {exc}")
        try:
            convert = spec.converter()
        except ValueError as exc:
            problems.append(f"column {name!r}: {exc}")
            continue
        if spec.default not in (None, ""):
            try:
                convert(spec.default)
            except ConversionError as exc:
                problems.append(f"column {name!r}: default {spec.default!r} {exc}")
    return problems


class MappingError(ValueError):
    """The mappings themselves are invalid (not a problem of the file)."""


# -- the compiled row function ---------------------------------------------------------------
RowFunction = Callable[[int, list[str]], tuple]


class _Reject(Exception):
    """A bad value inside the row function; becomes a SourceError with the line."""

    def __init__(self, reason: str, column: str, value: str):
        self.reason = reason
        self.column = column
        self.value = value


def _source_cell(
    spec: ColumnSpec,
    convert: Callable[[str], object],
    default: object,
    nulls: frozenset[str],
    empty: object = None,
) -> Callable[[str], object]:
    """raw field -> destination value, specialised so the common cases do the least work.

    An empty field gives `default` or, when given, `empty` (the default's COPY text).
    """
    empty = default if empty is None else empty
    column = spec.source_column
    text_transform = string_transform(spec.transform, spec.transform_args)
    not_null = f"is empty but {spec.destination_column!r} is NOT NULL and has no default"
    empty_is_an_error = default is None and not spec.nullable

    if text_transform is None and not empty_is_an_error:

        def cell(raw: str) -> object:
            if raw in nulls:
                return empty
            try:
                return convert(raw)
            except ConversionError as exc:
                raise _Reject(str(exc), column, raw) from None

    elif text_transform is None:

        def cell(raw: str) -> object:
            if raw in nulls:
                raise _Reject(not_null, column, "")
            try:
                return convert(raw)
            except ConversionError as exc:
                raise _Reject(str(exc), column, raw) from None

    else:
        # A null marker, or what the transform leaves empty ("  " trimmed, no regex match): the default, else NULL.
        def cell(raw: str) -> object:
            if raw in nulls or not (text := text_transform(raw)):
                if empty_is_an_error:
                    raise _Reject(not_null, column, "")
                return empty
            try:
                return convert(text)
            except ConversionError as exc:
                raise _Reject(str(exc), column, raw) from None

    return cell


def _calculated_cell(
    spec: ColumnSpec, expression: CompiledExpression, default: object
) -> Callable[[dict[str, object]], object]:
    """names -> destination value; also binds the value to its name for later expressions."""
    destination = spec.destination_column
    convert = spec.column_type.value_converter(
        format=spec.format, true_words=spec.true_words, false_words=spec.false_words
    )
    evaluate = expression.evaluate
    nullable = spec.nullable

    def inputs(names: dict[str, object]) -> str:
        return ", ".join(f"{name}={shown_value(names.get(name))}" for name in expression.names)

    def cell(names: dict[str, object]) -> object:
        try:
            result = evaluate(names)
        except ExpressionError as exc:
            raise _Reject(f"cannot calculate: {exc}", destination, inputs(names)) from None
        if result is None or (type(result) is str and not result):  # as an empty field: the default, else NULL
            value = default
        else:
            try:
                value = convert(result)
            except ConversionError as exc:
                raise _Reject(f"the result {exc}", destination, display_text(result)) from None
        if value is None and not nullable:
            raise _Reject(
                f"the expression gave NULL but {destination!r} is NOT NULL and has no default",
                destination,
                inputs(names),
            )
        names[destination] = value
        return value

    return cell


def _picker(indexes: list[int]) -> Callable[[list[str]], tuple]:
    if len(indexes) == 1:
        index = indexes[0]
        return lambda fields: (fields[index],)
    if not indexes:
        return lambda fields: ()
    return itemgetter(*indexes)


def compile_transform(
    header: list[str],
    columns: list[ColumnSpec],
    *,
    aliases: list[str] | None = None,
    null_markers: Iterable[str] = ("",),
    output: str = "values",
) -> RowFunction:
    """Return f(line, fields) -> tuple of destination values, raising SourceError for a bad value.

    A mapping's source column is a header name, or its normalised alias (e.g. "order_id"
    for "Order ID"). A field equal to one of `null_markers` (or empty after the string
    transform) is empty: the mapping's default, else NULL. Calculated columns are computed
    after the others, in mapping order, from the converted values of the source-column
    mappings (by destination name), the earlier calculated columns, and the raw fields (by
    header name or alias; None for a null marker).

    With output="copy_text" the function returns the row as one line of PostgreSQL's COPY
    text format instead (no newline; LoadPlan.row_format="copy_text"): the same SourceErrors
    for the same fields, and text from which the server stores what copy.write_row of the
    values would store, but most fields are checked and sent as text without a Python value.
    """
    if output not in ("values", "copy_text"):
        raise ValueError(f"output must be 'values' or 'copy_text', not {output!r}")
    columns = list(columns)
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    for index, name in enumerate(aliases or []):
        positions.setdefault(name, index)
    problems = validate_columns(columns, source_names=positions)
    if problems:
        raise MappingError("; ".join(problems))
    nulls = frozenset(null_markers) | {""}
    missing = list(
        dict.fromkeys(
            spec.source_column for spec in columns if not spec.is_calculated and spec.source_column not in positions
        )
    )
    if missing:
        raise SourceError(
            f"mapped source column(s) {', '.join(repr(m) for m in missing)} not found in the header "
            f"({', '.join(header)})",
            line=1,
        )

    plain = [spec for spec in columns if not spec.is_calculated]
    calculated = [spec for spec in columns if spec.is_calculated]
    values_mode = _compile_values(columns, plain, calculated, positions, nulls)
    if output == "copy_text":
        return _compile_copy_text(columns, plain, calculated, positions, nulls, values_mode)
    return values_mode


def _compile_values(
    columns: list[ColumnSpec],
    plain: list[ColumnSpec],
    calculated: list[ColumnSpec],
    positions: dict[str, int],
    nulls: frozenset[str],
) -> RowFunction:
    read = _picker([positions[spec.source_column] for spec in plain])
    cells = []
    for spec in plain:
        convert = spec.converter()
        default = None if spec.default in (None, "") else convert(spec.default)
        cells.append(_source_cell(spec, convert, default, nulls))
    cells = tuple(cells)

    if not calculated:

        def transform(line: int, fields: list[str]) -> tuple:
            try:
                return tuple(map(call, cells, read(fields)))
            except _Reject as reject:
                raise SourceError(reject.reason, line=line, column=reject.column, value=reject.value) from None

        return transform

    plain_names = [spec.destination_column for spec in plain]
    computes, needed = _calculation(plain, calculated, positions)
    # The names the expressions read, bound once per row: destination values win over raw fields.
    from_values = tuple((name, plain_names.index(name)) for name in needed if name in plain_names)
    from_fields = tuple((name, positions[name]) for name in needed if name not in plain_names and name in positions)
    produced = [*plain, *calculated]
    order = [produced.index(spec) for spec in columns]
    in_order = order == list(range(len(columns)))

    def transform_with_expressions(line: int, fields: list[str]) -> tuple:
        try:
            values = list(map(call, cells, read(fields)))
            names = {name: values[index] for name, index in from_values}
            for name, index in from_fields:
                raw = fields[index]
                names[name] = None if raw in nulls else raw
            for compute in computes:
                values.append(compute(names))
        except _Reject as reject:
            raise SourceError(reject.reason, line=line, column=reject.column, value=reject.value) from None
        return tuple(values) if in_order else tuple([values[index] for index in order])

    return transform_with_expressions


def _calculation(
    plain: list[ColumnSpec], calculated: list[ColumnSpec], positions: dict[str, int]
) -> tuple[tuple, dict[str, None]]:
    """The calculated columns' cells, in order, and the names their expressions read."""
    plain_names = [spec.destination_column for spec in plain]
    computes = []
    needed: dict[str, None] = {}
    for number, spec in enumerate(calculated):
        earlier = [other.destination_column for other in calculated[:number]]
        expression = compile_expression(spec.expression, [*plain_names, *earlier, *positions])
        needed.update(dict.fromkeys(expression.names))
        convert = spec.converter()
        default = None if spec.default in (None, "") else convert(spec.default)
        computes.append(_calculated_cell(spec, expression, default))
    return tuple(computes), needed


def _compile_copy_text(
    columns: list[ColumnSpec],
    plain: list[ColumnSpec],
    calculated: list[ColumnSpec],
    positions: dict[str, int],
    nulls: frozenset[str],
    values_mode: RowFunction,
) -> Callable[[int, list[str]], str]:
    """compile_transform(output="copy_text"): f(line, fields) -> one line of COPY text.

    A source column no expression reads goes straight from its text to its COPY field
    (ColumnType.copy_converter); one an expression reads is converted to its value, as in the
    values mode, and rendered after the expressions. Calculated columns are computed from
    values as in the values mode and rendered. A row with a bad value is handed to the values
    mode, so that the SourceError is its own (the first bad column in its order).
    """
    computes, needed = _calculation(plain, calculated, positions)
    plain_names = [spec.destination_column for spec in plain]
    by_value = [spec for spec in plain if spec.destination_column in needed]  # read by an expression
    by_text = [spec for spec in plain if spec.destination_column not in needed]
    text_cells = []
    for spec in by_text:
        convert = spec.converter()
        default = None if spec.default in (None, "") else convert(spec.default)
        if not spec.transform and (default is not None or spec.nullable):
            # One call per field: the null markers are checked inside (bad values raise ConversionError).
            text_cells.append(spec.copy_converter(nulls, copy_text(default)))
        else:
            text_cells.append(_source_cell(spec, spec.copy_converter(), default, nulls, copy_text(default)))
    text_cells = tuple(text_cells)
    read_texts = _picker([positions[spec.source_column] for spec in by_text])
    join = "\t".join

    def rejected(reject: Exception, line: int, fields: list[str]) -> SourceError:
        values_mode(line, fields)  # raises the SourceError the values mode raises for this row
        return SourceError(str(getattr(reject, "reason", reject)), line=line)  # not reached: it rejects the same

    if not calculated:

        def copy_line(line: int, fields: list[str]) -> str:
            try:
                return join(map(call, text_cells, read_texts(fields)))
            except (_Reject, ConversionError) as reject:
                raise rejected(reject, line, fields) from None

        return copy_line

    value_cells = []
    for spec in by_value:
        convert = spec.converter()
        default = None if spec.default in (None, "") else convert(spec.default)
        value_cells.append(_source_cell(spec, convert, default, nulls))
    value_cells = tuple(value_cells)
    read_values = _picker([positions[spec.source_column] for spec in by_value])
    value_names = tuple(spec.destination_column for spec in by_value)
    from_fields = tuple((name, positions[name]) for name in needed if name not in plain_names and name in positions)
    renders = tuple(copy_renderer(spec.column_type) for spec in [*by_value, *calculated])
    produced = [*by_text, *by_value, *calculated]
    arrange = _picker([produced.index(spec) for spec in columns])

    def copy_line_with_expressions(line: int, fields: list[str]) -> str:
        try:
            texts = list(map(call, text_cells, read_texts(fields)))
            values = list(map(call, value_cells, read_values(fields)))
            names = dict(zip(value_names, values, strict=True))
            for name, index in from_fields:
                raw = fields[index]
                names[name] = None if raw in nulls else raw
            for compute in computes:
                values.append(compute(names))
        except (_Reject, ConversionError) as reject:
            raise rejected(reject, line, fields) from None
        texts += map(call, renders, values)
        return join(arrange(texts))

    return copy_line_with_expressions


def transformed(records: Iterable[tuple[int, list[str]]], transform: RowFunction) -> Iterator[tuple[int, tuple]]:
    for line, fields in records:
        yield line, transform(line, fields)


def preview_transform(
    header: list[str],
    columns: list[ColumnSpec],
    *,
    aliases: list[str] | None = None,
    null_markers: Iterable[str] = ("",),
    rows: Iterable[tuple[int, list[str]]],
) -> list[dict]:
    """Try the mappings on a few rows: per row its values as display text, or why it is rejected.

    Each item is {"line": n, "values": {destination column: text or None}} or
    {"line": n, "error": "line n, column 'x': reason (value ...)", "column": ..., "value": ...};
    a rejected row does not stop the others. Raises MappingError or SourceError (line 1) as
    compile_transform does when the mappings cannot run at all.
    """
    transform = compile_transform(header, columns, aliases=aliases, null_markers=null_markers)
    destinations = [spec.destination_column for spec in columns]
    results = []
    for line, fields in rows:
        if len(fields) != len(header):  # as the load: a ragged row is rejected, not loaded
            error = SourceError(f"expected {len(header)} fields as in the header, found {len(fields)}", line=line)
            results.append({"line": line, "error": error.describe(), "column": "", "value": ""})
            continue
        try:
            values = transform(line, fields)
        except SourceError as exc:
            results.append({"line": line, "error": exc.describe(), "column": exc.column, "value": exc.value})
            continue
        results.append(
            {
                "line": line,
                "values": {name: display_text(value) for name, value in zip(destinations, values, strict=True)},
            }
        )
    return results
