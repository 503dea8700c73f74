"""The engine end to end on SQLite and PostgreSQL, with the loopback LLM server and real Rhai rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import Conflict, InputError, NotFound, StoreError
from hub.identity import Caller
from hub.judgment import (
    JudgmentEngine,
    JudgmentFilter,
    JudgmentInput,
    JudgmentRequest,
    LLMRequest,
    RulesetSelector,
    SampledText,
    SamplingDeferred,
)
from hub.settings import Settings
from hub.store.db import create_engine
from hub.store.models import JudgmentCache, JudgmentExecution, LLMCall
from tests.judgment.conftest import Clock
from tests.judgment.llm_server import LLMServer
from tests.judgment.support import (
    DEFECT_RULES,
    TenantFixture,
    defect_input,
    make_ruleset,
    make_tenant,
    request,
)

pytestmark = pytest.mark.anyio

EngineFactory = Callable[..., JudgmentEngine]


@pytest.fixture
async def make_engine(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, llm: LLMServer
) -> AsyncIterator[EngineFactory]:
    """Engines on the test database and clock, pointed at the loopback LLM unless told otherwise."""
    engines: list[JudgmentEngine] = []

    def build(*, base_url: str | None = llm.base_url, timeout: float = 5.0) -> JudgmentEngine:
        settings = Settings(llm_base_url=base_url, llm_api_key="sk-test", llm_timeout_seconds=timeout)
        engine = JudgmentEngine(sessions, settings, clock=clock)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        await engine.aclose()


async def tenant_with_rules(
    sessions: async_sessionmaker[AsyncSession],
    *,
    model: str = "valid",
    fallback: str | None = None,
    **settings: Any,
) -> TenantFixture:
    tenant = await make_tenant(
        sessions, {"llm_config": {"model": model, "fallback_model": fallback, "temperature": 0.2}, **settings}
    )
    await make_ruleset(sessions, tenant.id)
    return tenant


async def rows(sessions: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> list[Any]:
    async with sessions() as session:
        return list((await session.scalars(sa.select(model).where(*where))).all())


async def test_hybrid_judgment_with_unsure_rules_asks_the_llm_and_stores_trace_and_metadata(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    """TC-JUD-001."""
    tenant = await tenant_with_rules(sessions, model="valid@gpt-4o-mini")
    engine = make_engine()

    judgment = await engine.execute(tenant.operator, request(defect_input(0.055)))

    assert judgment.method_used == "hybrid"
    assert judgment.result == "critical"  # the LLM (0.9) outweighs the unsure rule (warning, 0.5)
    stored = (await rows(sessions, JudgmentExecution, JudgmentExecution.id == judgment.id))[0]
    assert stored.method_used == "hybrid"
    assert stored.rule_trace["ruleset_version"] == 1
    assert stored.rule_trace["total_rules_evaluated"] == 2
    assert [r["rule_name"] for r in stored.rule_trace["matched_rules"]] == ["defect_rate"]
    assert stored.rule_trace["matched_rules"][0]["confidence"] == 0.5
    assert stored.llm_metadata["model"] == "gpt-4o-mini"
    assert stored.llm_metadata["total_tokens"] == 160
    assert stored.llm_metadata["validation_passed"] is True
    assert stored.llm_metadata["prompt_template_id"] == "judgment_default_v1"
    assert stored.llm_metadata["cost_estimate_usd"] > 0
    assert stored.trace_id
    assert stored.source == "api"
    assert stored.latency_ms is not None
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert len(calls) == 1
    assert calls[0].success
    assert not calls[0].validation_error
    assert calls[0].cost_estimate_usd == Decimal("0.000042")
    # The LLM saw the input and the rule trace.
    prompt = llm.requests[0]["messages"][1]["content"]
    assert "L01" in prompt
    assert "slightly above target" in prompt


async def test_confident_rules_answer_alone_without_calling_the_llm(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    tenant = await tenant_with_rules(sessions)
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.09)))
    assert (judgment.method_used, judgment.result, judgment.confidence) == ("rule_only", "critical", 1.0)
    assert judgment.recommended_actions == ("alert_supervisor", "stop_line")
    assert judgment.llm_metadata is None
    assert judgment.metadata["requested_method"] == "hybrid"
    assert llm.requests == []


async def test_repeated_input_is_a_cache_hit_recorded_as_its_own_execution(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    """TC-JUD-002."""
    tenant = await tenant_with_rules(sessions)
    engine = make_engine()
    first = await engine.execute(tenant.operator, request(defect_input(0.055)))
    second = await engine.execute(tenant.operator, request(defect_input(0.055)))
    third = await engine.execute(tenant.operator, request(defect_input(0.055)))

    assert (second.method_used, second.cache_hit) == ("cache", True)
    assert (second.result, second.confidence, second.explanation) == (
        first.result,
        first.confidence,
        first.explanation,
    )
    assert second.cache_key == first.cache_key
    assert second.cache_key.startswith("judgment:-:")
    assert second.latency_ms is not None
    assert second.latency_ms < 500
    assert third.metadata["hit_count"] == 2
    assert len(llm.requests) == 1
    entries = await rows(sessions, JudgmentCache, JudgmentCache.tenant_id == tenant.id)
    assert len(entries) == 1
    assert (entries[0].hit_count, entries[0].ttl_seconds, entries[0].judgment_execution_id) == (
        2,
        3600,
        first.id,
    )
    assert entries[0].last_hit_at is not None
    hits = await rows(
        sessions, JudgmentExecution, JudgmentExecution.tenant_id == tenant.id, JudgmentExecution.cache_hit
    )
    assert {h.id for h in hits} == {second.id, third.id}


async def test_cache_entry_expires_after_the_tenant_ttl(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, clock: Clock
) -> None:
    tenant = await tenant_with_rules(sessions, judgment={"cache_ttl_seconds": 60})
    engine = make_engine()
    await engine.execute(tenant.operator, request(defect_input(0.09)))
    clock.advance(59)
    assert (await engine.execute(tenant.operator, request(defect_input(0.09)))).cache_hit
    clock.advance(1)
    fresh = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert not fresh.cache_hit
    assert fresh.method_used == "rule_only"
    entries = await rows(sessions, JudgmentCache, JudgmentCache.tenant_id == tenant.id)
    assert [e.judgment_execution_id for e in entries] == [fresh.id]
    assert (await engine.execute(tenant.operator, request(defect_input(0.09)))).cache_hit


async def test_invalidating_a_ruleset_drops_only_its_cache_entries(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions)
    other = await make_ruleset(sessions, tenant.id, name="other_rules", target_kpi="oee")
    engine = make_engine()
    ruleset_id = (await engine.execute(tenant.operator, request(defect_input(0.09)))).rule_trace["ruleset_id"]  # type: ignore[index]
    await engine.execute(tenant.operator, request(defect_input(0.09), ruleset="other_rules"))

    assert await engine.invalidate_ruleset(tenant.id, uuid.UUID(ruleset_id)) == 1

    assert not (await engine.execute(tenant.operator, request(defect_input(0.09)))).cache_hit
    assert (
        await engine.execute(tenant.operator, request(defect_input(0.09), ruleset="other_rules"))
    ).cache_hit
    assert await engine.invalidate_ruleset(uuid.uuid4(), other) == 0


async def test_an_answer_that_is_prose_twice_falls_back_to_the_rules_and_records_validation_errors(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    tenant = await tenant_with_rules(sessions, model="prose")
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)))

    assert (judgment.method_used, judgment.result, judgment.confidence) == ("rule_only", "warning", 0.5)
    assert judgment.degraded is not None
    assert "invalid" in judgment.degraded
    assert judgment.llm_metadata is not None
    assert judgment.llm_metadata["validation_passed"] is False
    assert judgment.llm_metadata["retry_count"] == 1
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert len(calls) == 2
    assert all(c.validation_error and c.success for c in calls)
    # The retry told the model what was wrong.
    assert "could not be used" in llm.requests[1]["messages"][1]["content"]
    # A degraded answer is not cached: the next call asks again.
    assert not (await make_engine().execute(tenant.operator, request(defect_input(0.055)))).cache_hit


@pytest.mark.parametrize("first", ["badjson", "schema", "prose"])
async def test_an_invalid_answer_followed_by_a_valid_one_succeeds_on_the_retry(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer, first: str
) -> None:
    tenant = await tenant_with_rules(sessions, model="flaky")
    llm.queue("flaky", first, "valid:warning:0.85")
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)))
    assert (judgment.method_used, judgment.result, judgment.confidence) == ("hybrid", "warning", 0.85)
    calls = sorted(
        await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id),
        key=lambda c: c.metadata_["attempt"],
    )
    assert [c.validation_error for c in calls] == [True, False]


async def test_a_fenced_json_answer_is_accepted(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions, model="fenced")
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)))
    assert (judgment.method_used, judgment.result) == ("hybrid", "critical")


async def test_a_failing_primary_model_falls_back_to_the_fallback_model(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    tenant = await tenant_with_rules(sessions, model="fail-primary", fallback="valid-fallback")
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)))
    assert judgment.method_used == "hybrid"
    assert llm.models_asked() == ["fail-primary", "valid-fallback"]
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert sorted((c.model, c.success) for c in calls) == [("fail-primary", False), ("valid-fallback", True)]


async def test_a_response_that_is_not_a_chat_completion_counts_as_a_failed_request(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions, model="garbage", fallback="valid")
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)))
    assert judgment.method_used == "hybrid"
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    failed = [c for c in calls if not c.success]
    assert [c.model for c in failed] == ["garbage"]
    assert "malformed" in (failed[0].error_message or "")


async def test_an_llm_that_times_out_degrades_hybrid_to_rule_only_and_says_so(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions, model="hang", fallback="fail")
    judgment = await make_engine(timeout=0.2).execute(tenant.operator, request(defect_input(0.055)))
    assert (judgment.method_used, judgment.result) == ("rule_only", "warning")
    assert judgment.degraded is not None
    assert "no LLM reachable" in judgment.degraded
    assert judgment.explanation is not None
    assert "degraded" in judgment.explanation
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert sorted((c.model, c.success) for c in calls) == [("fail", False), ("hang", False)]
    assert any("0.2 s" in (c.error_message or "") for c in calls)


async def test_without_any_llm_hybrid_degrades_to_rule_only(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions)
    judgment = await make_engine(base_url=None).execute(tenant.operator, request(defect_input(0.055)))
    assert (judgment.method_used, judgment.result) == ("rule_only", "warning")
    assert judgment.degraded is not None
    assert "no LLM reachable" in judgment.degraded


async def test_the_sampling_provider_asks_the_callers_model_through_a_plain_async_function(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    tenant = await tenant_with_rules(sessions)
    asked: list[tuple[str, str, int, float]] = []

    async def sample(system: str, user: str, max_tokens: int, temperature: float) -> SampledText:
        asked.append((system, user, max_tokens, temperature))
        return SampledText(
            '{"result": "warning", "confidence": 0.8, "explanation": "trend up", "recommended_actions": []}',
            model="claude-sonnet-4",
        )

    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)), sample=sample)

    assert (judgment.method_used, judgment.result, judgment.confidence) == ("hybrid", "warning", 0.8)
    assert judgment.llm_metadata is not None
    assert judgment.llm_metadata["provider"] == "sampling"
    assert llm.requests == []  # no HTTP LLM, no key needed
    (system, user, max_tokens, temperature) = asked[0]
    assert "JSON" in system
    assert "L01" in user
    assert (max_tokens, temperature) == (2000, 0.2)
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert [
        (c.model, c.success, c.metadata_["provider"], c.metadata_["tokens_estimated"]) for c in calls
    ] == [("claude-sonnet-4", True, "sampling", True)]
    assert calls[0].prompt_tokens > 0
    assert calls[0].cost_estimate_usd is not None


async def test_a_sampling_function_that_fails_degrades_like_an_unreachable_llm(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions)

    async def sample(system: str, user: str, max_tokens: int, temperature: float) -> SampledText:
        raise RuntimeError("client refused sampling")

    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055)), sample=sample)
    assert judgment.method_used == "rule_only"
    assert judgment.degraded is not None
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert [(c.success, c.error_message) for c in calls] == [
        (False, "sampling failed: RuntimeError: client refused sampling")
    ]


async def test_deferred_sampling_ends_the_call_unrecorded_and_the_answered_rerun_completes_it(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions)
    engine = make_engine()

    async def defer(system: str, user: str, max_tokens: int, temperature: float) -> SampledText:
        raise SamplingDeferred(LLMRequest(system, user, "client", temperature, max_tokens))

    with pytest.raises(SamplingDeferred) as deferred:
        await engine.execute(tenant.operator, request(defect_input(0.055)), sample=defer)
    assert await rows(sessions, JudgmentExecution, JudgmentExecution.tenant_id == tenant.id) == []

    @dataclass(frozen=True)
    class ClientAnswer:
        """The MCP face's own answer type: text and model, no token counts."""

        text: str
        model: str
        stop_reason: str | None = None

    async def answered(system: str, user: str, max_tokens: int, temperature: float | None) -> ClientAnswer:
        assert user == deferred.value.request.user_prompt
        return ClientAnswer(
            '{"result": "normal", "confidence": 0.95, "explanation": "noise"}', "client-model"
        )

    judgment = await engine.execute(tenant.operator, request(defect_input(0.055)), sample=answered)
    assert (judgment.method_used, judgment.result) == ("hybrid", "normal")
    calls = await rows(sessions, LLMCall, LLMCall.judgment_execution_id == judgment.id)
    assert [(c.model, c.metadata_["tokens_estimated"]) for c in calls] == [("client-model", True)]


