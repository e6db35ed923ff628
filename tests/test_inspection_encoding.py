"""jobs.inspection.encoding: the encoding of a file from its first bytes, and its undecodable bytes by line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from jobs.inspection.encoding import detect_encoding, find_undecodable
from jobs.inspection.results import EncodingGuess

FIXTURES = Path(__file__).parent / "fixtures" / "csv"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- the corpus ----------------------------------------------------------------------------
# file: (encoding, bom_length, how the decoded text starts, a phrase of the evidence)
CORPUS = {
    "utf8_plain_ascii.csv": ("utf-8", 0, "id,name,amount\n", "plain ASCII"),
    "utf8_multibyte.csv": ("utf-8", 0, "id,name,note\n1,Zoë,café ☕\n", "valid UTF-8 with 11 multibyte characters"),
    "utf8_bom.csv": ("utf-8-sig", 3, "id,name\n", "UTF-8 byte order mark"),
    "utf16le_bom.csv": ("utf-16-le", 2, "id,name\r\n1,Ann\r\n2,Zoë", "UTF-16 little-endian byte order mark"),
    "utf16be_bom.csv": ("utf-16-be", 2, "id,name\r\n1,Ann\r\n2,Zoë", "UTF-16 big-endian byte order mark"),
    "utf16le_no_bom.csv": ("utf-16-le", 0, "id,name\n1,Ann\n", "every other byte is NUL"),
    "utf32le_bom.csv": ("utf-32-le", 4, "id,name\n1,Zoë\n", "UTF-32 little-endian byte order mark"),
    "cp1252_curly_quotes.csv": ("cp1252", 0, "id,quote,price\n1,“Hello” – she said,5 €\n", "Windows punctuation"),
    "latin1_accents.csv": ("cp1252", 0, "id,name,city\n1,René Lefèvre,Montréal\n", "reads the same as latin-1"),
    "latin1_c1_byte.csv": ("latin-1", 0, "id,name,city\n", "byte 0x81 is not in cp1252"),
    "cp1251_cyrillic.csv": ("cp1251", 0, "id;имя;город\n1;Иван Петров;Москва\n", "Cyrillic"),
    "invalid_utf8_line_7.csv": ("utf-8", 0, None, "except 1 byte, the first 0xff at offset 54"),
    "excel_semicolon_bom_crlf.csv": ("utf-8-sig", 3, "Name;Betrag;Datum\r\nMüller;", "UTF-8 byte order mark"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_encoding_is_detected(name):
    encoding, bom_length, starts_with, evidence = CORPUS[name]
    data = fixture(name)

    guess = detect_encoding(data)

    assert (guess.encoding, guess.bom, guess.bom_length) == (encoding, bom_length > 0, bom_length)
    assert evidence in guess.evidence
    assert 0.0 < guess.confidence <= 1.0
    if starts_with is not None:
        assert data[guess.bom_length :].decode(guess.encoding).startswith(starts_with)


def test_the_bom_is_never_part_of_the_first_header():
    for name in ("utf8_bom.csv", "utf16le_bom.csv", "utf16be_bom.csv", "utf32le_bom.csv"):
        data = fixture(name)
        guess = detect_encoding(data)

        assert data[guess.bom_length :].decode(guess.encoding).startswith("id,"), name


# -- BOMs, UTF-8 and UTF-16 ----------------------------------------------------------------
def test_empty_sample_is_utf8():
    assert detect_encoding(b"") == EncodingGuess("utf-8", 1.0, False, 0, "The file is empty; UTF-8 is assumed.")


def test_plain_ascii_is_utf8_with_high_confidence():
    guess = detect_encoding(b"a,b\n1,2\n")

    assert (guess.encoding, guess.confidence, guess.bom) == ("utf-8", 0.95, False)
    assert guess.evidence == "The sample is plain ASCII, which reads the same in UTF-8 and every common encoding."


def test_valid_multibyte_utf8_is_certain():
    guess = detect_encoding("name\nZoë\nnaïve café\n".encode())

    assert (guess.encoding, guess.confidence) == ("utf-8", 1.0)
    assert guess.evidence == "The sample is valid UTF-8 with 3 multibyte characters."


def test_a_sample_cut_inside_a_multibyte_character_is_still_utf8():
    data = "price\n5 €\n7 €\n9 €".encode()
    sample = data[:-2]  # "€" is 3 bytes: keep only the first

    guess = detect_encoding(sample)

    assert (guess.encoding, guess.confidence) == ("utf-8", 0.97)
    assert guess.evidence == "The sample is valid UTF-8 with 2 multibyte characters."


def test_ascii_ending_in_a_byte_that_could_start_a_utf8_character_is_cp1252():
    # A small cp1252 file whose last letter is accented, not a UTF-8 character cut off.
    guess = detect_encoding("name\ncafé".encode("cp1252"))

    assert guess.encoding == "cp1252"
    assert guess.evidence.startswith("Byte 0xe9 at offset 8 is not valid UTF-8; cp1252 chosen")


def test_a_utf16_sample_cut_after_an_odd_number_of_bytes_is_still_utf16():
    sample = fixture("utf16le_bom.csv")[:-1]

    guess = detect_encoding(sample)

    assert (guess.encoding, guess.bom_length, guess.confidence) == ("utf-16-le", 2, 1.0)


def test_utf16_big_endian_without_bom_is_recognised_by_its_nul_bytes():
    guess = detect_encoding("id,name\n1,Ann\n".encode("utf-16-be"))

    assert (guess.encoding, guess.bom, guess.bom_length) == ("utf-16-be", False, 0)


def test_a_few_nul_bytes_in_utf8_are_not_utf16():
    guess = detect_encoding(b"id,name\n1,A\x00nn\n2,Bob\n")

    assert guess.encoding == "utf-8"


def test_a_utf8_bom_before_cp1252_bytes_skips_the_bom_and_reads_the_rest_as_cp1252():
    data = b"\xef\xbb\xbf" + "id,quote\n1,“Hi” – €5\n".encode("cp1252")

    guess = detect_encoding(data)

    assert (guess.encoding, guess.bom, guess.bom_length) == ("cp1252", True, 3)
    assert guess.confidence <= 0.5
    assert "byte 0x93 at offset 14 is not valid UTF-8" in guess.evidence
    assert data[3:].decode(guess.encoding) == "id,quote\n1,“Hi” – €5\n"


def test_utf8_with_one_corrupt_byte_stays_utf8_so_the_byte_is_reported_not_the_accents_garbled():
    data = fixture("invalid_utf8_line_7.csv")

    guess = detect_encoding(data)

    assert (guess.encoding, guess.confidence) == ("utf-8", 0.6)
    assert guess.evidence == (
        "The sample is UTF-8 (4 multibyte characters) except 1 byte, the first 0xff at offset 54: "
        "those are reported as errors rather than the whole file read in another encoding."
    )


def test_many_bytes_that_are_not_utf8_make_it_a_legacy_encoding():
    data = "Zoë\n".encode() + "naïve café à la crème\n".encode("cp1252") * 3

    assert detect_encoding(data).encoding == "cp1252"


# -- legacy encodings ----------------------------------------------------------------------
def test_few_non_ascii_bytes_give_cp1252_with_lower_confidence():
    guess = detect_encoding("id,name\n1,René\n".encode("cp1252"))

    assert guess.encoding == "cp1252"
    assert guess.confidence <= 0.6


def test_greek_cp1253_is_recognised():
    data = "id,όνομα\n1,Γιάννης Παπαδόπουλος\n2,Μαρία Αθήνα\n".encode("cp1253")

    guess = detect_encoding(data)

    assert guess.encoding == "cp1253"
    assert "Greek" in guess.evidence


def test_chinese_gb18030_is_recognised():
    data = "id,名字,城市\n1,张伟,北京市\n2,王芳,上海市\n3,李娜,广州市\n".encode("gb18030")

    assert detect_encoding(data).encoding == "gb18030"


def test_turkish_cp1254_stays_cp1252_but_the_evidence_names_it_and_confidence_drops():
    data = "ad,şehir\nAyşe Yılmaz,İstanbul\nÇağrı Öztürk,Ağrı\n".encode("cp1254")

    guess = detect_encoding(data)

    assert guess.encoding == "cp1252"
    assert "It may also be cp1254 (Turkish): override the encoding if so." in guess.evidence
    assert guess.confidence <= 0.5


def test_the_encoding_returned_always_decodes_the_sample():
    samples = [fixture(name) for name in CORPUS if name != "invalid_utf8_line_7.csv"]
    samples += [bytes(range(256)), b"\x81\x8d\x8f\x90\x9d" * 10, "Ωμέγα".encode("cp1253") * 50]
    for sample in samples:
        guess = detect_encoding(sample)

        sample[guess.bom_length :].decode(guess.encoding)  # raises if not


# -- undecodable bytes by line -------------------------------------------------------------
def test_invalid_byte_is_reported_with_its_line_offset_and_hex():
    data = fixture("invalid_utf8_line_7.csv")

    assert find_undecodable(io.BytesIO(data), "utf-8") == [(7, data.index(b"\xff"), "ff")]


def test_a_valid_file_has_no_undecodable_bytes():
    assert find_undecodable(io.BytesIO(fixture("utf8_multibyte.csv")), "utf-8") == []


def test_line_numbers_are_right_far_past_the_first_chunk():
    # 3 MiB of valid lines (1 MiB chunks), then a bad byte on line 100_001.
    lines = b"1,caf\xc3\xa9,plain text\r\n" * 100_000
    data = lines + b"2,bad \x93 quote\r\n"

    assert find_undecodable(io.BytesIO(data), "utf-8") == [(100_001, len(lines) + 6, "93")]


def test_small_chunks_split_characters_and_crlf_without_changing_the_answer():
    data = "é,€\r\n".encode() * 5 + b"x\x80\r\n" + "ü\r\r\n\n".encode() + b"\xff"
    expected = [(6, 41, "80"), (10, 50, "ff")]

    for chunk_size in (1, 2, 3, 5, 7, 64):
        assert find_undecodable(io.BytesIO(data), "utf-8", chunk_size=chunk_size) == expected


def test_a_character_cut_off_by_the_end_of_the_file_is_reported():
    data = "a\nb €".encode()[:-1]

    assert find_undecodable(io.BytesIO(data), "utf-8") == [(2, 4, "e282")]


def test_cp1252_undefined_bytes_with_cr_line_endings():
    data = b"a\rb\x81\rc\rd\x9d\r"

    assert find_undecodable(io.BytesIO(data), "cp1252") == [(2, 3, "81"), (4, 8, "9d")]


def test_utf16_lone_surrogate_is_reported_with_both_bytes():
    data = b"\xff\xfe" + "a\nb\n".encode("utf-16-le") + b"\x00\xd8" + "c\n".encode("utf-16-le")

    assert find_undecodable(io.BytesIO(data), "utf-16-le") == [(3, 10, "00d8")]


def test_offsets_count_the_bom_of_a_utf8_sig_file():
    data = b"\xef\xbb\xbfid\n\x80\n"

    assert find_undecodable(io.BytesIO(data), "utf-8-sig") == [(2, 6, "80")]


def test_only_the_first_limit_bad_bytes_are_reported_and_reading_stops():
    data = b"\xff\n" * 10 + b"ok\n" * 1000
    stream = io.BytesIO(data)

    found = find_undecodable(stream, "utf-8", limit=3, chunk_size=8)

    assert found == [(1, 0, "ff"), (2, 2, "ff"), (3, 4, "ff")]
    assert stream.tell() < 100


def test_the_stream_is_read_in_chunks_never_whole():
    class Recording(io.BytesIO):
        sizes: list[int] = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    stream = Recording(b"x,y\n" * 10_000)

    assert find_undecodable(stream, "utf-8", chunk_size=4096) == []
    assert stream.sizes and all(0 < size <= 4096 for size in stream.sizes)
