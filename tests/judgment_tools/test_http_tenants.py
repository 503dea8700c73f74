"""Two tenants on one hub process over streamable HTTP: each sees and judges with its own rule sets only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.store.db import create_engine
from tests.hub.support import http_hub, hub_env, make_key, run_hub
from tests.judgment.support import DEFECT_RULES, make_tenant
from tests.judgment_tools.support import (
    VERDICT,
    call,
    call_error,
    deploy_ruleset,
    judgment_input,
    sampling_answer,
)

pytestmark = pytest.mark.anyio

# Tenant B's rule set has A's name but judges everything "normal": whose rules ran shows in the result.
LENIENT_RULES = """
fn judge_defect_rate(metrics, context) {
  #{ result: "normal", confidence: 0.99, explanation: "tenant B tolerates " + metrics.defect_rate }
}
"""


@dataclass(frozen=True)
class TwoTenants:
    url: str
    key_a: str
    key_b: str


async def _second_tenant(db: Path) -> str:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        tenant = await make_tenant(async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
    return tenant.admin.tenant_name


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoTenants]:
    data = tmp_path_factory.mktemp("hub")
    env = hub_env(data)
    assert run_hub("db", "upgrade", env=env).returncode == 0
    other = asyncio.run(_second_tenant(data / "hub.sqlite3"))
    key_a, key_b = make_key(env), make_key(env, tenant=other, user="admin")
    with http_hub(env) as url:
        yield TwoTenants(url, key_a, key_b)


@asynccontextmanager
async def client_for(url: str, key: str, mode: str, **kwargs: Any) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        async with Client(transport, mode=mode, **kwargs) as client:
            yield client


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return sampling_answer(json.dumps(VERDICT))


async def test_each_tenant_judges_with_its_own_rule_set_of_the_same_name(hub: TwoTenants) -> None:
    async with (
        client_for(hub.url, hub.key_a, "legacy", sampling_callback=sampling) as a,
        client_for(hub.url, hub.key_b, "auto", sampling_callback=sampling) as b,
    ):
        await deploy_ruleset(a, "defect_rules", DEFECT_RULES)
        assert "judge_defect_rules" in {t.name for t in (await a.list_tools()).tools}
        assert "judge_defect_rules" not in {t.name for t in (await b.list_tools()).tools}
        with pytest.raises(MCPError, match="Unknown tool"):
            await b.call_tool("judge_defect_rules", judgment_input(0.2))

        judged_a = await call(a, "judge_defect_rules", judgment_input(0.2))
        assert judged_a["result"] == "critical"
        missing = await call_error(b, "judgment_get", {"judgment_id": judged_a["id"]})
        assert (missing["kind"], missing["where"]) == ("NotFound", "judgment_id")
        assert (await call(b, "judgment_list", {}))["count"] == 0

        await deploy_ruleset(b, "defect_rules", LENIENT_RULES)
        assert "judge_defect_rules" in {t.name for t in (await b.list_tools()).tools}
        judged_b = await call(b, "judge_defect_rules", judgment_input(0.2))
        # Same input, same rule set name, yet B's rules answered and A's cache entry was not used.
        assert (judged_b["result"], judged_b["method_used"]) == ("normal", "rule_only")
        assert judged_b["rule_trace"]["ruleset_id"] != judged_a["rule_trace"]["ruleset_id"]
        again_a = await call(a, "judge_defect_rules", judgment_input(0.2))
        assert (again_a["result"], again_a["method_used"]) == ("critical", "cache")

        # B's 2026-07-28 session asks its own model through input-required over HTTP.
        hybrid_b = await call(
            b, "judgment_execute", {"input": judgment_input(0.055), "policy": {"method": "llm_only"}}
        )
        assert hybrid_b["method_used"] == "llm_only"
        assert hybrid_b["llm_metadata"]["provider"] == "sampling"
        assert (await call(a, "judgment_stats", {}))["total"] == 2
        assert (await call(b, "judgment_stats", {}))["total"] == 2