async def test_llm_only_judges_without_a_rule_set(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions, {"llm_config": {"model": "valid"}})
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055), ruleset=None))
    assert (judgment.method_used, judgment.result, judgment.rule_trace) == ("llm_only", "critical", None)


async def test_llm_only_without_an_llm_records_an_unknown_result(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions)
    judgment = await make_engine(base_url=None).execute(
        tenant.operator, request(defect_input(), ruleset=None)
    )
    assert (judgment.method_used, judgment.result, judgment.confidence) == ("llm_only", "unknown", 0.0)
    assert len(await rows(sessions, JudgmentExecution, JudgmentExecution.id == judgment.id)) == 1


async def test_a_forced_rule_only_policy_keeps_an_unsure_rule_answer(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, llm: LLMServer
) -> None:
    tenant = await tenant_with_rules(sessions)
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.055), method="rule_only"))
    assert (judgment.method_used, judgment.confidence, judgment.degraded) == ("rule_only", 0.5, None)
    assert llm.requests == []


async def test_a_forced_cache_policy_without_an_entry_is_not_found(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions)
    with pytest.raises(NotFound):
        await make_engine().execute(tenant.operator, request(defect_input(0.09), method="cache"))


async def test_the_rule_set_can_be_chosen_by_target_kpi_or_id(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:

    tenant = await tenant_with_rules(sessions)
    engine = make_engine()
    by_kpi = await engine.execute(
        tenant.operator, JudgmentRequest(defect_input(0.09), RulesetSelector(target_kpi="defect_rate"))
    )
    assert by_kpi.rule_trace is not None
    assert by_kpi.rule_trace["ruleset_name"] == "defect_rules"
    by_id = await engine.execute(
        tenant.operator,
        JudgmentRequest(
            defect_input(0.091), RulesetSelector(ruleset_id=uuid.UUID(by_kpi.rule_trace["ruleset_id"]))
        ),
    )
    assert by_id.result == "critical"
    # An unknown KPI has no rule set: the LLM judges alone.
    unknown = await engine.execute(
        tenant.operator, JudgmentRequest(defect_input(0.09), RulesetSelector(target_kpi="nope"))
    )
    assert unknown.method_used == "llm_only"


async def test_an_inactive_rule_set_is_a_conflict(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id, is_active=False)
    with pytest.raises(Conflict) as err:
        await make_engine().execute(tenant.operator, request(defect_input()))
    assert err.value.where == "ruleset_name"


async def test_input_missing_a_field_of_the_rule_sets_schema_names_the_field(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions)
    schema = {
        "type": "object",
        "properties": {
            "metrics": {
                "type": "object",
                "required": ["defect_rate", "scrap_qty"],
                "properties": {"defect_rate": {"type": "number", "maximum": 1}},
            }
        },
    }
    await make_ruleset(sessions, tenant.id, metadata={"input_schema": schema})
    engine = make_engine()
    with pytest.raises(InputError) as err:
        await engine.execute(tenant.operator, request(defect_input()))
    assert err.value.where == "input.metrics.scrap_qty"
    data = defect_input(1.5)
    data.metrics["scrap_qty"] = 3  # type: ignore[index]
    with pytest.raises(InputError) as err:
        await engine.execute(tenant.operator, request(data))
    assert err.value.where == "input.metrics.defect_rate"


async def test_a_rule_that_throws_is_traced_and_the_other_rules_still_count(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions, {"llm_config": {"model": "valid"}})
    broken = DEFECT_RULES + '\nfn judge_broken(metrics, context) { throw "sensor offline"; }\n'
    await make_ruleset(sessions, tenant.id, scripts=[broken])
    judgment = await make_engine().execute(tenant.operator, request(defect_input(0.09)))
    assert (judgment.method_used, judgment.result) == ("rule_only", "critical")
    assert judgment.rule_trace is not None
    failed = judgment.rule_trace["failed_rules"]
    assert [(f["rule_id"], f["kind"]) for f in failed] == [("judge_broken", "ErrorRuntime")]
    assert failed[0]["line"] is not None
    assert judgment.degraded is not None
    assert "judge_broken" in judgment.degraded


async def test_a_script_that_does_not_compile_leaves_rule_only_with_an_unknown_result(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id, scripts=["fn judge_x(metrics, context) { let = ; }"])
    judgment = await make_engine().execute(tenant.operator, request(defect_input(), method="rule_only"))
    assert (judgment.result, judgment.method_used) == ("unknown", "rule_only")
    assert judgment.rule_trace is not None
    assert judgment.rule_trace["failed_rules"][0]["kind"] == "ErrorParsing"


async def test_a_script_that_loops_forever_is_stopped_by_the_sandbox(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id, scripts=["fn judge_spin(metrics, context) { loop { } }"])
    judgment = await make_engine().execute(tenant.operator, request(defect_input(), method="rule_only"))
    assert judgment.result == "unknown"
    assert judgment.rule_trace is not None
    assert judgment.rule_trace["failed_rules"][0]["kind"] == "ErrorTooManyOperations"


async def test_canary_routing_sends_each_line_and_shift_to_one_version_every_time(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await make_tenant(sessions)
    v1 = 'fn judge_v(metrics, context) { #{ result: "normal", confidence: 1.0, explanation: "v1" } }'
    v2 = 'fn judge_v(metrics, context) { #{ result: "normal", confidence: 1.0, explanation: "v2" } }'
    await make_ruleset(
        sessions,
        tenant.id,
        scripts=[v1, v2],
        deployments=[
            {"version": 1, "status": "active"},
            {"version": 2, "status": "canary", "canary_pct": 0.5, "canary_target_filter": {"shift": "night"}},
        ],
    )
    engine = make_engine()
    seen: dict[tuple[str, str], set[int]] = {}
    for _ in range(2):
        for line in ("L01", "L02", "L03", "L04", "L05", "L06", "L07", "L08"):
            for shift in ("day", "night"):
                j = await engine.execute(
                    tenant.operator, request(defect_input(line=line, shift=shift), use_cache=False)
                )
                assert j.rule_trace is not None
                seen.setdefault((line, shift), set()).add(j.rule_trace["ruleset_version"])
                assert j.explanation == f"v{j.rule_trace['ruleset_version']}"
                assert j.rule_trace["canary"] == (j.rule_trace["ruleset_version"] == 2)
    assert all(len(versions) == 1 for versions in seen.values())
    assert all(seen[(line, "day")] == {1} for line, _ in seen)  # the filter admits night shifts only
    night = [next(iter(v)) for (_, shift), v in seen.items() if shift == "night"]
    assert 1 in night
    assert 2 in night


async def test_a_tenant_never_sees_or_judges_with_another_tenants_data(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    ours = await tenant_with_rules(sessions)
    theirs = await make_tenant(sessions)
    engine = make_engine()
    judgment = await engine.execute(ours.operator, request(defect_input(0.09)))
    ruleset_id = uuid.UUID(judgment.rule_trace["ruleset_id"])  # type: ignore[index]

    with pytest.raises(NotFound):
        await engine.execute(theirs.operator, request(defect_input(0.09)))
    with pytest.raises(NotFound):
        await engine.execute(
            theirs.operator, JudgmentRequest(defect_input(), RulesetSelector(ruleset_id=ruleset_id))
        )
    with pytest.raises(NotFound):
        await engine.get_judgment(theirs.admin, judgment.id)
    with pytest.raises(NotFound):
        await engine.feedback(theirs.admin, judgment.id, "correct")
    assert await engine.list_judgments(theirs.admin) == []
    assert (
        await engine.stats(theirs.admin, judgment.created_at, judgment.created_at.replace(year=2027))
    ).total == 0
    # Same input, other tenant, no rule set named: no cache hit leaks across tenants.
    mine = await engine.execute(ours.operator, request(defect_input(0.09), ruleset=None, method="llm_only"))
    other = await engine.execute(
        theirs.operator, request(defect_input(0.09), ruleset=None, method="llm_only")
    )
    assert not mine.cache_hit
    assert not other.cache_hit
    assert await engine.invalidate_ruleset(theirs.id, ruleset_id) == 0
    assert (await engine.execute(ours.operator, request(defect_input(0.09)))).cache_hit


async def test_judgments_are_listed_by_result_line_period_and_method(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, clock: Clock
) -> None:
    tenant = await tenant_with_rules(sessions)
    engine = make_engine()
    start = clock.now
    a = await engine.execute(tenant.operator, request(defect_input(0.09, line="L01")))
    clock.advance(60)
    b = await engine.execute(tenant.operator, request(defect_input(0.01, line="L02")))
    clock.advance(60)
    c = await engine.execute(tenant.operator, request(defect_input(0.09, line="L01")))  # cache hit

    assert [j.id for j in await engine.list_judgments(tenant.admin)] == [c.id, b.id, a.id]
    assert [j.id for j in await engine.list_judgments(tenant.admin, JudgmentFilter(result="normal"))] == [
        b.id
    ]
    assert [j.id for j in await engine.list_judgments(tenant.admin, JudgmentFilter(line_code="L01"))] == [
        c.id,
        a.id,
    ]
    assert [j.id for j in await engine.list_judgments(tenant.admin, JudgmentFilter(method="cache"))] == [c.id]
    window = JudgmentFilter(since=start, until=start.replace(minute=2))
    assert [j.id for j in await engine.list_judgments(tenant.admin, window)] == [b.id, a.id]
    assert (await engine.get_judgment(tenant.admin, str(b.id))).as_dict()["result"] == "normal"
    with pytest.raises(InputError) as err:
        await engine.get_judgment(tenant.admin, "not-an-id")
    assert err.value.where == "judgment_id"


async def test_stats_count_results_methods_latency_cache_hits_and_llm_spend(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory, clock: Clock
) -> None:
    tenant = await tenant_with_rules(sessions, model="valid@gpt-4o")
    engine = make_engine()
    start = clock.now
    await engine.execute(tenant.operator, request(defect_input(0.09)))  # rule_only critical
    await engine.execute(tenant.operator, request(defect_input(0.09)))  # cache
    await engine.execute(tenant.operator, request(defect_input(0.055)))  # hybrid critical (LLM)
    await engine.execute(tenant.operator, request(defect_input(0.01)))  # rule_only normal
    clock.advance(3600)
    await engine.execute(tenant.operator, request(defect_input(0.02)))  # outside the period

    stats = await engine.stats(tenant.admin, start, start.replace(minute=30))
    assert stats.total == 4
    assert stats.by_result == {"critical": 3, "normal": 1}
    assert stats.by_method == {"rule_only": 2, "cache": 1, "hybrid": 1}
    assert stats.cache_hits == 1
    assert stats.cache_hit_rate == 0.25
    assert stats.latency_p50_ms is not None
    assert stats.latency_p95_ms is not None
    assert stats.latency_p50_ms <= stats.latency_p95_ms
    assert (stats.llm_calls, stats.llm_total_tokens) == (1, 160)
    assert stats.llm_cost_usd == Decimal("0.000700")
    assert stats.as_dict()["llm"]["cost_usd"] == "0.000700"


async def test_a_database_failure_is_a_retriable_store_error(tmp_path: Path) -> None:
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")  # no tables at all
    engine = JudgmentEngine(async_sessionmaker(db, expire_on_commit=False), Settings(llm_base_url=None))
    caller = Caller.of(tenant_id=uuid.uuid4(), tenant_name="t", user_id=None, username="u", role="operator")
    try:
        with pytest.raises(StoreError) as err:
            await engine.execute(caller, request(defect_input()))
        assert err.value.retriable
    finally:
        await engine.aclose()
        await db.dispose()


async def test_a_reused_script_hash_never_runs_another_tenants_script(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    ours, theirs = await make_tenant(sessions), await make_tenant(sessions)
    mine = 'fn judge_a(metrics, context) { #{ result: "normal", confidence: 1.0, explanation: "ours" } }'
    other = 'fn judge_a(metrics, context) { #{ result: "critical", confidence: 1.0, explanation: "theirs" } }'
    await make_ruleset(sessions, ours.id, scripts=[mine], script_hash="same")
    await make_ruleset(sessions, theirs.id, scripts=[other], script_hash="same")
    engine = make_engine()
    assert (await engine.execute(ours.operator, request(defect_input()))).explanation == "ours"
    assert (await engine.execute(theirs.operator, request(defect_input()))).explanation == "theirs"


async def test_a_metric_the_rules_read_unguarded_is_required_by_name(
    sessions: async_sessionmaker[AsyncSession], make_engine: EngineFactory
) -> None:
    tenant = await tenant_with_rules(sessions)
    engine = make_engine()
    data = JudgmentInput("L01", "day", "2025-01-26", {"oee": 0.4})
    with pytest.raises(InputError) as err:
        await engine.execute(tenant.operator, request(data))
    assert err.value.where == "input.metrics.defect_rate"
    # oee is guarded with `"oee" in metrics`, so an input without it is fine.
    judged = await engine.execute(
        tenant.operator, request(JudgmentInput("L01", "day", "2025-01-26", {"defect_rate": 0.09}))
    )
    assert judged.result == "critical"
