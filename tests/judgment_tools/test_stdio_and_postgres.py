"""Judgments through a hub subprocess over stdio, and the MCP flow on PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import mcp.types as types
import pytest
from mcp import Client, StdioServerParameters

from hub.server.mcp import build_server
from tests.hub.support import HUB, PG_ADMIN_URL, hub_env, in_ci, run_hub
from tests.judgment.support import DEFECT_RULES
from tests.judgment_tools.support import (
    VERDICT,
    call,
    deploy_ruleset,
    hub_app,
    judgment_input,
    sampling_answer,
)

pytestmark = pytest.mark.anyio


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return sampling_answer(json.dumps(VERDICT))


async def test_a_hub_process_over_stdio_judges_lists_its_rule_set_tools_and_retires_them(
    tmp_path: Path,
) -> None:
    env = hub_env(tmp_path)
    assert run_hub("db", "upgrade", env=env).returncode == 0
    changes = 0
    changed = anyio.Event()

    async def on_message(message: object) -> None:
        nonlocal changes
        if isinstance(message, types.ToolListChangedNotification):
            changes += 1
            changed.set()

    params = StdioServerParameters(command=HUB, args=["serve"], env=env)
    async with Client(
        params, mode="legacy", sampling_callback=sampling, message_handler=on_message
    ) as client:
        await deploy_ruleset(client, "defect_rules", DEFECT_RULES)
        with anyio.fail_after(10):
            await changed.wait()
        assert "judge_defect_rules" in {t.name for t in (await client.list_tools()).tools}

        hybrid = await call(client, "judge_defect_rules", judgment_input(0.055))
        assert hybrid["method_used"] == "hybrid"
        assert hybrid["llm_metadata"]["provider"] == "sampling"
        cached = await call(client, "judge_defect_rules", judgment_input(0.055))
        assert cached["method_used"] == "cache"

        # Retiring the only deployment deactivates the rule set: its tool goes, and callers are told.
        changed = anyio.Event()
        await call(client, "rule_rollback", {"ruleset": "defect_rules"})
        with anyio.fail_after(10):
            await changed.wait()
        assert "judge_defect_rules" not in {t.name for t in (await client.list_tools()).tools}
        assert changes >= 2


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL database for this module, dropped at the end; skipped locally without one."""
    name = f"hub_judgment_tools_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        anyio.run(admin, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield f"{base}/{name}"
    anyio.run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
async def test_the_spec_cases_hold_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    async with (
        hub_app(tmp_path, database_url=postgres_url) as app,
        Client(build_server(app), mode="legacy", sampling_callback=sampling) as client,
    ):
        await deploy_ruleset(client, "defect_rules", DEFECT_RULES)
        args = {"input": judgment_input(0.055), "ruleset_name": "defect_rules"}
        first = await call(client, "judgment_execute", args)
        assert first["method_used"] == "hybrid"
        assert first["rule_trace"]["matched_rules"]
        second = await call(client, "judgment_execute", args)
        assert second["method_used"] == "cache"
        receipt = await call(
            client,
            "judgment_feedback",
            {"judgment_id": first["id"], "feedback_type": "partial", "corrected_result": "critical"},
        )
        assert receipt["is_validated"] is True
        assert (await call(client, "judgment_list", {"line_code": "L01"}))["count"] == 2
        stats = await call(client, "judgment_stats", {})
        assert stats["by_method"] == {"hybrid": 1, "cache": 1}
        assert stats["llm"]["calls"] == 1
