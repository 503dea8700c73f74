"""Named parameters become driver placeholders without touching literals, comments or casts."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal

import pytest

from connectors.sql import compile_named, to_json, unique_columns
from hub.errors import InputError


def test_named_parameters_become_numbered_placeholders_and_repeat_the_same_number() -> None:
    q = compile_named("SELECT * FROM t WHERE a = :line_code OR b = :line_code AND c = :x", "postgres")
    assert q.text == "SELECT * FROM t WHERE a = $1 OR b = $1 AND c = $2"
    assert q.names == ("line_code", "x")


def test_mysql_gets_one_question_mark_per_occurrence() -> None:
    q = compile_named("SELECT :a, :b, :a", "mysql")
    assert q.text == "SELECT ?, ?, ?"
    assert q.bind({"a": 1, "b": 2}) == [1, 2, 1]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ':not_a_param'",
        "SELECT 'it''s :no'",
        'SELECT "col:umn"',
        "SELECT 1 -- :comment\n",
        "SELECT 1 /* :block /* nested :x */ still */",
        "SELECT $$ :dollar $$",
        "SELECT $tag$ :dollar $tag$",
        "SELECT E'\\' :escaped'",
        "SELECT '1'::int, x::text",
        "SELECT arr[1:2]",
    ],
)
def test_postgres_literals_comments_and_casts_hold_no_parameters(sql: str) -> None:
    q = compile_named(sql, "postgres")
    assert q.names == ()
    assert q.text == sql


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ':x'",
        "SELECT '\\' :x'",
        "SELECT `:x`",
        'SELECT "a\\" :x"',
        "SELECT 1 # :x\n",
        "SELECT 1 -- :x\n",
    ],
)
def test_mysql_literals_and_comments_hold_no_parameters(sql: str) -> None:
    assert compile_named(sql, "mysql").names == ()


def test_a_cast_right_after_a_parameter_stays_a_cast() -> None:
    q = compile_named("SELECT :day::date", "postgres")
    assert q.text == "SELECT $1::date"


@pytest.mark.parametrize(("sql", "dialect"), [("SELECT $1", "postgres"), ("SELECT ?", "mysql")])
def test_positional_placeholders_are_refused(sql: str, dialect: str) -> None:
    with pytest.raises(InputError):
        compile_named(sql, dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize("sql", ["SELECT 'open", "SELECT /* open", "SELECT $q$ open"])
def test_unterminated_literals_are_input_errors(sql: str) -> None:
    with pytest.raises(InputError):
        compile_named(sql, "postgres")


def test_missing_and_unexpected_parameters_are_named_in_the_error() -> None:
    q = compile_named("SELECT :a, :b", "postgres")
    with pytest.raises(InputError) as info:
        q.bind({"a": 1, "zzz": 2})
    assert ":b" in info.value.message
    assert ":zzz" in info.value.message
    assert info.value.where == "params"


def test_database_values_become_json_safe() -> None:
    assert to_json(Decimal("12.50")) == "12.50"
    assert to_json(dt.date(2026, 1, 2)) == "2026-01-02"
    assert to_json(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05+00:00"
    assert to_json(dt.time(6, 30)) == "06:30:00"
    assert to_json(dt.timedelta(hours=1)) == 3600.0
    assert to_json(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert to_json(b"\x00\xff") == "AP8="
    assert to_json(math.nan) == "NaN"
    assert to_json(-math.inf) == "-Infinity"
    assert to_json({"a": [Decimal(1), (2, 3)]}) == {"a": ["1", [2, 3]]}


def test_duplicate_column_names_are_made_unique() -> None:
    assert unique_columns(["a", "a", "b", "a"]) == ("a", "a_2", "b", "a_3")
