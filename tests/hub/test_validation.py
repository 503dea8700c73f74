"""Argument validation: fast for valid calls, precise (JSON path) for invalid ones, never mutating."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import InputError
from hub.validation import ArgumentValidator

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "line": {"type": "string", "default": "L01"},
        "metrics": {"type": "object", "properties": {"rate": {"type": "number", "minimum": 0}}, "required": ["rate"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["metrics"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("args", "where"),
    [
        ({}, "arguments"),
        ({"metrics": {"rate": -1}}, "arguments.metrics.rate"),
        ({"metrics": {"rate": 0.1}, "tags": ["a", 3]}, "arguments.tags[1]"),
        ({"metrics": {"rate": 0.1}, "extra": 1}, "arguments"),
    ],
)
def test_invalid_arguments_name_the_json_path_of_the_problem(args: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as caught:
        ArgumentValidator(SCHEMA).check("t", args)
    assert caught.value.where == where


def test_valid_arguments_pass_and_are_not_changed_by_defaults() -> None:
    args: dict[str, Any] = {"metrics": {"rate": 0.1}}
    ArgumentValidator(SCHEMA).check("t", args)
    assert args == {"metrics": {"rate": 0.1}}


def test_a_broken_schema_degrades_to_any_object_instead_of_blocking_the_tool() -> None:
    validator = ArgumentValidator({"type": "object", "properties": {"a": {"type": "no-such-type"}}})
    validator.check("t", {"a": 1})
    with pytest.raises(InputError):
        validator.check("t", [])  # type: ignore[arg-type]


def test_a_2020_12_schema_with_defs_is_enforced() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/n"}},
        "$defs": {"n": {"type": "integer"}},
    }
    validator = ArgumentValidator(schema)
    validator.check("t", {"x": 1})
    with pytest.raises(InputError) as caught:
        validator.check("t", {"x": "one"})
    assert caught.value.where == "arguments.x"
