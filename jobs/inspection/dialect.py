"""How a CSV file is written: delimiter, quoting, escapes and line endings, found from a sample.

Every candidate is parsed with the csv module itself, so a delimiter or a line break inside a
quoted field is never counted as a separator. For each delimiter the quoting that the text
shows (fields opened and closed by the quote character) is chosen first; then the delimiter
that splits the rows most consistently into more than one field wins. Between delimiters
that split equally consistently, the reading that closes every quote, leaves tidier fields
(no stray quotes, no spaces around values), and puts more fields in agreeing rows wins.
csv.Sniffer is not used: it guesses from character frequencies line by line and is easily
fooled by quoted fields, decimal commas and short samples.

Two writer habits are recognised as well: a space after every delimiter (`1, "Smith, John"`),
read with csv's skipinitialspace so the quotes after the space still quote; and Excel's
`sep=;` first line, which names the delimiter and is not part of the data.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections import Counter
from dataclasses import dataclass

from jobs.inspection.results import DialectGuess

DELIMITERS = (",", ";", "\t", "|")
QUOTECHARS = ('"', "'")

# Enough text for a reliable guess, little enough to parse a dozen times in well under a second.
_SCORE_CHARS = 256 * 1024
_MAX_RECORDS = 1000
# The regular expressions that count quoted fields look at less: they backtrack on odd input.
_EVIDENCE_CHARS = 64 * 1024

_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Excel's "sep=;" line: the delimiter it names (any character but a quote or a line break),
# then the line break. Only ever the first line of a file.
_SEP_LINE = re.compile(r"sep=([^\r\n\"'])(\r\n|\r|\n|$)", flags=re.IGNORECASE)
_TERMINATOR_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}


@dataclass(frozen=True)
class _Config:
    delimiter: str
    quotechar: str  # "" for no quoting
    doublequote: bool
    escapechar: str  # "" for none
    skipinitialspace: bool = False  # spaces after a delimiter are not part of the next field

    def reader_options(self) -> dict:
        options: dict = {
            "delimiter": self.delimiter,
            "strict": False,
            "escapechar": self.escapechar or None,
            "skipinitialspace": self.skipinitialspace,
        }
        if self.quotechar:
            options.update(quotechar=self.quotechar, doublequote=self.doublequote, quoting=csv.QUOTE_MINIMAL)
        else:
            options.update(quoting=csv.QUOTE_NONE)
        return options


@dataclass
class _Parsed:
    config: _Config
    rows: list[list[str]]  # without blank lines
    terminators: Counter  # how records end: "\n", "\r\n", "\r"
    width: int  # the most common number of fields
    consistency: float  # share of rows with that number of fields
    quoted_fields: int  # fields opened and closed by the quote character
    stray_quotes: int  # quote characters outside them
    escape_evidence: int
    # The text ends with a line break, yet inside a quoted field: possible for a sample cut
    # there, but a sign of a wrong reading when another one closes every field.
    open_at_end: bool = False
    # The last record runs into the end of the text inside a quoted field (with or without a
    # line break at the end): a quote opened a field and was never closed.
    unclosed: bool = False

    @property
    def quote_evidence(self) -> int:
        """Quoted fields, less stray quotes; a quote that opens a field and is never closed is no stray.

        Without that exception a file whose only quote is one left open (`2,"broken` to the end
        of the file) reads best unquoted, and the quote silently becomes part of the data
        instead of being reported where it opened. Double quotes only: an apostrophe opening a
        value ('90s, 'tis) is ordinary data.
        """
        opening = self.unclosed and self.config.quotechar == '"'
        return self.quoted_fields - self.stray_quotes + opening


def detect_dialect(text: str) -> DialectGuess:
    """Guess the dialect of decoded CSV text (the start of a file; it may end mid-record).

    A record cut off by the end of the sample is ignored. Delimiters considered: comma,
    semicolon, tab and pipe; a file none of them splits is read as one column (comma). A first
    line "sep=X" (Excel's) names the delimiter, whatever it is, and is not part of the data.
    """
    sep_line = _SEP_LINE.match(text)
    if sep_line:
        return _named_by_sep_line(text, sep_line)
    text = text[:_SCORE_CHARS]
    if text.endswith("\r"):
        # Perhaps the first half of a CRLF cut off by the end of the sample: read the last
        # line as cut off, not as a CR-only line ending.
        text = text[:-1]
    if not text.strip("\r\n"):
        return DialectGuess(",", '"', True, "", "\n", 0.0, "The sample is empty; a comma-separated file is assumed.")

    best_per_delimiter = [_best_quoting(text, delimiter) for delimiter in DELIMITERS]
    split = [parsed for parsed in best_per_delimiter if parsed.width > 1]
    if not split:
        return _one_column(best_per_delimiter)
    best = max(split, key=_delimiter_key)
    rivals = [p for p in split if p is not best and round(p.consistency, 2) >= round(best.consistency, 2)]
    return _guess(best, rivals)


def _named_by_sep_line(text: str, sep_line: re.Match) -> DialectGuess:
    """The dialect of a file that starts with Excel's "sep=X" line: X, whatever the rows say.

    Excel writes the line so that it opens the file with the right delimiter in any locale;
    the user meant it, so it is not second-guessed. Quoting and line endings are still read
    from the rows after it.
    """
    delimiter, ending = sep_line.group(1), sep_line.group(2)
    line = sep_line.group(0).rstrip("\r\n")
    rest = text[sep_line.end() : sep_line.end() + _SCORE_CHARS]
    if rest.endswith("\r"):
        rest = rest[:-1]  # as in detect_dialect: perhaps half a CRLF
    name = _NAMES.get(delimiter, repr(delimiter))
    if not rest.strip("\r\n"):
        terminator, terminator_evidence = _terminator(Counter([ending] if ending else []))
        return DialectGuess(
            delimiter,
            '"',
            True,
            "",
            terminator,
            1.0,
            f'The first line "{line}" names the {name} as the delimiter; no row follows it. {terminator_evidence}',
            sep_line=True,
        )
    best = _best_quoting(rest, delimiter)
    if ending:
        best.terminators[ending] += 1
    return _guess(best, [], sep_line=line)


def _best_quoting(text: str, delimiter: str) -> _Parsed:
    """The quoting that reads `text` best with this delimiter."""
    configs = []
    backslash = "\\" in text
    for quotechar in QUOTECHARS:
        if quotechar in text or quotechar == '"':  # '"' also stands for "no quote seen yet"
            configs.append(_Config(delimiter, quotechar, True, ""))
            if backslash:
                configs.append(_Config(delimiter, quotechar, False, "\\"))
    configs.append(_Config(delimiter, "", False, ""))
    if backslash:
        configs.append(_Config(delimiter, "", False, "\\"))
    # A space between the delimiter and a quote (`1, "Smith, John"`): the same quotings again,
    # skipping spaces after delimiters. Listed last, they win only by reading the text better
    # (more consistent rows, more fields closed by quotes), never on a tie: skipping spaces
    # drops the leading spaces of unquoted values too, which are data in other files.
    configs += [
        dataclasses.replace(config, skipinitialspace=True)
        for config in configs
        if config.quotechar and re.search(rf"{re.escape(delimiter)} +{re.escape(config.quotechar)}", text)
    ]
    parsed = [_parse(text, config) for config in configs]
    ranked = max(
        enumerate(parsed),
        key=lambda item: (round(item[1].consistency, 2), item[1].quote_evidence, item[1].escape_evidence, -item[0]),
    )
    return ranked[1]


def _delimiter_key(parsed: _Parsed) -> tuple:
    """What makes one delimiter's reading better than another's, in order of weight."""
    return (
        round(parsed.consistency, 2),
        not parsed.open_at_end,
        _tidiness(parsed),
        # Fields in rows of the common width: 7 rows of 3 say more than 2 rows of 2 (a reading
        # that joins lines by quotes that are no quotes, or splits quoted ones apart).
        round(parsed.consistency * len(parsed.rows)) * parsed.width,
        max(parsed.quote_evidence, 0),  # quoted fields line up with the right delimiter
        parsed.width,
        -DELIMITERS.index(parsed.config.delimiter),
    )


def _tidiness(parsed: _Parsed) -> float:
    """Share of fields without surrounding spaces or stray quotes: a wrong split leaves those.

    A field starting with a quote character other than the one this reading unquotes is a
    stray quote (one starting with its own is a quote doubled inside a quoted field). The
    first row is left out: a header is often written differently.
    """
    fields = [field for row in parsed.rows[1:] for field in row]
    if not fields:
        return 0.0
    stray = tuple(q for q in QUOTECHARS if q != parsed.config.quotechar)
    tidy = sum(1 for field in fields if field == field.strip(" ") and not field.startswith(stray))
    return round(tidy / len(fields), 2)


def _parse(text: str, config: _Config) -> _Parsed:
    rows: list[list[str]] = []
    terminators: Counter = Counter()
    last_line = [""]
    exhausted = [False]

    def lines():
        for line in io.StringIO(text, newline=""):
            last_line[0] = line
            yield line
        exhausted[0] = True

    reader = csv.reader(lines(), **config.reader_options())
    records: list[tuple[list[str], str]] = []
    open_at_end = unclosed = False
    try:
        for fields in reader:
            # A record that does not end with a line break, or that the reader only finished
            # because the text ran out (inside a quoted field), was cut off by the end of the sample.
            ending = _ending(last_line[0])
            complete = bool(ending) and not exhausted[0]
            open_at_end = bool(ending) and exhausted[0]
            unclosed = exhausted[0]
            records.append((fields, ending if complete else ""))
            if not complete and len(records) > 1:
                records.pop()
            if len(records) >= _MAX_RECORDS:
                break
    except csv.Error:
        pass  # e.g. a field over the size limit after an unmatched quote: judge what was read
    for fields, ending in records:
        if ending:
            terminators[ending] += 1
        if fields:
            rows.append(fields)

    quoted_fields, stray_quotes = _quoted_fields(text, config)
    widths = Counter(len(row) for row in rows)
    width, count = max(widths.items(), key=lambda item: (item[1], item[0])) if widths else (0, 0)
    return _Parsed(
        config=config,
        rows=rows,
        terminators=terminators,
        width=width,
        consistency=count / len(rows) if rows else 0.0,
        quoted_fields=quoted_fields,
        stray_quotes=stray_quotes,
        escape_evidence=_escapes(text, config),
        open_at_end=open_at_end,
        unclosed=unclosed,
    )


def _ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def _quoted_fields(text: str, config: _Config) -> tuple[int, int]:
    """Fields opened and closed by the quote character, and quote characters outside them.

    A writer that quotes with a character quotes every field holding it, so that character
    bare inside a value (O'Brien, 27" monitor) says it is not the quote character.
    """
    if not config.quotechar:
        return 0, 0
    sample = text[:_EVIDENCE_CHARS]
    q, d = re.escape(config.quotechar), re.escape(config.delimiter)
    inside = rf"(?:[^{q}\\]|\\.)*" if config.escapechar else rf"(?:[^{q}]|{q}{q})*"
    spaces = " *" if config.skipinitialspace else ""
    quoted = re.compile(rf"(?:^|(?<=[\r\n{d}])){spaces}{q}{inside}{q}(?=[{d}\r\n]|$)", flags=re.DOTALL)
    proper = len(quoted.findall(sample))
    return proper, quoted.sub("", sample).count(config.quotechar)


def _escapes(text: str, config: _Config) -> int:
    """Signs of the escape style: backslash-escaped quotes (or delimiters), or doubled quotes."""
    sample = text[:_EVIDENCE_CHARS]
    q, d = re.escape(config.quotechar), re.escape(config.delimiter)
    if config.quotechar and _quoted_fields(text, config)[0] == 0:
        return 0  # no field is quoted: how quotes inside quoted fields are escaped is moot
    if config.escapechar and config.quotechar:
        # \" inside a field. A doubled-quote file has \" only before another quote (a
        # backslash before a doubled quote) or at the end of a field ("C:\temp\").
        return len(re.findall(rf"(?<!\\)\\{q}[^{q}{d}\r\n]", sample))
    if config.escapechar:
        # Only before a delimiter: a backslash at the end of a line is as often the end of a
        # value (C:\temp\) as an escaped line break.
        return len(re.findall(rf"(?<!\\)\\{d}", sample))
    if config.quotechar:
        return len(re.findall(rf"(?<![\\{d}\r\n]){q}{q}(?![{d}\r\n])", sample))
    return 0


def _one_column(best_per_delimiter: list[_Parsed]) -> DialectGuess:
    parsed = best_per_delimiter[0]  # the comma's
    config = parsed.config
    seen = [_NAMES[p.config.delimiter] for p in best_per_delimiter if any(len(row) > 1 for row in p.rows)]
    if seen:
        evidence = (
            f"No delimiter splits the rows consistently ({', '.join(seen)} only in some rows); read as one column."
        )
        confidence = 0.6
    else:
        evidence = "No comma, semicolon, tab or pipe separates the values: the file has one column."
        confidence = 0.9
    terminator, terminator_evidence = _terminator(parsed.terminators)
    return DialectGuess(
        ",",
        config.quotechar,
        config.doublequote,
        config.escapechar,
        terminator,
        confidence,
        f"{evidence} {terminator_evidence}",
        quoted_fields=parsed.quoted_fields if config.quotechar else 0,
    )


def _guess(best: _Parsed, rivals: list[_Parsed], sep_line: str = "") -> DialectGuess:
    """The dialect `best` reads with; `sep_line` is the file's "sep=X" line when it named the delimiter."""
    config = best.config
    rows = len(best.rows)
    agreeing = round(best.consistency * rows)
    confidence = best.consistency * min(1.0, 0.6 + 0.1 * rows)
    if rivals:
        confidence *= 0.7
    name = _NAMES.get(config.delimiter, repr(config.delimiter))
    if sep_line:
        # The file says which delimiter it uses: only rows it fails to split lower the confidence.
        confidence = max(confidence, best.consistency)
        parts = [
            f'The first line "{sep_line}" names the {name} as the delimiter and is not data; '
            f"the {name} splits {agreeing} of {rows} rows into {best.width} field{'s' if best.width != 1 else ''}"
        ]
    else:
        parts = [f"The {name} splits {agreeing} of {rows} rows into {best.width} fields"]
    if rivals:
        names = " and ".join(_NAMES.get(r.config.delimiter, r.config.delimiter) for r in rivals)
        parts[0] += f" (the {names} would too, less cleanly)"
    if not config.quotechar:
        quoting = "fields are never quoted"
        if config.escapechar:
            quoting += ", and a backslash escapes delimiters and line breaks"
    elif best.quoted_fields > 0:
        quoting = f"{_plural(best.quoted_fields, 'field')} quoted with {config.quotechar}"
        if config.escapechar:
            quoting += ", with a backslash before quotes inside them"
        elif best.escape_evidence:
            quoting += ", with quotes inside them doubled"
    elif best.unclosed:
        quoting = f"a field opened by {config.quotechar} is never closed (no field is quoted before it)"
    else:
        quoting = f"no field is quoted in the sample ({config.quotechar} is assumed)"
    if config.skipinitialspace:
        quoting += ", and a space after a delimiter is skipped"
    parts.append(quoting)
    terminator, terminator_evidence = _terminator(best.terminators)
    return DialectGuess(
        config.delimiter,
        config.quotechar,
        config.doublequote,
        config.escapechar,
        terminator,
        round(confidence, 2),
        "; ".join(parts) + ". " + terminator_evidence,
        skipinitialspace=config.skipinitialspace,
        sep_line=bool(sep_line),
        quoted_fields=best.quoted_fields if config.quotechar else 0,
    )


def _plural(count: int, noun: str) -> str:
    return f"1 {noun} is" if count == 1 else f"{count} {noun}s are"


def _terminator(terminators: Counter) -> tuple[str, str]:
    if not terminators:
        return "\n", "No line break in the sample; LF is assumed."
    if len(terminators) == 1:
        (terminator,) = terminators
        return terminator, f"Lines end with {_TERMINATOR_NAMES[terminator]}."
    counts = ", ".join(f"{count} {_TERMINATOR_NAMES[t]}" for t, count in terminators.most_common())
    return "mixed", f"Line endings are mixed: {counts}."
