"""Which text encoding a CSV file is in, found from a sample of its first bytes, with evidence.

The order of the checks is the order of their certainty: a byte order mark, UTF-16 without a
BOM (NUL bytes on every other position), strict UTF-8, and only then the legacy encodings.
UTF-8 goes before any statistical guess because text in a legacy encoding is practically
never valid UTF-8 by accident, while statistics are easily fooled on short samples
(charset-normalizer alone calls French cp1252 text "cp1250" and a two-line sample "cp1006").
For the same reason UTF-8 with a corrupt byte or two is still UTF-8 (the one exception to
"the encoding returned decodes the sample"): its bad bytes get reported with their line,
where cp1252 would decode everything and garble every accented letter without a word.

Among the legacy encodings the answer is cp1252 (Western Windows, what spreadsheets write)
unless the bytes clearly belong to another script: most letters non-ASCII, in words, as in
Cyrillic, Greek, Hebrew, Arabic or Thai (or paired bytes, as in Chinese, Japanese and Korean
double-byte encodings), and charset-normalizer's pick reading cleanly as a language.
Latin-script alternatives (cp1250 Central European, cp1254 Turkish, ...) read Western text
about as plausibly as cp1252 and vice versa, so they are only mentioned in the evidence,
with a lower confidence, for the user to override.

Between cp1252 and latin-1 the choice is cp1252 unless the sample has a byte cp1252 leaves
undefined: the two read 0xA0-0xFF identically, and in cp1252 the bytes 0x80-0x9F are curly
quotes, dashes and the euro sign, where latin-1 would read them as invisible control
characters and corrupt the data without any error.

`find_undecodable` reports, with line numbers, the bytes the chosen encoding cannot read, so
that they are never silently replaced.
"""

from __future__ import annotations

import codecs
import contextvars
import re
from typing import BinaryIO

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

from jobs.inspection.results import EncodingGuess

# Longest BOMs first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 little-endian"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 big-endian"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 little-endian"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 big-endian"),
)

# Bytes that have no character in cp1252: a sample holding one of them cannot be cp1252.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_C1_BYTES = frozenset(range(0x80, 0xA0))
# UTF-8 lead bytes: one per multibyte character.
_UTF8_LEADS = [bytes([byte]) for byte in range(0xC2, 0xF5)]
# A sample with at least this many valid multibyte characters, and one bad byte or this many
# times more multibyte characters than bytes that are not UTF-8, is UTF-8 with corrupt bytes.
_MOSTLY_UTF8_MIN = 3
_MOSTLY_UTF8_RATIO = 10
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode

# Legacy encodings of other scripts, which charset-normalizer may choose. The Latin-script
# ones it also knows (cp1250, cp1254, cp1257, ...) are only mentioned, never chosen over
# cp1252: they read Western text as plausibly as cp1252 does, and vice versa.
_OTHER_SCRIPTS = {
    "cp1251": "Cyrillic",
    "koi8_r": "Cyrillic",
    "koi8_u": "Cyrillic",
    "cp866": "Cyrillic",
    "iso8859_5": "Cyrillic",
    "cp1253": "Greek",
    "iso8859_7": "Greek",
    "cp1255": "Hebrew",
    "cp1256": "Arabic",
    "cp874": "Thai",
    "cp932": "Japanese",
    "euc_jp": "Japanese",
    "gb18030": "Chinese",
    "big5": "Chinese",
    "cp949": "Korean",
}
_DOUBLE_BYTE = frozenset({"cp932", "euc_jp", "gb18030", "big5", "cp949"})
_DOS_AND_MAC = ["cp850", "mac_roman"]
_LATIN_ALTERNATIVES = ["cp1250", "cp1254", "cp1257", "cp1258", "iso8859_2", "iso8859_15", *_DOS_AND_MAC]
# Restricting charset-normalizer to these keeps exotic code pages (cp775, mac_iceland,
# cp1006, ...) from winning on short samples, and makes it faster.
_CANDIDATES = ["cp1252", "latin_1", *_LATIN_ALTERNATIVES, *_OTHER_SCRIPTS]

