"""The vectorised profiler agrees with the per-value rules (jobs.inspection.profile.classify_value).

The profiler finds most classes with Arrow and numpy kernels; `per_value=True` sends every value
through classify_value instead. These tests compare the two value by value (class and comparison
key) and as whole profiles, on hand-picked edge cases and on generated values.
"""

from __future__ import annotations

import collections
import dataclasses
import random
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.inspection.profile import BATCH_VALUES, ColumnProfiler, classify_value

EDGE_CASES = [
    # integers
    "0",
    "1",
    "-0",
    "-1",
    "7",
    "42",
    "007",
    "-01",
    "00",
    "32767",
    "32768",
    "-32768",
    "-32769",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "999999999999999999",
    "-999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "1" + "0" * 999,
    "1" + "0" * 1000,
    "-" + "9" * 1000,
    "+5",
    "1,234",
    "1_000",
    "0x1F",
    "١٢٣",
    "²",
    " 42",
    "42 ",
    "\t42\n",
    "\xa042",
    "42\u3000",
    "\x1c7\x1f",
    " -5 ",
    "- 5",
    "--5",
    "-",
    # decimals
    "1.5",
    "1.50",
    "-12.50",
    ".5",
    "5.",
    "-.5",
    "-0.0",
    "0.0",
    "00.5",
    "01.5",
    ".",
    "-.",
    "1.2.3",
    "1e5",
    "2.5E-3",
    "NaN",
    "inf",
    "-inf",
    " 3.25 ",
    "1." + "0" * 999,
    "1." + "0" * 1000,
    "12345678901234567890123456789012345678901.5",
    "9" * 80 + ".25",
    "-" + "9" * 70 + ".123",
    # ISO dates and times
    "2021-01-01",
    "2020-02-29",
    "2021-02-29",
    "1900-02-29",
    "2000-02-29",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "2021-13-01",
    "2021-00-10",
    "2021-04-31",
    "2021-04-00",
    "2021-1-01",
    "2021-01-01T00:00",
    "2021-01-01 23:59",
    "2021-01-01T24:00",
    "2021-01-01T23:60",
    "2021-01-01T10:00:59",
    "2021-01-01T10:00:60",
    "2021-01-01T10:00:00.1",
    "2021-01-01T10:00:00.123456",
    "2021-01-01T10:00:00.1234567",
    "2021-01-01T10:00Z",
    "2021-01-01T10:00:00Z",
    "2021-01-01T10:00:00.5Z",
    "2021-01-01T10:00+01:00",
    "2021-01-01T10:00:00-05:30",
    "2021-01-01T10:00:00+23:59",
    "2021-01-01T10:00:00+24:00",
    "2021-01-01T10:00:00+05:60",
    "2021-01-01T10:00:00+05:99",
    "2021-01-01T10:00:00-23:59",
    "0001-01-01T00:00+01:00",
    "9999-12-31T23:59-01:00",
    "2021-01-01T10:00:00.000001+00:00",
    "2021-01-01t10:00",
    "2021-01-01T10",
    "2021-01-01T1:00",
    "2021-01-01 10:00:00 ",
    " 2021-01-01",
    "2021-01-01T10:00:00+0100",
    "2021-01-01T10:00:00.Z",
    "20210101",
    "2021/01/01",
    # day/month dates
    "31/12/2021",
    "12/31/2021",
    "01/02/2021",
    "1/2/2021",
    "13/13/2021",
    "31.12.2021",
    "1.5.2021",
    "31/12/2021 10:00",
    "31/12/2021 10:00:05",
    "31/12/2021 10:00:05.25",
    "2021/12/31",
    "2021/2/30",
    "30/02/2021",
    "31/12/21",
    # booleans and words
    "true",
    "True",
    "TRUE",
    "t",
    "T",
    "yes",
    "Y",
    "n",
    "no",
    "NO",
    "false",
    "F",
    "on",
    "off",
    "yess",
    "tru",
    " true ",
    "ｔrue",
    "K",
    "y\u0307",
    # text
    "",
    " ",
    "   ",
    "\t",
    "abc",
    "NA",
    "Namibia",
    "héllo",
    "日本",
    "a\x00b",
    "\x00",
    " 4\x00",
    "x" * 201,
    "1" * 205,
    "Main St. 12345678",
]


def _keys_equal(vectorised, reference) -> bool:
    if isinstance(reference, Decimal):
        return Decimal(vectorised) == reference
    return vectorised == reference


def _classified(values: list[str]):
    profiler = ColumnProfiler(null_markers=())
    batch = profiler._classify(pa.array(values, pa.string()))
    keys: dict[int, dict] = {position: keys for position, _token, keys in batch.per_value}
    for position in np.flatnonzero(batch.by_number).tolist():
        keys[position] = {"": int(batch.numbers[position])}
    return batch, keys


def _check_value_by_value(values: list[str]) -> None:
    batch, keys = _classified(values)
    texts = batch.text.to_pylist()
    for position, value in enumerate(values):
        token, stripped, reference_keys = classify_value(value)
        assert batch.tokens[position] == token, (value, batch.tokens[position], token)
        assert texts[position] == stripped, value
        if reference_keys and position in keys:  # decimals' keys are compared through the profiles
            assert keys[position].keys() == reference_keys.keys(), value
            for interpretation, key in reference_keys.items():
                assert _keys_equal(keys[position][interpretation], key), (value, keys[position], key)


def _state(profiler: ColumnProfiler) -> dict:
    result = profiler.result()
    return {
        "result": result,
        "counts": profiler._counts.tolist(),
        "layouts": profiler._layouts,
        "ranges": profiler._ranges,
        "examples": profiler._examples,
        "digits": (profiler._decimal_digits, profiler._scale),
        "words": (profiler._true_words, profiler._false_words, profiler._zero_one),
    }


def _profiles_agree(values: list[str], **options) -> None:
    vectorised, reference = ColumnProfiler(**options), ColumnProfiler(per_value=True, **options)
    lines = list(range(2, 2 + len(values)))
    vectorised.add_many(values, lines)
    reference.add_many(values, lines)
    assert _state(vectorised) == _state(reference)


def test_every_edge_case_gets_the_class_and_key_of_the_per_value_rules():
    _check_value_by_value(EDGE_CASES)


@pytest.mark.parametrize("value", EDGE_CASES, ids=repr)
def test_each_edge_case_alone_profiles_as_the_per_value_rules_say(value):
    _profiles_agree([value])
    _profiles_agree([value] * 30 + ["7", "2021-01-01", "1.5", "x"])


def test_a_shuffled_column_of_every_edge_case_profiles_alike():
    rng = random.Random(3)
    for _ in range(20):
        values = rng.choices(EDGE_CASES, k=300)
        _profiles_agree(values)
        _profiles_agree(values, null_markers=("", "NA", "-"))


def _iso_like(draw) -> str:
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 19)), draw(st.integers(0, 39))
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if draw(st.booleans()):
        text += draw(st.sampled_from("T ")) + f"{draw(st.integers(0, 29)):02d}:{draw(st.integers(0, 69)):02d}"
        if draw(st.booleans()):
            text += f":{draw(st.integers(0, 69)):02d}"
            if draw(st.booleans()):
                text += "." + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=1, max_size=7)))
        offset = draw(st.sampled_from(["", "Z", "+", "-"]))
        if offset in "+-" and offset:
            offset += f"{draw(st.integers(0, 29)):02d}:{draw(st.integers(0, 99)):02d}"
        text += offset
    return text


