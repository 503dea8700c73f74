"""The 2026-07-28 HTTP face's JSON replies, serialized in one pass.

The SDK (mcp 2.3) writes each 2026-07-28 reply by dumping the response model to Python objects and
then encoding those with the standard library's ``json``: two full walks of the reply, the second in
pure Python. For a tools/list of thousands of tools that was three quarters of the hub's time per
list; for a small call result it is still the slowest step of writing it. ``install`` replaces that one
private helper with pydantic's own serializer, which walks the model once, in Rust, straight to bytes.
The status, headers and JSON value are the same (``tests/hub/test_wire.py`` holds the two side by side,
so an SDK release that changes the helper fails there rather than drifting silently).
"""

from __future__ import annotations

from typing import Any

from mcp.server import _streamable_http_modern as modern
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from mcp_types import JSONRPCError, JSONRPCResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["SDK_WRITE", "install", "write_reply"]

# The SDK's own helper, kept for the one case it special-cases and for the equivalence test.
SDK_WRITE: Any = modern._write

_OK = 200


async def write_reply(
    msg: JSONRPCResponse | JSONRPCError, scope: Scope, receive: Receive, send: Send
) -> None:
    """Send a JSON-RPC reply as ``application/json`` with the status the SDK's table gives its error."""
    if isinstance(msg, JSONRPCError):
        if msg.id is None:
            # The wire must show "id": null here, which excluding None would drop: the SDK's path.
            await SDK_WRITE(msg, scope, receive, send)
            return
        status = ERROR_CODE_HTTP_STATUS.get(msg.error.code, _OK)
    else:
        status = _OK
    body = msg.__pydantic_serializer__.to_json(msg, by_alias=True, exclude_none=True)
    await Response(body, status_code=status, media_type="application/json")(scope, receive, send)


def install() -> None:
    """Make the SDK's 2026-07-28 request handler write its replies with ``write_reply``."""
    modern._write = write_reply
