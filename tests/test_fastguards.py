"""jobs.fastguards: a True answer is a proof that Arrow's regular expression accepts every value.

Each check is compared with the guard it stands in for, run by Arrow (RE2) on the same array.
False is always allowed (the caller then runs the regex); True where the regex refuses a value
would let the Arrow path convert a value Python's converter does not, so every case here and
every array hypothesis builds asserts that direction. The usual shapes must also take the quick
check, or the Arrow path silently loses its speed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs import fastguards
from jobs.arrowload import _INT_RE, _NUMERIC_RE
from jobs.pushdown import DATE_GUARD, DECIMAL_GUARD, TIMESTAMP_GUARD

CHECKS = {
    "integer": (lambda a: fastguards.plain_numbers(a, point=False), _INT_RE),
    "numeric": (lambda a: fastguards.plain_numbers(a, point=True, digit_needed=False), _NUMERIC_RE),
    "double": (lambda a: fastguards.plain_numbers(a, point=True), DECIMAL_GUARD),
    "date": (fastguards.dates, DATE_GUARD),
    "timestamp": (fastguards.timestamps, TIMESTAMP_GUARD),
}


def regex_accepts(array: pa.Array, pattern: str) -> bool:
    return bool(pc.all(pc.match_substring_regex(array, pattern)).as_py()) if len(array) else True


def assert_sound(array: pa.Array) -> None:
    for name, (quick, pattern) in CHECKS.items():
        if quick(array):
            assert regex_accepts(array, pattern), f"{name}: the quick check accepted {array.to_pylist()!r}"
    if fastguards.without(array, b"\x00"):
        assert not any("\x00" in value for value in array.to_pylist() if value is not None)
    if fastguards.without(array, b"\\."):
        assert not any("\\." in value for value in array.to_pylist() if value is not None)
    for limit in (0, 1, 3, 10):
        if fastguards.at_most_bytes(array, limit):
            assert all(len(value) <= limit for value in array.to_pylist())


# (check, values, what the quick check answers)
CASES = [
    ("integer", ["1", "22", "-3", "0007", "9223372036854775807"], True),
    ("integer", ["1", "-"], False),
    ("integer", ["1", ""], False),
    ("integer", ["1", "1-"], False),
    ("integer", ["1", "--1"], False),
    ("integer", ["1", "+1"], False),
    ("integer", ["1", "1.0"], False),
    ("integer", ["1", " 1"], False),
    ("integer", ["1", "1\n"], False),
    ("integer", ["1", "٣"], False),  # an Arabic-Indic digit: not [0-9]
    ("integer", ["1", "0x1F"], False),
    ("numeric", ["3708.01", "-0.5", "12", ".5", "5.", "-.5", "-"], True),  # the cast refuses "-"
    ("numeric", ["", "1"], True),  # empties are filled before the check; the regex accepts them too
    ("numeric", ["1.2.3"], False),
    ("numeric", ["1", "2-"], False),
    ("numeric", ["1e5"], False),
    ("numeric", ["1,5"], False),
    ("double", ["0.2232", "12", "12.", ".5", "-.5", "-3.25"], True),
    ("double", ["."], False),
    ("double", ["-"], False),
    ("double", ["-."], False),
    ("double", ["1e5"], False),  # the regex accepts it: only the quick check says no
    ("double", ["+1.5"], False),
    ("double", ["nan"], False),
    ("date", ["2023-08-02", "0001-01-01", "9999-12-31"], True),
    ("date", ["2023-08-02", "2023-8-02"], False),
    ("date", ["2023/08/02"], False),
    ("date", ["2023-08-02 "], False),
    ("date", ["2023-08-0x"], False),
    ("date", ["２023-08-02"], False),  # a fullwidth digit: three bytes
    ("timestamp", ["2023-08-02 21:47:00", "2023-08-02T00:00:59", "2023-08-02 23:59:59"], True),
    ("timestamp", ["2023-08-02 21:47", "2023-08-02T09:05"], True),
    ("timestamp", ["2023-08-02", "2023-08-03"], True),
    ("timestamp", ["2023-08-02 24:00:00"], False),
    ("timestamp", ["2023-08-02 29:00:00"], False),
    ("timestamp", ["2023-08-02 30:00:00"], False),
    ("timestamp", ["2023-08-02 12:60:00"], False),
    ("timestamp", ["2023-08-02 12:00:60"], False),
    ("timestamp", ["2023-08-02X12:00:00"], False),
    ("timestamp", ["2023-08-02/12:00:00"], False),  # between " " and "T": outside both
    ("timestamp", ["2023-08-02512:00"], False),
    ("timestamp", ["2023-08-02 12:00:00", "2023-08-02 12:00"], False),  # two widths: the regex decides
    ("timestamp", ["2023-08-02 12:00:00.5"], False),  # fractions: the regex decides
    ("timestamp", ["2023-08-02 12-00-00"], False),
]


@pytest.mark.parametrize(("check", "values", "quick"), CASES)
def test_each_case_against_the_regex(check, values, quick):
    array = pa.array(values, pa.string())
    test, pattern = CHECKS[check]
    assert test(array) is quick
    if quick:
        assert regex_accepts(array, pattern)
    assert_sound(array)


def test_a_slice_is_read_from_its_own_bytes():
    array = pa.array(["x", "12", "-3", "y"], pa.string())
    assert fastguards.plain_numbers(array.slice(1, 2), point=False)
    assert not fastguards.plain_numbers(array.slice(0, 2), point=False)
    assert not fastguards.plain_numbers(array.slice(2, 2), point=False)
    dates = pa.array(["bad", "2023-01-01", "2023-01-02", "bad!"], pa.string())
    assert fastguards.dates(dates.slice(1, 2))
    assert not fastguards.dates(dates.slice(1, 3))
    text = pa.array(["a\x00", "b", "c\\."], pa.string())
    assert fastguards.without(text.slice(1, 1), b"\x00")
    assert not fastguards.without(text.slice(0, 2), b"\x00")
    assert fastguards.without(text.slice(0, 2), b"\\.")
    assert not fastguards.without(text.slice(1, 2), b"\\.")
    assert fastguards.at_most_bytes(text.slice(1, 1), 1)
    assert not fastguards.at_most_bytes(text.slice(1, 2), 2)


def test_what_only_the_regex_can_answer():
    for array in (
        pa.array([], pa.string()),
        pa.array(["1", None], pa.string()),
        pa.array(["1"], pa.large_string()),
        pa.array([1], pa.int64()),
        pa.chunked_array([["1"]], pa.string()),
    ):
        assert not fastguards.plain_numbers(array, point=False)
        assert not fastguards.dates(array)
        assert not fastguards.timestamps(array)
        assert not fastguards.without(array, b"\x00")
        assert not fastguards.at_most_bytes(array, 5)
    assert fastguards.without(pa.array(["", ""], pa.string()), b"\x00")  # all empty: no bytes at all
    assert not fastguards.plain_numbers(pa.array(["", ""], pa.string()), point=False)


def test_a_dash_that_starts_the_value_after_an_empty_one():
    array = pa.array(["", "-1", "", "", "-22"], pa.string())
    assert fastguards.plain_numbers(array, point=True, digit_needed=False)
    assert regex_accepts(array, _NUMERIC_RE)
    assert not fastguards.plain_numbers(array, point=False)  # empty integers: the regex refuses them


ALPHABET = "0123456789-.+eE :T\n\x00\\Z/٣é"
values = st.text(alphabet=ALPHABET, max_size=22)
shaped = st.one_of(
    values,
    st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{0,3})?", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?", fullmatch=True),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(shaped, min_size=1, max_size=12), st.integers(0, 3), st.integers(0, 3))
def test_the_quick_checks_never_accept_what_the_regex_refuses(items, cut_front, cut_back):
    array = pa.array(["junk"] * cut_front + items + ["junk!"] * cut_back, pa.string())
    assert_sound(array.slice(cut_front, len(items)))
    assert_sound(array)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["-1", "12", "3.5", "-.25", "7.", "0"]), min_size=1, max_size=30))
def test_plain_numbers_take_the_quick_check(items):
    array = pa.array(items, pa.string())
    assert fastguards.plain_numbers(array, point=True, digit_needed=False)
    assert fastguards.plain_numbers(array, point=True)
    assert fastguards.plain_numbers(array, point=False) is all("." not in item for item in items)