@st.composite
def values(draw) -> str:
    kind = draw(st.sampled_from(["int", "decimal", "iso", "day-month", "word", "text", "edge"]))
    if kind == "int":
        text = str(draw(st.integers(-(10**25), 10**25)))
        if draw(st.integers(0, 9)) == 0:
            text = text.replace("-", "-0") if text.startswith("-") else "0" + text
    elif kind == "decimal":
        whole = draw(st.sampled_from(["", "0", "00"])) or str(draw(st.integers(0, 10**20)))
        text = (
            draw(st.sampled_from(["", "-"]))
            + whole
            + "."
            + "".join(draw(st.lists(st.sampled_from("0123456789"), max_size=25)))
        )
    elif kind == "iso":
        text = _iso_like(draw)
    elif kind == "day-month":
        separator = draw(st.sampled_from("/."))
        a, b, year = draw(st.integers(0, 40)), draw(st.integers(0, 40)), draw(st.integers(0, 9999))
        text = f"{a}{separator}{b}{separator}{year:04d}"
        if draw(st.booleans()):
            text += f" {draw(st.integers(0, 25))}:{draw(st.integers(0, 61)):02d}"
    elif kind == "word":
        text = "".join(draw(st.lists(st.sampled_from("tTrRuUeEfFaAlLsSyYnNoO"), min_size=1, max_size=6)))
    elif kind == "text":
        text = draw(st.text(max_size=12))
    else:
        text = draw(st.sampled_from(EDGE_CASES))
    pad = draw(st.sampled_from(["", "", "", " ", "\t", "\xa0", "\u3000", "\x1f"]))
    return pad + text + draw(st.sampled_from(["", "", pad]))


@settings(max_examples=300, deadline=None)
@given(st.lists(values(), min_size=1, max_size=60))
def test_generated_values_get_the_per_value_class_and_key(generated):
    _check_value_by_value(generated)


@settings(max_examples=150, deadline=None)
@given(st.lists(values(), min_size=1, max_size=200))
def test_generated_columns_profile_like_the_per_value_rules(generated):
    _profiles_agree(generated)


def _handed_over_three_ways(values: list[str]) -> list[ColumnProfiler]:
    """The same values one by one, in lists, and as Arrow arrays of random sizes."""
    rng = random.Random(5)
    lines = np.arange(2, 2 + len(values))
    one_by_one, listed, arrays = ColumnProfiler(), ColumnProfiler(), ColumnProfiler()
    for value, line in zip(values, lines.tolist(), strict=True):
        one_by_one.add(value, line)
    for start in range(0, len(values), 7_001):
        listed.add_many(values[start : start + 7_001], lines[start : start + 7_001].tolist())
    start = 0
    while start < len(values):
        size = rng.randrange(1, 3 * BATCH_VALUES)
        arrays.add_array(pa.array(values[start : start + size]), lines[start : start + size])
        start += size
    return [one_by_one, listed, arrays]


def _pool(distinct: int) -> list[str]:
    rng = random.Random(11)
    pool = ["1", "2", "007", "", "NULL", "3.5", "2026-01-02", "x", "true", "99999999999", "31/12/2020"]
    return [rng.choice(pool) + (str(rng.randrange(distinct)) if rng.random() < 0.5 else "") for _ in range(60_000)]


def test_how_values_are_handed_over_does_not_change_an_exact_profile():
    profiles = _handed_over_three_ways(_pool(distinct=500))
    results = [profiler.result() for profiler in profiles]
    assert not any(profiler.approximate for profiler in profiles)
    assert results[0] == results[1] == results[2]


def test_past_the_cap_only_the_estimates_depend_on_the_batches():
    values = _pool(distinct=30_000)
    profiles = _handed_over_three_ways(values)
    results = [profiler.result() for profiler in profiles]
    assert all(profiler.approximate for profiler in profiles)
    exact = [dataclasses.replace(result, distinct_estimate=0, top_values=[]) for result in results]
    assert exact[0] == exact[1] == exact[2]
    truth = collections.Counter(value for value in values if value not in ("", "NULL"))
    for profiler, result in zip(profiles, results, strict=True):
        assert abs(result.distinct_estimate - len(truth)) <= 0.03 * len(truth)
        for value, count in result.top_values:
            assert truth[value] - profiler.top_values_error <= count <= truth[value]


def test_a_missing_field_in_an_arrow_array_is_not_counted():
    profiler = ColumnProfiler()
    profiler.add_array(pa.array(["1", None, "", "3"]), np.array([2, 3, 4, 5]))
    result = profiler.result()
    assert (result.rows, result.null_count, result.type_sql) == (3, 1, "smallint")


def test_no_value_after_the_result():
    profiler = ColumnProfiler()
    profiler.add("1", 2)
    profiler.result()
    with pytest.raises(RuntimeError):
        profiler.add_array(pa.array(["2"]), np.array([3]))
