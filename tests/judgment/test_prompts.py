"""Prompt templates: the built-in default, a tenant's templates by locale and A/B group, MCP prompts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import ConfigError, InputError, NotFound
from hub.judgment import DEFAULT_TEMPLATE, JudgmentEngine, JudgmentPolicy, JudgmentRequest, RulesetSelector
from hub.judgment.prompts import PromptRenderer
from hub.settings import Settings
from tests.judgment.conftest import Clock
from tests.judgment.llm_server import LLMServer
from tests.judgment.support import defect_input, make_prompt_template, make_ruleset, make_tenant, request

pytestmark = pytest.mark.anyio

SPEC_TEMPLATE = """# 생산 라인 불량률 분석
라인: {{input_data.line_code}}
불량률: {{input_data.metrics.defect_rate}}%
{{#if historical_data}}
최근 7일 평균 불량률: {{historical_data.avg_defect_rate_7d}}%
{{/if}}
응답 형식: JSON"""


def test_the_spec_template_renders_with_and_without_historical_data() -> None:
    renderer = PromptRenderer()
    template = DEFAULT_TEMPLATE.__class__(
        **{**_fields(DEFAULT_TEMPLATE), "user_prompt_template": SPEC_TEMPLATE}
    )
    data = {"input_data": defect_input().as_dict()}
    without = renderer.render(template, data).user_prompt
    assert "라인: L01" in without
    assert "불량률: 0.073%" in without
    assert "최근 7일" not in without
    with_history = renderer.render(
        template, {**data, "historical_data": {"avg_defect_rate_7d": 4.1}}
    ).user_prompt
    assert "최근 7일 평균 불량률: 4.1%" in with_history


def test_values_are_not_html_escaped_and_structures_print_as_json() -> None:
    renderer = PromptRenderer()
    rendered = renderer.render(DEFAULT_TEMPLATE, {"input_data": defect_input(note="<b>&</b>").as_dict()})
    assert '"note": "<b>&</b>"' in rendered.user_prompt
    assert "## What the rules found" not in rendered.user_prompt


def test_a_template_that_does_not_compile_is_a_config_error() -> None:
    broken = DEFAULT_TEMPLATE.__class__(
        **{**_fields(DEFAULT_TEMPLATE), "user_prompt_template": "{{#if x}}open"}
    )
    with pytest.raises(ConfigError):
        PromptRenderer().render(broken, {})


def _fields(view: object) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}  # type: ignore[arg-type]


@pytest.fixture
async def engine(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, llm: LLMServer
) -> AsyncIterator[JudgmentEngine]:
    """An engine on the loopback LLM."""
    engine = JudgmentEngine(sessions, Settings(llm_base_url=llm.base_url), clock=clock)
    yield engine
    await engine.aclose()


async def test_a_tenant_without_templates_lists_the_built_in_default(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_tenant(sessions)
    (info,) = await engine.list_prompts(tenant.operator)
    assert (info.name, info.builtin) == ("judgment_default", True)
    assert next((a.name, a.required) for a in info.arguments) == ("input_data", True)
    rendered = await engine.get_prompt(
        tenant.operator, "judgment_default", {"input_data": '{"line_code": "L09", "metrics": {}}'}
    )
    assert "Line: L09" in rendered.user_prompt


async def test_active_templates_are_listed_and_rendered_by_name_in_the_tenants_locale(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = await make_tenant(sessions, {"locale": "ko-KR"})
    await make_prompt_template(
        sessions,
        tenant.id,
        name="defect_analysis",
        version=3,
        bodies={
            "ko-KR": ("당신은 품질 엔지니어입니다.", SPEC_TEMPLATE),
            "en-US": ("You are an engineer.", "Line {{input_data.line_code}}"),
        },
    )
    infos = await engine.list_prompts(tenant.operator)
    assert [(i.name, i.version, i.locales) for i in infos] == [("defect_analysis", 3, ("en-US", "ko-KR"))]
    rendered = await engine.get_prompt(
        tenant.operator, "defect_analysis", {"input_data": '{"line_code": "L01"}'}
    )
    assert rendered.locale == "ko-KR"
    assert "라인: L01" in rendered.user_prompt
    assert rendered.label == "defect_analysis_v3"
    english = await engine.get_prompt(
        tenant.operator, "defect_analysis", {"input_data": '{"line_code": "L01"}'}, locale="en-US"
    )
    assert english.user_prompt == "Line L01"
    with pytest.raises(InputError) as err:
        await engine.get_prompt(tenant.operator, "defect_analysis", {})
    assert err.value.where == "arguments.input_data"
    with pytest.raises(NotFound):
        await engine.get_prompt(tenant.operator, "missing", {})
    stranger = await make_tenant(sessions)
    assert [i.name for i in await engine.list_prompts(stranger.operator)] == ["judgment_default"]
    with pytest.raises(NotFound):
        await engine.get_prompt(stranger.operator, "defect_analysis", {"input_data": "{}"})


async def test_the_judgment_uses_the_tenants_template_and_its_model_config(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession], llm: LLMServer
) -> None:
    tenant = await make_tenant(sessions, {"llm_config": {"model": "fail"}})
    await make_prompt_template(
        sessions,
        tenant.id,
        name="defect_analysis",
        bodies={"en-US": ("Be brief.", "Judge line {{input_data.line_code}} on {{input_data.date}}.")},
        model_config={"model": "valid", "temperature": 0.1, "max_tokens": 300},
    )
    judgment = await engine.execute(tenant.operator, request(defect_input(), ruleset=None))
    assert judgment.method_used == "llm_only"
    assert judgment.llm_metadata is not None
    assert judgment.llm_metadata["prompt_template_id"] == "defect_analysis_v1"
    body = llm.requests[0]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("valid", 0.1, 300)
    assert body["messages"][0]["content"].startswith("Be brief.")
    assert body["messages"][1]["content"] == "Judge line L01 on 2025-01-26."
    # Hybrid: a template that does not mention the rule trace still gets it, after its own text.
    await make_ruleset(sessions, tenant.id)
    hybrid = await engine.execute(tenant.operator, request(defect_input(0.055)))
    assert hybrid.method_used == "hybrid"
    user = llm.requests[-1]["messages"][1]["content"]
    assert user.startswith("Judge line L01 on 2025-01-26.\n\n## Rule evaluation\n")
    assert '"rule_name": "defect_rate"' in user


async def test_ab_test_groups_split_lines_deterministically(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession], llm: LLMServer
) -> None:
    tenant = await make_tenant(sessions, {"llm_config": {"model": "valid"}})
    for group in ("control", "variant_a"):
        await make_prompt_template(
            sessions,
            tenant.id,
            name="defect_analysis",
            version=1 if group == "control" else 2,
            a_b_test_group=group,
            bodies={"en-US": ("s", f"{group} {{{{input_data.line_code}}}}")},
        )
    groups: dict[str, set[str]] = {}
    for _ in range(2):
        for line in [f"L{i:02}" for i in range(12)]:
            judgment = await engine.execute(
                tenant.operator, request(defect_input(line=line), ruleset=None, use_cache=False)
            )
            assert judgment.llm_metadata is not None
            groups.setdefault(line, set()).add(judgment.llm_metadata["a_b_test_group"])
    assert all(len(g) == 1 for g in groups.values())
    assert {next(iter(g)) for g in groups.values()} == {"control", "variant_a"}


async def test_a_retired_template_named_by_the_rule_set_falls_back_to_the_default(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession], llm: LLMServer
) -> None:
    tenant = await make_tenant(sessions, {"llm_config": {"model": "valid"}})
    await make_ruleset(sessions, tenant.id, metadata={"prompt_template": "retired"})
    judgment = await engine.execute(tenant.operator, request(defect_input(0.055)))
    assert judgment.method_used == "hybrid"
    assert judgment.llm_metadata is not None
    assert judgment.llm_metadata["prompt_template_id"] == "judgment_default_v1"
    assert judgment.degraded is not None
    assert "retired" in judgment.degraded
    with pytest.raises(NotFound):
        await engine.execute(
            tenant.operator,
            JudgmentRequest(
                defect_input(0.055),
                RulesetSelector(name="defect_rules"),
                JudgmentPolicy(prompt_template="nope"),
            ),
        )
