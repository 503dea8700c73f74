"""Helpers of the judgment-tool tests: a hub in-process, tool calls that unwrap their results, rule sets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp.types as types
from mcp import Client

from hub.app import App, open_app
from hub.settings import Settings

# A valid verdict as an LLM would write it (ANSWER_SCHEMA).
VERDICT = {
    "result": "warning",
    "confidence": 0.85,
    "explanation": "defect rate 5.5% is above the 5% target; watch the next hour",
    "recommended_actions": ["inspect_station_3"],
}


# The spec's input (section 4.1) with a chosen defect rate.
def judgment_input(
    rate: float, *, line: str = "L01", shift: str = "day", date: str = "2025-01-26"
) -> dict[str, Any]:
    """The ``input`` argument of ``judgment_execute``."""
    return {
        "line_code": line,
        "shift": shift,
        "date": date,
        "metrics": {"defect_rate": rate, "production_qty": 1500, "oee": 0.78},
        "context": {"target_defect_rate": 0.05},
    }


@asynccontextmanager
async def hub_app(tmp_path: Path, **settings: Any) -> AsyncIterator[App]:
    """A hub on its own SQLite file (or the given database_url) with no upstreams."""
    (tmp_path / "mcp.json").write_text("{}")
    async with open_app(Settings(data_dir=tmp_path, config_file=tmp_path / "mcp.json", **settings)) as app:
        yield app


async def call(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool that must succeed; its structured result."""
    result = await client.call_tool(name, args or {})
    assert not result.is_error, result.content
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def call_error(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must fail; the ``error`` object of its result."""
    result = await client.call_tool(name, args)
    assert result.is_error, result
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    error: dict[str, Any] = json.loads(first.text)["error"]
    return error


async def deploy_ruleset(
    client: Client,
    name: str,
    script: str,
    *,
    target_kpi: str = "defect_rate",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create a rule set, add its first version and deploy it fully, through the rule tools."""
    args: dict[str, Any] = {"name": name, "target_kpi": target_kpi}
    if metadata is not None:
        args["metadata"] = metadata
    await call(client, "rule_create_ruleset", args)
    version = await call(client, "rule_add_version", {"ruleset": name, "script": script})
    assert version["compile_status"] == "compiled", version
    return await call(client, "rule_deploy", {"ruleset": name, "version": 1, "mode": "full"})


def sampling_answer(text: str, model: str = "client-model") -> types.CreateMessageResult:
    """What a client's sampling callback returns."""
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=text), model=model
    )
