"""Active rule sets described as tools: a name and the input schema their rules read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.judgment import EXECUTE_ARGUMENTS_SCHEMA, JudgmentEngine, tool_name_for
from hub.judgment.rules import script_inputs
from hub.settings import Settings
from tests.judgment.support import DEFECT_RULES, defect_input, make_ruleset, make_tenant

pytestmark = pytest.mark.anyio


def test_a_script_reveals_the_metrics_and_context_it_reads() -> None:
    metrics, required, context = script_inputs(DEFECT_RULES)
    assert metrics == ["defect_rate", "oee"]
    assert required == ["defect_rate"]  # judge_oee checks `"oee" in metrics` first
    assert context == ["target_defect_rate"]


def test_tool_names_stay_within_what_llm_apis_accept() -> None:
    assert tool_name_for("defect rules/v2") == "judge_defect_rules_v2"
    assert len(tool_name_for("x" * 100)) == 64


def test_the_execute_arguments_schema_is_valid_and_accepts_the_spec_input() -> None:
    Draft202012Validator.check_schema(EXECUTE_ARGUMENTS_SCHEMA)
    Draft202012Validator(EXECUTE_ARGUMENTS_SCHEMA).validate({"input": defect_input().as_dict()})


@pytest.fixture
async def engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[JudgmentEngine]:
    """An engine without LLM."""
    engine = JudgmentEngine(sessions, Settings(llm_base_url=None))
    yield engine
    await engine.aclose()


async def test_each_active_rule_set_is_described_with_its_input_schema(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_tenant(sessions)
    other = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id, deployments=[{"version": 1, "status": "active"}])
    declared = {"type": "object", "required": ["metrics"]}
    await make_ruleset(
        sessions, tenant.id, name="oee rules", target_kpi="oee", metadata={"input_schema": declared}
    )
    await make_ruleset(sessions, tenant.id, name="draft", is_active=False)
    await make_ruleset(sessions, other.id, name="theirs")

    tools = await engine.ruleset_tools(tenant.operator)

    assert [(t.name, t.tool_name, t.version) for t in tools] == [
        ("defect_rules", "judge_defect_rules", 1),
        ("oee rules", "judge_oee_rules", 1),
    ]
    schema = tools[0].input_schema
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["metrics"]["required"] == ["defect_rate"]
    assert set(schema["properties"]["metrics"]["properties"]) == {"defect_rate", "oee"}
    Draft202012Validator(schema).validate(defect_input().as_dict())
    assert tools[1].input_schema == declared


def test_defaulted_and_optional_reads_make_a_metric_optional() -> None:
    script = (
        'fn judge_x(metrics, context) { let a = metrics.a ?? 1; let b = metrics?.b; let c = metrics["c"]; }'
    )
    assert script_inputs(script) == (["a", "b", "c"], ["c"], [])
