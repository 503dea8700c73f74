"""Argument validation against a tool's JSON Schema, fast on the path every valid call takes.

fastjsonschema compiles a schema to Python code (about 1 µs a check against about 50 µs for the
jsonschema interpreter), so valid calls pay almost nothing. jsonschema stays the authority: it is
asked only when the fast check fails (for the most relevant error and its JSON path) or when
fastjsonschema cannot compile a schema (features it lacks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
import jsonschema

from hub.errors import InputError

__all__ = ["ArgumentValidator"]


class ArgumentValidator:
    """Validates one tool's arguments; ``check`` raises ``InputError`` naming the JSON path."""

    __slots__ = ("_fast", "_slow")

    def __init__(self, schema: dict[str, Any]) -> None:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
            self._slow: jsonschema.protocols.Validator = cls(schema)
        except jsonschema.SchemaError:
            # An upstream's broken schema must not block its tool: fall back to "any object".
            self._slow = jsonschema.Draft202012Validator({"type": "object"})
            schema = {"type": "object"}
        self._fast: Callable[[Any], Any] | None
        try:
            # use_default=False: validation must never change the caller's arguments.
            self._fast = fastjsonschema.compile(schema, use_default=False)
        except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError, KeyError):
            self._fast = None

    def check(self, tool: str, args: dict[str, Any]) -> None:
        """Return if ``args`` are valid, else raise ``InputError`` with ``where`` = the JSON path."""
        if self._fast is not None:
            try:
                self._fast(args)
                return
            except fastjsonschema.JsonSchemaException:
                pass  # jsonschema decides, and explains
        error = jsonschema.exceptions.best_match(self._slow.iter_errors(args))
        if error is None:
            return
        path = "arguments" + "".join(
            f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        raise InputError(f"invalid arguments for tool '{tool}': {error.message}", where=path)
