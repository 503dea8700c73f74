"""A caller of one era, an upstream link of the other, through the hub's own MCP face.

The everything fixture asks its questions the way its session's era wants. These tests put the hub
between it and an SDK ``Client`` that drives its side of the conversation itself, so what crosses the
face is exactly what a real client sends: a 2026-era client's retries with ``inputResponses`` and the
sealed ``requestState``, or a 2025-era client's answers to requests pushed mid-call.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError

from hub.app import App, open_app
from hub.server.mcp import build_server
from hub.settings import Settings

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "servers" / "everything_server.py"


@asynccontextmanager
async def hub_fronting_the_fixture(tmp_path: Path, era: str) -> AsyncIterator[App]:
    """A hub whose one upstream is the fixture over stdio, linked in ``era`` (legacy or auto)."""
    entry = {"command": sys.executable, "args": [str(FIXTURE), "--transport", "stdio"], "prefix": ""}
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {"fx": {**entry, "protocol_era": era}}}))
    async with open_app(Settings(data_dir=tmp_path, config_file=tmp_path / "mcp.json")) as app:
        yield app


async def wait_for_tool(client: Client, name: str) -> None:
    while name not in {tool.name for tool in (await client.list_tools()).tools}:
        await anyio.sleep(0.05)  # the poll interval; the upstream's discovery is what is awaited


async def test_a_2026_client_answers_a_handshake_upstreams_questions_through_the_hub(tmp_path: Path) -> None:
    asked: list[str] = []

    async def elicitation(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        field = "color" if "color" in params.message else "name"
        return types.ElicitResult(action="accept", content={field: "teal" if field == "color" else "Ann"})

    async with (
        hub_fronting_the_fixture(tmp_path, "legacy") as app,
        Client(build_server(app), mode="auto", elicitation_callback=elicitation) as client,
    ):
        with anyio.fail_after(30):
            assert client.protocol_version == "2026-07-28"
            await wait_for_tool(client, "test_input_required_result_multi_round")
            # The Client fulfils each InputRequiredResult and retries, as a 2026-era client does.
            result = await client.call_tool("test_input_required_result_multi_round", {})
            first = await client.session.call_tool(
                "test_input_required_result_tampered_state", {}, allow_input_required=True
            )
            assert isinstance(first, types.InputRequiredResult)
            assert first.request_state is not None
            with pytest.raises(MCPError) as tampered:
                await client.session.call_tool(
                    "test_input_required_result_tampered_state",
                    {},
                    allow_input_required=True,
                    input_responses={
                        "elicitation_1": types.ElicitResult(action="accept", content={"name": "x"})
                    },
                    request_state=first.request_state + "-TAMPERED",
                )
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    assert content.text == "Ann likes teal"
    assert asked == ["Step 1: What is your name?", "Step 2: What is your favorite color?"]
    # The hub refuses the altered state itself, as a protocol error naming what is wrong.
    assert tampered.value.error.code == types.INVALID_PARAMS
    assert "integrity check" in tampered.value.error.message


async def test_a_2025_client_is_asked_mid_call_what_a_2026_upstream_returns_as_input_required(
    tmp_path: Path,
) -> None:
    async def sampling(
        ctx: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Paris"), model="m"
        )

    results: dict[str, Any] = {}
    async with (
        hub_fronting_the_fixture(tmp_path, "auto") as app,
        Client(build_server(app), mode="legacy", sampling_callback=sampling) as client,
    ):
        with anyio.fail_after(30):
            assert client.protocol_version == "2025-11-25"
            await wait_for_tool(client, "test_input_required_result_sampling")
            results["sampled"] = await client.call_tool("test_input_required_result_sampling", {})
            # Declared no elicitation: the upstream is shown the caller's capabilities and refuses.
            with pytest.raises(MCPError) as refused:
                await client.call_tool("test_elicitation", {"message": "name?"})
    content = results["sampled"].content[0]
    assert isinstance(content, types.TextContent)
    assert content.text == "The model said: Paris"
    assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
