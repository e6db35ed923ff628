"""jobs.expressions: the calculated-column language, its limits and its sandbox."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from jobs.expressions import (
    MAX_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_NODES,
    MAX_TEXT_LENGTH,
    CompiledExpression,
    ExpressionError,
    compile_expression,
)


def evaluate(text: str, **values):
    return compile_expression(text, values).evaluate(values)


def compile_error(text: str, names=("x", "s", "qty")) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, names)
    return caught.value


def row_error(text: str, **values) -> ExpressionError:
    expression = compile_expression(text, values)
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(values)
    return caught.value


def same(value, expected) -> bool:
    """Equal, of the same type, and for decimals with the same digits (7.50 is not 7.5)."""
    return type(value) is type(expected) and str(value) == str(expected)


# -- arithmetic --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2", 3),
        ("10 - 12", -2),
        ("6 * 7", 42),
        ("7 / 2", Decimal("3.5")),
        ("6 / 3", Decimal("2")),
        ("1 / 3", Decimal("0.3333333333333333333333333333333333")),
        ("0.1 + 0.2", Decimal("0.3")),
        ("2 * 3.10", Decimal("6.20")),
        ("10 - 2.5", Decimal("7.5")),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("-7.5 // 2", Decimal("-4")),
        ("7.5 // -2", Decimal("-4")),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("7 % -3", -2),
        ("-7.5 % 2", Decimal("0.5")),
        ("7.5 % 2", Decimal("1.5")),
        ("2 ** 10", 1024),
        ("2 ** -2", Decimal("0.25")),
        ("1.5 ** 2", Decimal("2.25")),
        ("9 ** 0.5", Decimal("3.000000000000000000000000000000000")),
        ("0 ** 0", 1),
        ("-(3)", -3),
        ("+3", 3),
        ("-2.50", Decimal("-2.50")),
        ("1e3", Decimal("1E+3")),
        ("1_000.5 + 0", Decimal("1000.5")),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
    ],
)
def test_arithmetic_is_exact(text, expected):
    assert same(evaluate(text), expected)


def test_integers_and_decimals_from_columns_stay_exact():
    assert same(evaluate("qty * price", qty=3, price=Decimal("2.50")), Decimal("7.50"))
    assert same(evaluate("price / qty", qty=4, price=Decimal("10.00")), Decimal("2.50"))
    assert same(evaluate("price - discount", price=Decimal("0.30"), discount=Decimal("0.10")), Decimal("0.20"))


def test_decimals_keep_more_than_28_digits():
    big = Decimal("9" * 38)

    assert same(evaluate("x + 1", x=big), Decimal("1" + "0" * 38))
    assert same(
        evaluate("-x", x=Decimal("1234567890123456789012345678901234.5")),
        Decimal("-1234567890123456789012345678901234.5"),
    )
    assert same(evaluate("x * x", x=big), Decimal(int("9" * 38) ** 2))


def test_a_float_makes_the_result_a_float():
    assert same(evaluate("x * 2", x=0.25), 0.5)
    assert same(evaluate("x + y", x=0.5, y=Decimal("0.25")), 0.75)
    assert same(evaluate("x / 4", x=1.0), 0.25)
    assert same(evaluate("x ** 2", x=1.5), 2.25)


@pytest.mark.parametrize("text", ["qty / zero", "qty // zero", "qty % zero", "qty / dzero", "fqty / zero"])
def test_division_by_zero_is_a_row_error(text):
    error = row_error(text, qty=1, zero=0, dzero=Decimal("0.00"), fqty=1.5)

    assert error.reason == "division by zero"
    assert str(error) == "division by zero at character 1 of the expression"


@pytest.mark.parametrize("text", ["1 / 0", "1 // 0.0", "5 % 0", "0 ** -1"])
def test_division_by_zero_in_constants_fails_when_compiling(text):
    assert compile_error(text).reason == "division by zero"


def test_a_negative_number_to_a_fractional_power():
    error = row_error("x ** 0.5", x=-4)

    assert error.reason == "-4 ** 0.5 is not a real number (a negative number to a fractional power)"


# -- text ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'a' + 'b'", "ab"),
        ("upper(s)", "STRASSE É"),
        ("lower('ÀB')", "àb"),
        ("trim('  a b  ')", "a b"),
        ("ltrim('  a  ')", "a  "),
        ("rtrim('  a  ')", "  a"),
        ("title('hello wORLD')", "Hello World"),
        ("length('héllo')", 5),
        ("length('')", 0),
        ("replace('a-b-c', '-', '+')", "a+b+c"),
        ("replace('abc', '', 'x')", "abc"),
        ("replace('aaa', 'a', '')", ""),
        ("substring('héllo', 2, 3)", "éll"),
        ("substring('hello', 2)", "ello"),
        ("substring('hello', 0, 3)", "he"),
        ("substring('hello', -1, 3)", "h"),
        ("substring('hello', 10)", ""),
        ("substring('hello', 2, 0)", ""),
        ("left('hello', 2)", "he"),
        ("left('hello', -2)", "hel"),
        ("left('hello', 10)", "hello"),
        ("right('hello', 2)", "lo"),
        ("right('hello', -2)", "llo"),
        ("right('hello', 0)", ""),
        ("right('hello', 10)", "hello"),
        ("concat('a', 1, None, 2.50, True)", "a12.50true"),
        ("concat(None)", ""),
    ],
)
def test_text_functions(text, expected):
    assert same(evaluate(text, s="straße é"), expected)


def test_concat_shows_each_kind_as_text():
    values = {
        "day": date(2024, 1, 31),
        "moment": datetime(2024, 1, 31, 13, 45, tzinfo=UTC),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": Decimal("7.50"),
    }

    assert evaluate("concat(day, '|', moment, '|', id, '|', price)", **values) == (
        "2024-01-31|2024-01-31 13:45:00+00:00|12345678-1234-5678-1234-567812345678|7.50"
    )


def test_substring_length_cannot_be_negative():
    assert row_error("substring(s, 1, n)", s="abc", n=-1).reason == "substring() length cannot be negative (-1)"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("upper(n)", "upper() needs text, not number 3"),
        ("length(n)", "length() needs text, not number 3"),
        ("substring(s, d)", "substring() needs a whole number for the start, not 1.5"),
        ("left(s, s)", "left() needs a whole number for the count, not 'abc'"),
        ("round(s)", "round() needs a number, not text 'abc'"),
    ],
)
def test_functions_check_their_arguments(text, reason):
    assert row_error(text, n=3, s="abc", d=Decimal("1.5")).reason == reason


def test_a_whole_decimal_is_accepted_as_a_count():
    assert evaluate("left(s, n)", s="hello", n=Decimal("2")) == "he"


# -- numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("round(2.5)", Decimal("3")),
        ("round(-2.5)", Decimal("-3")),
        ("round(2.45, 1)", Decimal("2.5")),
        ("round(2.449, 2)", Decimal("2.45")),
        ("round(1250, -2)", 1300),
        ("round(7)", 7),
        ("round(7, 2)", 7),
        ("abs(-3)", 3),
        ("abs(-1.50)", Decimal("1.50")),
        ("floor(-2.5)", -3),
        ("floor(2.5)", 2),
        ("ceil(2.1)", 3),
        ("ceil(-2.1)", -2),
        ("floor(7)", 7),
    ],
)
def test_number_functions(text, expected):
    assert same(evaluate(text), expected)


def test_number_functions_on_floats():
    assert same(evaluate("round(x, 2)", x=2.675), 2.67)  # as Python rounds the binary float
    assert same(evaluate("floor(x)", x=2.7), 2)
    assert same(evaluate("abs(x)", x=-0.5), 0.5)
    assert row_error("floor(x)", x=math.inf).reason == "floor() needs a finite number, not inf"


# -- conversions -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("int(' 42 ')", 42),
        ("int('-7')", -7),
        ("int('+007')", 7),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("int(True)", 1),
        ("decimal('12.50')", Decimal("12.50")),
        ("decimal(' 1e3 ')", Decimal("1E+3")),
        ("decimal(3)", Decimal("3")),
        ("float('1.5')", 1.5),
        ("float(' -2e3 ')", -2000.0),
        ("float(2)", 2.0),
        ("float(0.1)", 0.1),
        ("str(1.50)", "1.50"),
        ("str(42)", "42"),
        ("str(True)", "true"),
        ("str('x')", "x"),
    ],
)
def test_conversions(text, expected):
    assert same(evaluate(text), expected)


def test_conversions_of_column_values():
    assert same(evaluate("decimal(x)", x=0.1), Decimal("0.1"))  # the float's shortest text, not its binary value
    assert same(evaluate("float(x)", x="inf"), math.inf)
    assert evaluate("str(x)", x=date(2024, 1, 31)) == "2024-01-31"
    assert evaluate("str(x)", x=datetime(2024, 1, 31, 13, 45)) == "2024-01-31 13:45:00"
    assert evaluate("str(x)", x=None) is None
    assert evaluate("int(x)", x=None) is None


@pytest.mark.parametrize(
    ("text", "value", "reason"),
    [
        ("int(x)", "3.5", "int() cannot read '3.5' as a whole number"),
        ("int(x)", "١٢", "int() cannot read '١٢' as a whole number"),
        ("int(x)", "1_000", "int() cannot read '1_000' as a whole number"),
        ("int(x)", "1" * 1001, f"int() of {'1' * 40 + '…'!r}: the number has more than 1,000 digits"),
        ("int(x)", date(2024, 1, 1), "int() cannot convert date 2024-01-01"),
        ("decimal(x)", "abc", "decimal() cannot read 'abc' as a number"),
        ("decimal(x)", "NaN", "decimal() cannot read 'NaN' as a number"),
        ("decimal(x)", "1e5000", "the result has more than 1,000 digits"),
        ("float(x)", "abc", "float() cannot read 'abc' as a number"),
        ("float(x)", "1e400", "float() of '1e400': the number is too large for a float"),
        ("float(x)", 10**400, f"float() of {'1' + '0' * 39 + '…'}: the number is too large for a float"),
    ],
)
def test_conversion_errors(text, value, reason):
    assert row_error(text, x=value).reason == reason


# -- NULL ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "x + 1",
        "1 - x",
        "x * 2",
        "x / 2",
        "x ** 2",
        "-x",
        "x < 1",
        "x >= 'a'",
        "'a' in x",
        "x in ('a', 'b')",
        "upper(x)",
        "length(x)",
        "substring(x, 1)",
        "substring('abc', x)",
        "round(x)",
        "int(x)",
        "nullif(x, 1)",
    ],
)
def test_null_in_gives_null_out(text):
    assert evaluate(text, x=None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("coalesce(x, y, 'z')", "z"),
        ("coalesce(x, 0)", 0),
        ("coalesce(x)", None),
        ("nullif('', '')", None),
        ("nullif('a', '')", "a"),
        ("nullif(3, 3)", None),
        ("min(3, x, 1)", 1),
        ("max(3, x, 1)", 3),
        ("max(x, y)", None),
        ("min('b', 'a')", "a"),
        ("x == None", True),
        ("x != None", False),
        ("x is None", True),
        ("x is not None", False),
        ("not x", True),
        ("x or 'default'", "default"),
        ("x and 'never'", None),
        ("'yes' if x else 'no'", "no"),
    ],
)
def test_null_aware_functions_and_tests(text, expected):
    assert same(evaluate(text, x=None, y=None), expected)


def test_min_and_max_of_dates():
    early, late = date(2024, 1, 1), date(2024, 2, 1)

    assert evaluate("min(a, b)", a=late, b=early) == early
    assert evaluate("max(a, b)", a=late, b=early) == late


# -- comparisons and logic -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 == 1.0", True),
        ("2 != 2", False),
        ("1 < 2.5", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ("3 >= 3", True),
        ("0 < 5 <= 10", True),
        ("0 < 15 <= 10", False),
        ("'b' > 'a'", True),
        ("'a' == 'a'", True),
        ("True == False", False),
        ("'@' in 'a@b'", True),
        ("'x' not in 'abc'", True),
        ("'b' in ('a', 'b')", True),
        ("'c' not in ('a', 'b')", True),
        ("2 in [1, 2]", True),
        ("True and 'x'", "x"),
        ("0 or 'x'", "x"),
        ("not ''", True),
        ("'adult' if 20 >= 18 else 'minor'", "adult"),
    ],
)
def test_comparisons_and_logic(text, expected):
    assert same(evaluate(text), expected)


def test_dates_compare_with_dates():
    assert evaluate("a < b", a=date(2024, 1, 1), b=date(2024, 1, 2)) is True
    assert evaluate("a == b", a=date(2024, 1, 1), b=date(2024, 1, 1)) is True


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        (
            "qty == 3",
            {"qty": "3"},
            "'==' does not work on text and number at character 1 of the expression "
            "(convert text with int() or decimal(), or a number with str())",
        ),
        (
            "qty * 2",
            {"qty": "3"},
            "'*' does not work on text and number at character 1 of the expression "
            "(text cannot be repeated; convert text with int() or decimal(), or a number with str())",
        ),
        ("flag + 1", {"flag": True}, "'+' does not work on boolean and number at character 1 of the expression"),
        (
            "day < moment",
            {"day": date(2024, 1, 1), "moment": datetime(2024, 1, 1)},
            "'<' does not work on date and timestamp at character 1 of the expression "
            "(a date and a timestamp are different kinds of value)",
        ),
        ("day + 1", {"day": date(2024, 1, 1)}, "'+' does not work on date and number at character 1 of the expression"),
        (
            "1 in s",
            {"s": "123"},
            "'in' does not work on number and text at character 1 of the expression "
            "(convert text with int() or decimal(), or a number with str())",
        ),
        ("-s", {"s": "1"}, "'-' does not work on text at character 1 of the expression"),
        (
            "a < b",
            {"a": datetime(2024, 1, 1), "b": datetime(2024, 1, 1, tzinfo=UTC)},
            "cannot compare 2024-01-01 00:00:00 and 2024-01-01 00:00:00+00:00 with '<' "
            "at character 1 of the expression",
        ),
    ],
)
def test_values_of_different_kinds_do_not_mix(text, values, message):
    assert str(row_error(text, **values)) == message


# -- names -----------------------------------------------------------------------------------
def test_names_are_read_in_order_of_appearance_once_each():
    expression = compile_expression("b + a * b - c", ["a", "b", "c", "d"])

    assert isinstance(expression, CompiledExpression)
    assert expression.names == ("b", "a", "c")
    assert expression.evaluate({"a": 2, "b": 3, "c": 4}) == 5


def test_an_unknown_name_is_named_with_its_place_and_the_available_names():
    error = compile_error("qty * prise", names=["qty", "price", "Unit Price", "class"])

    assert error.position == 7
    assert str(error) == "unknown name 'prise' at character 7 of the expression (available names: qty, price)"


def test_the_first_unknown_name_in_reading_order_is_reported():
    assert compile_error("a + upper(b) * c", names=[]).reason == "unknown name 'a'"


def test_a_function_used_as_a_name():
    assert str(compile_error("upper")) == (
        "unknown name 'upper' at character 1 of the expression (upper is a function: call it as upper(...))"
    )


def test_without_a_list_of_names_any_name_is_accepted():
    assert compile_expression("anything * else_", None).names == ("anything", "else_")


def test_a_name_without_a_value_when_evaluating():
    expression = compile_expression("x + 1", ["x"])

    with pytest.raises(ExpressionError) as caught:
        expression.evaluate({})
    assert str(caught.value) == "no value for 'x' at character 1 of the expression"


def test_names_are_matched_as_python_reads_identifiers():
    # Python folds identifiers to NFKC: the ligature "ﬁ" is read as "fi".
    assert compile_expression("ﬁeld + 1", ["ﬁeld"]).evaluate({"ﬁeld": 1}) == 2


# -- positions and syntax ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 +", "syntax error at character 1 of the expression (invalid syntax)"),
        ("qty qty", "syntax error at character 5 of the expression (invalid syntax)"),
        ("  'é' + qtty", "unknown name 'qtty' at character 9 of the expression (available names: x, s, qty)"),
        ("(qty +\n  qtty)", "unknown name 'qtty' at character 10 of the expression (available names: x, s, qty)"),
        ("x if qty", "syntax error at character 1 of the expression (expected 'else' after 'if' expression)"),
        ("1; 2", "syntax error at character 2 of the expression (invalid syntax)"),
        ("import os", "syntax error at character 1 of the expression (invalid syntax)"),
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
    ],
)
def test_syntax_errors_say_where(text, message):
    assert str(compile_error(text)) == message


def test_a_row_error_says_where_in_the_expression():
    error = row_error("concat(s, '-', qty / zero)", s="a", qty=1, zero=0)

    assert str(error) == "division by zero at character 16 of the expression"


# -- limits and the sandbox ----------------------------------------------------------------------
FUNCTIONS = (
    "abs, ceil, coalesce, concat, decimal, float, floor, int, left, length, lower, ltrim, max, min, nullif, "
    "replace, right, round, rtrim, str, substring, title, trim, upper"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9**9**9", "the exponent 387420489 is too large (at most 1,000,000) at character 1 of the expression"),
        ("10 ** 1000", "the result has more than 1,000 digits at character 1 of the expression"),
        ("10 ** 999 * 10 ** 999", "the result has more than 1,000 digits at character 1 of the expression"),
        ("1" + "0" * 1000, "the number has more than 1,000 digits at character 1 of the expression"),
        (
            "'a'*10**9",
            "'*' does not work on text and number at character 1 of the expression "
            "(text cannot be repeated; convert text with int() or decimal(), or a number with str())",
        ),
        ("'%s' % 'x'", "'%' does not work on text and text at character 1 of the expression"),
        (
            "(" * 1000 + "1" + ")" * 1000,
            "syntax error at character 201 of the expression (too many nested parentheses)",
        ),
        (
            "-(" * 1000 + "1" + ")" * 1000,
            "syntax error at character 402 of the expression (too many nested parentheses)",
        ),
        (
            "-" * 1000 + "1",
            f"the expression is nested more than {MAX_DEPTH} levels deep at character 101 of the expression",
        ),
        (
            "not " * 200 + "x",
            f"the expression is nested more than {MAX_DEPTH} levels deep at character 401 of the expression",
        ),
        ("-" * 9999 + "1", f"the expression is nested more than {MAX_DEPTH} levels deep"),
        ("1" + "+1" * 4999, f"the expression is nested more than {MAX_DEPTH} levels deep"),
        (
            "concat(" + ", ".join(["x"] * MAX_NODES) + ")",
            "the expression has more than 1,000 parts (split it over several calculated columns)",
        ),
        ("x" * (MAX_EXPRESSION_LENGTH + 1), "the expression is 10,001 characters long, more than the 10,000 allowed"),
        ("[x for x in range(10**9)]", "comprehensions are not allowed at character 1 of the expression"),
        ("(x for x in s)", "comprehensions are not allowed at character 1 of the expression"),
        ("{x: 1 for x in s}", "comprehensions are not allowed at character 1 of the expression"),
        (
            "__import__('os')",
            f"function '__import__' is not available at character 1 of the expression (functions: {FUNCTIONS})",
        ),
        (
            "().__class__.__bases__[0].__subclasses__()",
            "attribute access ('.__subclasses__') is not allowed at character 1 of the expression (use the functions)",
        ),
        (
            "'{0.__class__}'.format(1)",
            "attribute access ('.format') is not allowed at character 1 of the expression (use the functions)",
        ),
        (
            "x.__class__",
            "attribute access ('.__class__') is not allowed at character 1 of the expression (use the functions)",
        ),
        (
            "open('/etc/passwd')",
            f"function 'open' is not available at character 1 of the expression (functions: {FUNCTIONS})",
        ),
        ("exec('1')", f"function 'exec' is not available at character 1 of the expression (functions: {FUNCTIONS})"),
        ("eval('1')", f"function 'eval' is not available at character 1 of the expression (functions: {FUNCTIONS})"),
        (
            "getattr(x, 'y')",
            f"function 'getattr' is not available at character 1 of the expression (functions: {FUNCTIONS})",
        ),
        ("globals()", f"function 'globals' is not available at character 1 of the expression (functions: {FUNCTIONS})"),
        ("type(x)", f"function 'type' is not available at character 1 of the expression (functions: {FUNCTIONS})"),
        ("__builtins__", "names starting with '__' are not allowed ('__builtins__') at character 1 of the expression"),
        ("f'{x}'", "f-strings are not allowed at character 1 of the expression (use concat())"),
        ("f'{x:>{10**9}}'", "f-strings are not allowed at character 1 of the expression (use concat())"),
        ("lambda: 1", "lambda is not allowed at character 1 of the expression"),
        (
            "x[0]",
            "indexing and slicing (x[...]) are not allowed at character 1 of the expression "
            "(use substring(), left() or right())",
        ),
        ("(y := 1)", "assignment (:=) is not allowed at character 2 of the expression"),
        ("(yield)", "yield is not allowed at character 2 of the expression"),
        ("{**x}", "dict literals are not allowed at character 1 of the expression"),
        ("{1}", "set literals are not allowed at character 1 of the expression"),
        ("1 << 10**9", "operator '<<' is not allowed at character 1 of the expression"),
        ("~1", "operator '~' is not allowed at character 1 of the expression"),
        ("x @ x", "operator '@' is not allowed at character 1 of the expression"),
        (
            "x is 1",
            "'is' only tests for None (x is None) at character 1 of the expression (compare values with == or !=)",
        ),
        (
            "(1, 2)",
            "a list of values is only allowed after 'in' at character 1 of the expression (as in: x in ('a', 'b'))",
        ),
        ("upper(x)(1)", "only the listed functions can be called, by name at character 1 of the expression"),
        ("upper(s=1)", "upper() takes no keyword arguments at character 1 of the expression"),
        ("upper(x, x)", "upper() takes 1 argument (2 given) at character 1 of the expression"),
        ("substring(x)", "substring() takes 2 or 3 arguments (1 given) at character 1 of the expression"),
        ("concat()", "concat() takes at least 1 argument (0 given) at character 1 of the expression"),
        ("1j", "complex numbers are not supported at character 1 of the expression"),
        ("b'x'", "bytes literals are not supported at character 1 of the expression"),
        ("...", "'...' is not allowed at character 1 of the expression"),
        ("1\x00", "syntax error (source code string cannot contain null bytes)"),
    ],
)
def test_what_is_outside_the_language_is_refused_when_compiling(text, message):
    assert str(compile_error(text)) == message


def test_a_refused_call_has_no_side_effect(tmp_path):
    target = tmp_path / "created"

    compile_error(f"open({str(target)!r}, 'w')")

    assert not target.exists()


@pytest.mark.parametrize(
    ("text", "values", "length"),
    [
        ("replace(replace(s, 'a', s), 'a', s)", {"s": "a" * 4000}, 16_000_000),
        ("concat(s, s, s)", {"s": "a" * 4_000_000}, 12_000_000),
        ("s + s", {"s": "a" * 6_000_000}, 12_000_000),
        ("upper(s)", {"s": "ﬃ" * 4_000_000}, 12_000_000),
    ],
)
def test_text_cannot_grow_past_the_limit(text, values, length):
    error = row_error(text, **values)

    assert error.reason == f"the text would be {length:,} characters long, more than the {MAX_TEXT_LENGTH:,} allowed"


def test_numbers_cannot_grow_past_the_limit():
    assert row_error("x * x * x", x=10**400).reason == "the result has more than 1,000 digits"
    assert row_error("x ** 11", x=10**100).reason == (
        f"{'1' + '0' * 39 + '…'} ** 11 would have about 1,100 digits, more than the 1,000 allowed"
    )
    assert row_error("x ** y", x=2, y=10**7).reason == "the exponent 10000000 is too large (at most 1,000,000)"


def test_constant_parts_are_computed_once_when_compiling():
    assert compile_expression("concat(x, upper('a'), 2 ** 10)", ["x"]).evaluate({"x": "b"}) == "bA1024"
    # Even in a branch a row may never take: a constant that cannot be computed is a mistake.
    assert str(compile_error("x if x else 1 / 0")) == "division by zero at character 13 of the expression"


def test_results_are_plain_values():
    assert type(evaluate("x in ('a', 'b')", x="a")) is bool
    assert evaluate("x", x=uuid.UUID(int=1)) == uuid.UUID(int=1)
