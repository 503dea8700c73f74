"""A minimal stdio MCP server in plain Python (no SDK import), so a crash/restart cycle costs ~30 ms.

Tools: ``echo`` (returns its text) and ``crash`` (exits with the given code at once). ``--exit N``
makes it exit with N right after starting, before answering anything (a crash loop).
"""

from __future__ import annotations

import json
import os
import sys

TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "crash", "inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}},
]


def answer(request_id: object, result: object) -> None:
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}) + "\n")
    sys.stdout.flush()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--exit":
        os._exit(int(sys.argv[2]))
    for line in sys.stdin:
        message = json.loads(line)
        method = message.get("method")
        if "id" not in message:
            continue  # a notification
        rid = message["id"]
        params = message.get("params") or {}
        if method == "initialize":
            answer(
                rid,
                {
                    "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "tiny", "version": "1"},
                },
            )
        elif method == "tools/list":
            answer(rid, {"tools": TOOLS})
        elif method == "tools/call":
            args = params.get("arguments") or {}
            if params.get("name") == "crash":
                os._exit(int(args.get("code", 3)))
            answer(rid, {"content": [{"type": "text", "text": str(args.get("text", ""))}]})
        elif method == "ping":
            answer(rid, {})
        else:
            sys.stdout.write(
                json.dumps(
                    {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no such method"}}
                )
                + "\n"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