# Fewer non-ASCII bytes than this are thin evidence for anything but cp1252.
_FEW_NON_ASCII = 8
# Another script: at least this share of the letters are non-ASCII (letters as cp1252 reads
# them). In Western text accented letters are a few percent; in Russian or Greek nearly all.
_OTHER_SCRIPT_SHARE = 0.5
# ... and where cp1252 also reads the sample: their words are this long on average, and a
# double-byte script has this share (its text has hardly any ASCII letters).
_WORD_LENGTH = 2.5
_DOUBLE_BYTE_SHARE = 0.8
# The most chaos (charset-normalizer's mess ratio, 0 for clean text) an encoding other than
# cp1252 may show and still be chosen, and the language coherence a Latin alternative must
# exceed (another script needs only some: its bytes already say it is not Western text).
_CLEAN = 0.2
_LANGUAGE = 0.2
_SOME_LANGUAGE = 0.1
# How much more coherent a Latin alternative must read for the evidence to mention it.
_COHERENCE_MARGIN = 0.05

_CHARSET_NORMALIZER_BYTES = 256 * 1024

_NON_ASCII = bytes(range(0x80, 0x100))
_ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ACCENTED_RUN = re.compile(  # bytes cp1252 reads as letters outside ASCII (À-ÿ, Š, Œ, ...)
    b"[" + re.escape(bytes(b for b in range(0x80, 0x100) if bytes([b]).decode("cp1252", "replace").isalpha())) + b"]+"
)
_NON_ASCII_RUN = re.compile(b"[\x80-\xff]+")


def detect_encoding(sample: bytes) -> EncodingGuess:
    """Guess the encoding of a file from its first bytes (about 1 MiB).

    The sample may end inside a multibyte character; that truncated character is not held
    against an encoding. The encoding returned decodes the sample after `bom_length` bytes,
    except for UTF-8 with a few corrupt bytes, which is returned as UTF-8 (the evidence says
    so, the confidence is 0.6, and `find_undecodable` gives the lines of those bytes).
    """
    if not sample:
        return EncodingGuess("utf-8", 1.0, False, 0, "The file is empty; UTF-8 is assumed.")
    for bom, encoding, label in _BOMS:
        if sample.startswith(bom):
            return _after_bom(sample, bom, encoding, label)
    return _without_bom(sample, bom_length=0)


def _after_bom(sample: bytes, bom: bytes, encoding: str, label: str) -> EncodingGuess:
    body = sample[len(bom) :]
    base = encoding.replace("-sig", "")
    bad = _first_error(body, base)
    if bad is None:
        return EncodingGuess(
            encoding, 1.0, True, len(bom), f"The file starts with a {label} byte order mark ({bom.hex(' ')})."
        )
    # A BOM followed by bytes that are not in its encoding: someone concatenated files or
    # wrote a BOM by hand. Decode what follows the BOM for what it is, and still skip the BOM.
    guess = _without_bom(body, bom_length=len(bom))
    if encoding == "utf-8-sig" and guess.encoding == "utf-8":
        evidence = f"The file starts with a UTF-8 byte order mark ({bom.hex(' ')}). {guess.evidence}"
        return EncodingGuess("utf-8-sig", guess.confidence, True, len(bom), evidence)
    return EncodingGuess(
        guess.encoding,
        round(min(guess.confidence, 0.5), 2),
        True,
        len(bom),
        f"The file starts with a {label} byte order mark, but byte 0x{body[bad]:02x} at offset "
        f"{bad + len(bom)} is not valid {label}; what follows the mark reads as {_display(guess.encoding)}.",
    )


