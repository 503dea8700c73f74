"""What a tool family gives the dispatcher: ``ToolSpec`` values with an async handler each.

A handler takes a ``ToolContext`` and the already validated arguments and returns a JSON-safe
value (usually a dict). It raises ``hub.errors.HubError`` subclasses for anything that goes wrong;
the dispatcher turns them into MCP results, logs the call and never lets one escape as a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.identity import Caller

if TYPE_CHECKING:
    from hub.app import App

__all__ = [
    "JSONObject",
    "ProgressFn",
    "SampleFn",
    "SampledText",
    "ToolContext",
    "ToolHandler",
    "ToolSpec",
    "obj",
]

JSONObject = dict[str, Any]
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SampledText:
    """What an LLM answered through the calling client's sampling capability."""

    text: str
    model: str
    stop_reason: str | None = None


# (system prompt, user prompt, max tokens, temperature) -> the client's LLM answer.
SampleFn = Callable[[str, str, int, float | None], Awaitable[SampledText]]


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Everything a handler may use: the caller, the composition root, tracing and callbacks."""

    caller: Caller
    app: App
    trace_id: str
    progress: ProgressFn | None = None
    sample: SampleFn | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    # How an upstream's requests during this call reach the caller (a hub.proxy.Forwarder).
    forwarder: object | None = None


ToolHandler = Callable[[ToolContext, JSONObject], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One of the hub's own tools."""

    name: str
    description: str
    input_schema: JSONObject
    permission: str
    handler: ToolHandler
    output_schema: JSONObject | None = None
    # MCP tool annotations: readOnlyHint, destructiveHint, idempotentHint, openWorldHint.
    annotations: JSONObject | None = None
    title: str | None = None


def obj(properties: JSONObject | None = None, required: list[str] | None = None, **extra: Any) -> JSONObject:
    """A JSON Schema object with the given properties, closed to unknown keys."""
    schema: JSONObject = {"type": "object", "properties": properties or {}, "additionalProperties": False}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema
