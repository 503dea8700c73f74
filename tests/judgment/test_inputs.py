"""Input validation names the exact field; the canonical form is stable."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hub.errors import InputError
from hub.judgment import JudgmentFilter, JudgmentRequest, canonical_json, parse_input

GOOD: dict[str, Any] = {
    "line_code": "L01",
    "shift": "day",
    "date": "2025-01-26",
    "metrics": {"defect_rate": 0.073, "production_qty": 1500},
    "context": {"target_defect_rate": 0.05, "shift_supervisor": "김철수"},
}


def with_(**changes: Any) -> dict[str, Any]:
    out = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not ...}


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ([1], "input"),
        (with_(line_code=...), "input.line_code"),
        (with_(shift=3), "input.shift"),
        (with_(date="26/01/2025"), "input.date"),
        (with_(metrics=...), "input.metrics"),
        (with_(metrics=[]), "input.metrics"),
        (with_(metrics={}), "input.metrics"),
        (with_(metrics={"defect_rate": "7%"}), "input.metrics.defect_rate"),
        (with_(metrics={"defect_rate": True}), "input.metrics.defect_rate"),
        (with_(metrics={"defect_rate": float("nan")}), "input.metrics.defect_rate"),
        (with_(context="x"), "input.context"),
        (with_(context={"a": {"b": [1, object()]}}), "input.context.a.b[1]"),
        (with_(extra=1), "input.extra"),
    ],
)
def test_a_malformed_input_names_the_offending_field(raw: object, where: str) -> None:
    with pytest.raises(InputError) as err:
        parse_input(raw)
    assert err.value.where == where
    assert err.value.code == -32602


def test_a_good_input_round_trips_and_context_is_optional() -> None:
    assert parse_input(GOOD).as_dict() == GOOD
    assert parse_input(with_(context=...)).context == {}


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == '{"a":{"c":"é","d":[1,2]},"b":1}'
    reordered = dict(reversed(list(GOOD.items())))
    assert parse_input(reordered).digest() == parse_input(GOOD).digest()


@pytest.mark.parametrize(
    ("args", "where"),
    [
        ({"input": GOOD, "ruleset_id": "not-a-uuid"}, "ruleset_id"),
        ({"input": GOOD, "ruleset_name": "a", "target_kpi": "b"}, "ruleset"),
        ({"input": GOOD, "policy": {"method": "magic"}}, "policy.method"),
        ({"input": GOOD, "policy": {"confidence_threshold": 2}}, "policy.confidence_threshold"),
        ({"input": GOOD, "policy": {"use_cache": "yes"}}, "policy.use_cache"),
        ({"input": GOOD, "source": "email"}, "source"),
        ({"input": GOOD, "evidence": []}, "evidence"),
        ({}, "input"),
    ],
)
def test_tool_arguments_are_checked_field_by_field(args: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as err:
        JudgmentRequest.from_arguments(args)
    assert err.value.where == where


def test_tool_arguments_build_a_request() -> None:
    req = JudgmentRequest.from_arguments(
        {"input": GOOD, "target_kpi": "defect_rate", "policy": {"method": "hybrid", "use_cache": False}}
    )
    assert (req.ruleset.target_kpi, req.policy.method, req.policy.use_cache, req.source) == (
        "defect_rate",
        "hybrid",
        False,
        "api",
    )
    assert req.cache_payload()["ruleset"] == {"target_kpi": "defect_rate"}


def test_list_arguments_become_a_filter_with_utc_instants() -> None:
    flt = JudgmentFilter.from_arguments(
        {
            "result": "critical",
            "line_code": "L01",
            "method": "cache",
            "since": "2026-01-26T00:00:00Z",
            "limit": 5,
        }
    )
    assert (flt.result, flt.line_code, flt.method, flt.limit) == ("critical", "L01", "cache", 5)
    assert flt.since == dt.datetime(2026, 1, 26, tzinfo=dt.UTC)
    assert JudgmentFilter.from_arguments({"until": "2026-01-26T09:00:00"}).until == dt.datetime(
        2026, 1, 26, 9, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("args", "where"),
    [
        ({"result": "fine"}, "result"),
        ({"method": "magic"}, "method"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-27T00:00:00Z", "until": "2026-01-26T00:00:00Z"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"workflow_id": "x"}, "workflow_id"),
    ],
)
def test_bad_list_arguments_name_the_field(args: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as err:
        JudgmentFilter.from_arguments(args)
    assert err.value.where == where