def _without_bom(sample: bytes, *, bom_length: int) -> EncodingGuess:
    utf16 = _utf16_without_bom(sample)
    if utf16 is not None:
        return EncodingGuess(
            utf16,
            0.9,
            bom_length > 0,
            bom_length,
            f"No byte order mark, but every other byte is NUL as in {_display(utf16)} text.",
        )
    if sample.isascii():
        return EncodingGuess(
            "utf-8",
            0.95,
            bom_length > 0,
            bom_length,
            "The sample is plain ASCII, which reads the same in UTF-8 and every common encoding.",
        )
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        return _mostly_utf8(sample, bom_length=bom_length) or _legacy(sample, bom_length=bom_length)
    complete = sample[: len(sample) - len(decoder.getstate()[0])]  # without a character cut off at the end
    count = sum(complete.count(lead) for lead in _UTF8_LEADS)
    if count == 0:
        # ASCII, then a byte or two that would begin a UTF-8 character at the very end: as
        # likely the last byte of a small cp1252 file ("café") as a cut-off UTF-8 character.
        return _legacy(sample, bom_length=bom_length)
    return EncodingGuess(
        "utf-8",
        1.0 if count >= 3 else 0.97,
        bom_length > 0,
        bom_length,
        f"The sample is valid UTF-8 with {count} multibyte character{'s' if count != 1 else ''}.",
    )


