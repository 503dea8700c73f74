"""MCP tools for data connectors: register, update, remove, list, health-check, and use them.

Thin adapters over ``hub.connectors_service.ConnectorService``; every call passes the one
dispatch path (permission, validation, ``mcp_call_logs``). The composition root builds the service
and adds ``tools(service)`` to the dispatcher. Permissions: ``connector:manage`` to change
connectors, ``connector:read`` to list and check them, ``connector:query`` to read through them
(SQL, REST, Kafka consume), ``connector:publish`` to publish to Kafka.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from connectors.catalog import CONNECTOR_TYPES
from hub.connectors_service import ConnectorService
from hub.errors import InputError
from hub.tools.base import JSONObject, ToolContext, ToolHandler, ToolSpec, obj

__all__ = ["tools"]

NAME: JSONObject = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}
SCALAR: JSONObject = {"type": ["string", "number", "integer", "boolean", "null"]}
CREDENTIALS: JSONObject = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "user/password (SQL), token or username/password (REST), username/password (Kafka SASL);"
    " encrypted at rest, never returned",
}


def tools(service: ConnectorService) -> list[ToolSpec]:
    """The data-connector family, bound to ``service``."""

    async def register(ctx: ToolContext, args: JSONObject) -> Any:
        view = await service.register(
            ctx.caller,
            args["name"],
            args["type"],
            args["config"],
            args.get("credentials"),
            engine=args.get("engine"),
            trace_id=ctx.trace_id,
        )
        # A first check tells the operator at once whether the config reaches the service.
        (report,) = await service.check(ctx.caller.tenant_id, args["name"])
        return {**view, "status": report.status, "health": dataclasses.asdict(report.health)}

    async def update(ctx: ToolContext, args: JSONObject) -> Any:
        return await service.update(
            ctx.caller,
            args["name"],
            config=args.get("config"),
            credentials=args.get("credentials"),
            engine=args.get("engine"),
            trace_id=ctx.trace_id,
        )

    async def remove(ctx: ToolContext, args: JSONObject) -> Any:
        await service.remove(ctx.caller, args["name"], trace_id=ctx.trace_id)
        return {"name": args["name"], "removed": True}

    async def list_all(ctx: ToolContext, args: JSONObject) -> Any:
        return {"connectors": await service.list_connectors(ctx.caller.tenant_id)}

    async def health(ctx: ToolContext, args: JSONObject) -> Any:
        reports = await service.check(
            ctx.caller.tenant_id, args.get("name"), seconds=args.get("timeout_seconds")
        )
        return {
            "connectors": [
                {"name": r.name, "type": r.type, "status": r.status, **dataclasses.asdict(r.health)}
                for r in reports
            ]
        }

    async def query(ctx: ToolContext, args: JSONObject) -> Any:
        db = await service.sql(ctx.caller.tenant_id, args["name"])
        result = await db.query(
            args["sql"],
            args.get("params"),
            max_rows=args.get("max_rows"),
            timeout=args.get("timeout_seconds"),
        )
        return dataclasses.asdict(result)

    async def request(ctx: ToolContext, args: JSONObject) -> Any:
        rest = await service.rest(ctx.caller.tenant_id, args["name"])
        response = await rest.request(
            args.get("method", "GET"), args["path"], args.get("query"), args.get("body")
        )
        return dataclasses.asdict(response)

    async def publish(ctx: ToolContext, args: JSONObject) -> Any:
        kafka = await service.kafka(ctx.caller.tenant_id, args["name"])
        result = await kafka.publish(
            args["topic"],
            args.get("value"),
            key=args.get("key"),
            headers=args.get("headers"),
            partition=args.get("partition"),
        )
        return dataclasses.asdict(result)

    async def consume(ctx: ToolContext, args: JSONObject) -> Any:
        kafka = await service.kafka(ctx.caller.tenant_id, args["name"])
        topic, count, budget = args["topic"], args.get("max_messages", 100), args.get("timeout_seconds")
        mode = args.get("mode", "latest")
        if mode == "latest":
            messages = await kafka.consume_latest(topic, count, timeout=budget)
        elif mode == "offset":
            messages = await kafka.consume_from(
                topic,
                args.get("offset", 0),
                partition=args.get("partition", 0),
                max_messages=count,
                timeout=budget,
            )
        else:
            if "group_id" not in args:
                raise InputError("mode 'group' needs group_id", where="arguments.group_id")
            messages = await kafka.consume_group(topic, args["group_id"], max_messages=count, timeout=budget)
        return {"messages": [dataclasses.asdict(m) for m in messages], "count": len(messages)}

    timeout = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
    entry = {
        "name": NAME,
        "type": {"enum": list(CONNECTOR_TYPES)},
        "engine": {"type": "string", "description": "free text, e.g. the product behind the connector"},
        "config": {
            "type": "object",
            "description": "postgres/mysql: host, port, database, ssl_enabled, connection_pool{min_connections,"
            " max_connections, idle_timeout_seconds}, read_only, query_timeout_seconds, max_rows."
            " rest_api: base_url, auth (none|bearer|basic|header), auth_header, headers, timeout_seconds,"
            " max_retries, health_path. kafka: bootstrap_servers, sasl_mechanism, ssl_enabled, max_messages.",
        },
        "credentials": CREDENTIALS,
    }

    def spec(
        name: str, description: str, schema: JSONObject, permission: str, handler: ToolHandler, **hints: bool
    ) -> ToolSpec:
        return ToolSpec(name, description, schema, permission, handler, annotations=hints or None)

    return [
        spec(
            "connector_register",
            "Register a data connector (postgres, mysql, rest_api, kafka) in the caller's tenant and check"
            " its health once; credentials are encrypted at rest and never returned.",
            obj(entry, ["name", "type", "config"]),
            "connector:manage",
            register,
            destructiveHint=False,
            idempotentHint=False,
        ),
        spec(
            "connector_update",
            "Replace a connector's config and/or credentials (credentials {} clears them); open connections"
            " are closed and reopened on next use.",
            obj({k: v for k, v in entry.items() if k != "type"}, ["name"]),
            "connector:manage",
            update,
            destructiveHint=False,
            idempotentHint=True,
        ),
        spec(
            "connector_remove",
            "Delete a connector of the caller's tenant and close its connections.",
            obj({"name": NAME}, ["name"]),
            "connector:manage",
            remove,
            destructiveHint=True,
            idempotentHint=False,
        ),
        spec(
            "connector_list",
            "List the caller's tenant's connectors with config (secrets masked), status and last health check.",
            obj(),
            "connector:read",
            list_all,
            readOnlyHint=True,
        ),
        spec(
            "connector_health_check",
            "Check one connector (name) or all of the caller's tenant, concurrently, each within the timeout;"
            " updates status, last_health_check_at and last_health_status.",
            obj({"name": NAME, "timeout_seconds": timeout}),
            "connector:read",
            health,
            readOnlyHint=False,
            idempotentHint=True,
        ),
        spec(
            "connector_query",
            "Run one SQL statement on a postgres or mysql connector. Write parameters as :name in the SQL and"
            " pass their values in params; they are always bound, never spliced in. read_only connectors"
            " refuse writes. Rows are JSON-safe (decimals and dates as strings, bytes as base64) and capped"
            " at max_rows with truncated=true.",
            obj(
                {
                    "name": NAME,
                    "sql": {"type": "string", "minLength": 1},
                    "params": {"type": "object", "additionalProperties": True},
                    "max_rows": {"type": "integer", "minimum": 1},
                    "timeout_seconds": timeout,
                },
                ["name", "sql"],
            ),
            "connector:query",
            query,
            openWorldHint=True,
        ),
        spec(
            "connector_request",
            "Send an HTTP request through a rest_api connector; path is relative to its base URL (absolute URLs"
            " and '..' are refused). JSON answers are parsed, others returned as text with their content type.",
            obj(
                {
                    "name": NAME,
                    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
                    "path": {"type": "string"},
                    "query": {
                        "type": "object",
                        "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]},
                    },
                    "body": {"description": "a JSON body"},
                },
                ["name", "path"],
            ),
            "connector:query",
            request,
            openWorldHint=True,
        ),
        spec(
            "connector_publish",
            "Publish one message to a topic of a kafka connector (value: a string is sent as text, anything"
            " else as JSON); the topic must exist.",
            obj(
                {
                    "name": NAME,
                    "topic": {"type": "string", "minLength": 1},
                    "value": {"description": "string or any JSON value"},
                    "key": {"type": "string"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "partition": {"type": "integer", "minimum": 0},
                },
                ["name", "topic", "value"],
            ),
            "connector:publish",
            publish,
            destructiveHint=False,
            openWorldHint=True,
        ),
        spec(
            "connector_consume",
            "Read a bounded batch from a topic of a kafka connector: mode latest (the newest max_messages),"
            " offset (from offset in one partition) or group (as consumer group group_id; offsets are"
            " committed after the batch), within timeout_seconds.",
            obj(
                {
                    "name": NAME,
                    "topic": {"type": "string", "minLength": 1},
                    "mode": {"enum": ["latest", "offset", "group"], "default": "latest"},
                    "max_messages": {"type": "integer", "minimum": 1, "default": 100},
                    "offset": {"type": "integer", "minimum": 0},
                    "partition": {"type": "integer", "minimum": 0},
                    "group_id": {"type": "string", "minLength": 1},
                    "timeout_seconds": timeout,
                },
                ["name", "topic"],
            ),
            "connector:query",
            consume,
            openWorldHint=True,
        ),
    ]
