"""The hub's writer of 2026-07-28 JSON replies against the SDK's own, side by side."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.server import _streamable_http_modern as modern
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from mcp_types import ErrorData, JSONRPCError, JSONRPCResponse
from starlette.types import Message

from hub.server import wire

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def written(write: Any, msg: JSONRPCResponse | JSONRPCError) -> tuple[int, dict[str, str], Any]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await write(msg, {"type": "http", "method": "POST", "headers": []}, receive, send)
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body)


def mapped_code() -> int:
    # An error code the SDK answers with a status other than 200, whichever the table holds.
    return next(code for code, status in ERROR_CODE_HTTP_STATUS.items() if status != 200)


MESSAGES = [
    JSONRPCResponse(
        jsonrpc="2.0",
        id=7,
        result={
            "content": [{"type": "text", "text": 'é ü \u2028 "quoted"'}],
            "structuredContent": {"a": None, "b": [None, 1.5, {"c": None}]},
            "isError": False,
        },
    ),
    JSONRPCResponse(jsonrpc="2.0", id="abc", result={}),
    JSONRPCError(
        jsonrpc="2.0", id=3, error=ErrorData(code=-32602, message="Unknown tool: x", data={"name": "x"})
    ),
    JSONRPCError(jsonrpc="2.0", id=4, error=ErrorData(code=mapped_code(), message="mapped")),
    JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=-32700, message="Parse error")),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=["result", "empty-result", "error", "mapped-status", "null-id"])
async def test_the_hub_writes_what_the_sdk_writes(msg: JSONRPCResponse | JSONRPCError) -> None:
    sdk_status, sdk_headers, sdk_body = await written(wire.SDK_WRITE, msg)
    status, headers, body = await written(wire.write_reply, msg)
    assert (status, body) == (sdk_status, sdk_body)
    assert headers["content-type"] == sdk_headers["content-type"]
    assert int(headers["content-length"]) > 0


def test_install_puts_the_hub_writer_in_the_sdk_handler() -> None:
    wire.install()
    assert modern._write is wire.write_reply