def _mostly_utf8(sample: bytes, *, bom_length: int) -> EncodingGuess | None:
    """UTF-8 with a few corrupt bytes is UTF-8: its bad bytes are reported with their lines.

    Reading it as cp1252 instead would decode every byte, and silently turn every accented
    letter of the file into two wrong characters ("é" -> "Ã©"). Legacy text is practically
    never valid UTF-8 in many places by accident.
    """
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(sample, final=False)
    bad = _UNDECODED.findall(text)
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - len(bad)
    if multibyte < _MOSTLY_UTF8_MIN or len(bad) > max(1, multibyte // _MOSTLY_UTF8_RATIO):
        return None
    first = _first_error(sample, "utf-8")
    return EncodingGuess(
        "utf-8",
        0.6,
        bom_length > 0,
        bom_length,
        f"The sample is UTF-8 ({multibyte} multibyte characters) except {len(bad)} "
        f"byte{'s' if len(bad) != 1 else ''}, the first 0x{sample[first]:02x} at offset {first + bom_length}: "
        "those are reported as errors rather than the whole file read in another encoding.",
    )


def _legacy(sample: bytes, *, bom_length: int) -> EncodingGuess:
    """Choose among legacy encodings: cp1252 for Western text, charset-normalizer's pick for other scripts."""
    bad_utf8 = 0
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # always, but for a sample the caller cut inside a character
        bad_utf8 = exc.start
    not_utf8 = f"Byte 0x{sample[bad_utf8]:02x} at offset {bad_utf8 + bom_length} is not valid UTF-8"
    # charset-normalizer decodes its input whole with each candidate: give it the start only,
    # and check what it picks against the whole sample.
    matches = [
        match
        for match in from_bytes(sample[:_CHARSET_NORMALIZER_BYTES], cp_isolation=_CANDIDATES)
        if _first_error(sample, match.encoding) is None
    ]
    best = matches[0] if matches else None

    cp1252_reads = _CP1252_UNDEFINED.isdisjoint(sample)
    other_script = _other_script(sample, cp1252_reads=cp1252_reads, double_byte=False)
    if (
        best is not None
        and best.encoding in _OTHER_SCRIPTS
        and _other_script(sample, cp1252_reads=cp1252_reads, double_byte=best.encoding in _DOUBLE_BYTE)
        and _reads_well(best, language=_SOME_LANGUAGE)
    ):
        script = _OTHER_SCRIPTS[best.encoding]
        return _from_match(best, sample, bom_length, f"{not_utf8}; most letters are {script} bytes")

    if cp1252_reads:
        cp1252_match = next((m for m in matches if "cp1252" in m.could_be_from_charset), None)
        if cp1252_match is not None:
            chaos, coherence = cp1252_match.chaos, cp1252_match.coherence
        else:  # charset-normalizer drops what reads too chaotically: measure it
            chaos, coherence = mess_ratio(sample.decode("cp1252"), maximum_threshold=1.0), 0.0
        c1 = _C1_BYTES.intersection(sample)
        if c1:
            why = (
                f"bytes such as 0x{min(c1):02x} are read as Windows punctuation "
                f"({_printable(c1)}), which latin-1 would read as control characters"
            )
        else:
            why = "it reads the same as latin-1 here and also reads curly quotes and the euro sign"
        evidence = f"{not_utf8}; cp1252 chosen: {why}."
        confidence = _confidence(chaos, coherence, sample)
        rival = next((m for m in matches if m.encoding in _LATIN_ALTERNATIVES and m is not cp1252_match), None)
        if rival is not None and _reads_well(rival) and rival.coherence >= coherence + _COHERENCE_MARGIN:
            language = f" ({rival.language})" if rival.language and rival.language != "Unknown" else ""
            evidence += f" It may also be {_normal_name(rival.encoding)}{language}: override the encoding if so."
            confidence = min(confidence, 0.5)
        elif other_script:
            evidence += " Most letters are non-ASCII, unusual for Western text: check the preview."
            confidence = min(confidence, 0.3)
        return EncodingGuess("cp1252", confidence, bom_length > 0, bom_length, evidence)

    undefined = min(_CP1252_UNDEFINED.intersection(sample))
    not_cp1252 = f"{not_utf8}, and byte 0x{undefined:02x} is not in cp1252"
    # The ISO 8859 alternatives would read that byte as a control character just as latin-1
    # does; only the old DOS and Mac code pages read it as a letter.
    if best is not None and best.encoding in _DOS_AND_MAC and _reads_well(best):
        return _from_match(best, sample, bom_length, not_cp1252)
    return EncodingGuess(
        "latin-1",
        0.3,
        bom_length > 0,
        bom_length,
        f"{not_cp1252}; latin-1 reads every byte, but some as control characters, so check the result.",
    )


def _other_script(sample: bytes, *, cp1252_reads: bool, double_byte: bool) -> bool:
    """Most letters are bytes that cp1252 reads as accented letters: not Western text.

    When cp1252 can read the sample, the bar is higher, for a soup of Western words ("Zoë",
    "Ærø", "Åsa" run together) can pass the share alone: the accented letters must also come
    in words (runs of several), as Cyrillic or Greek letters do, and for a double-byte
    encoding every run of non-ASCII bytes must pair up, as Chinese, Japanese or Korean in
    GB18030, EUC-JP or EUC-KR do.
    """
    runs = _ACCENTED_RUN.findall(sample)
    accented = sum(len(run) for run in runs)
    if accented < _FEW_NON_ASCII:
        return False
    ascii_letters = len(sample) - len(sample.translate(None, _ASCII_LETTERS))
    share = accented / (accented + ascii_letters)
    if not cp1252_reads:
        return share >= _OTHER_SCRIPT_SHARE
    if double_byte:
        pairs = _NON_ASCII_RUN.findall(sample.rstrip(_NON_ASCII))  # the last may be cut off
        return share >= _DOUBLE_BYTE_SHARE and all(len(run) % 2 == 0 for run in pairs)
    return share >= _OTHER_SCRIPT_SHARE and accented / len(runs) >= _WORD_LENGTH


def _reads_well(match, *, language: float = _LANGUAGE) -> bool:
    """Clean enough, and recognised as a language (above `language` coherence)."""
    if match.chaos > _CLEAN:
        return False
    # charset-normalizer gives double-byte encodings no language coherence.
    return match.encoding in _DOUBLE_BYTE or match.coherence > language


def _from_match(match, sample: bytes, bom_length: int, reason: str) -> EncodingGuess:
    encoding = _normal_name(match.encoding)
    language = f", text in {match.language}" if match.language and match.language != "Unknown" else ""
    return EncodingGuess(
        encoding,
        _confidence(match.chaos, match.coherence, sample),
        bom_length > 0,
        bom_length,
        f"{reason}; charset-normalizer reads it best as {_display(encoding)}{language} "
        f"({round(100 * match.chaos)}% noise).",
    )


def _confidence(chaos: float, coherence: float, sample: bytes) -> float:
    confidence = max(0.1, min(0.95, (1.0 - chaos) * (0.75 + 0.2 * coherence)))
    if len(sample) - _ascii_count(sample) < _FEW_NON_ASCII:
        confidence = min(confidence, 0.6)
    return round(confidence, 2)


def _ascii_count(sample: bytes) -> int:
    return len(sample.translate(None, _NON_ASCII))


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text of mostly ASCII characters has a NUL in every other byte."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if nul_odd >= 0.4 and nul_even <= 0.05:
        encoding = "utf-16-le"
    elif nul_even >= 0.4 and nul_odd <= 0.05:
        encoding = "utf-16-be"
    else:
        return None
    return encoding if _first_error(sample, encoding) is None else None


def _first_error(data: bytes, encoding: str) -> int | None:
    """Offset of the first byte `encoding` cannot decode, or None.

    A character cut off by the end of the sample is not an error: the incremental decoder
    keeps those bytes pending instead of failing on them.
    """
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _normal_name(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "latin-1" if name == "iso8859-1" else name


def _display(encoding: str) -> str:
    return {"utf-16-le": "UTF-16 little-endian", "utf-16-be": "UTF-16 big-endian"}.get(encoding, encoding)


def _printable(c1: set[int]) -> str:
    return " ".join(bytes([byte]).decode("cp1252") for byte in sorted(c1)[:5])


# -- bad bytes with their line -------------------------------------------------------------

_CHUNK = 1024 * 1024
_MARK = "\udc00"  # never produced by a strict decode: stands for one undecodable run of bytes
_ERROR_HANDLER = "jobs.inspection.find_undecodable"
_collector: contextvars.ContextVar[_Collector] = contextvars.ContextVar("undecodable_collector")


class _Collector:
    def __init__(self) -> None:
        self.input_end = 0  # absolute offset just past the bytes given to the current decode call
        self.found: list[tuple[int, bytes]] = []  # (absolute offset, bad bytes), in order


def _record_error(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    collector = _collector.get()
    # Whatever bytes a decoder holds back between calls, the object it reports on ends with
    # the input of the current call, so its start is known from its length.
    start = collector.input_end - len(exc.object) + exc.start
    collector.found.append((start, bytes(exc.object[exc.start : exc.end])))
    return _MARK, exc.end


codecs.register_error(_ERROR_HANDLER, _record_error)


def find_undecodable(
    stream: BinaryIO, encoding: str, *, limit: int = 5, chunk_size: int = _CHUNK
) -> list[tuple[int, int, str]]:
    """The first `limit` places where `encoding` cannot decode the stream.

    Each is (line number, byte offset, the bad bytes as hex, e.g. "93"). Lines are counted
    from 1 with "\\n", "\\r\\n" and a lone "\\r" all ending a line, as the CSV reader does;
    offsets count from the stream's position when called. The stream is read in chunks,
    never whole (`chunk_size` bytes at a time), and reading stops once `limit` places are
    found. A character cut off by the end of the file is reported too.
    """
    decoder = codecs.getincrementaldecoder(encoding)(_ERROR_HANDLER)
    collector = _Collector()
    token = _collector.set(collector)
    found: list[tuple[int, int, str]] = []
    line = 1
    pending_cr = False  # the text so far ends with "\r": a "\n" next is the same line break
    try:
        while len(found) < limit:
            chunk = stream.read(chunk_size)
            collector.input_end += len(chunk)
            text = decoder.decode(chunk, final=not chunk)
            segments = text.split(_MARK)
            reported = len(collector.found) - (len(segments) - 1)
            for index, segment in enumerate(segments):
                line += _line_breaks(segment, pending_cr)
                if segment:
                    pending_cr = segment.endswith("\r")
                if index < len(segments) - 1:  # an undecodable run follows this segment
                    offset, bad = collector.found[reported + index]
                    if len(found) < limit:
                        found.append((line, offset, bad.hex()))
                    pending_cr = False  # "\r", a bad byte, "\n": two line breaks, not one
            if not chunk:
                break
    finally:
        _collector.reset(token)
    return found


def _line_breaks(text: str, pending_cr: bool) -> int:
    if not text:
        return 0
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    if pending_cr and text[0] == "\n":
        breaks -= 1  # the "\r" before it, at the end of the previous piece, was counted already
    return breaks
