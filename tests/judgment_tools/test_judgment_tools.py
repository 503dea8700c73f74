"""Judgments through a real MCP client session: the spec's test cases, both sampling eras, the HTTP LLM,
judge_<name> tools following deployments, tenant isolation and bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
import sqlalchemy as sa
from mcp import Client

from hub.app import App
from hub.errors import NotFound
from hub.server.mcp import build_server
from hub.store.models import LearningSample, LLMCall, Tenant
from tests.judgment.llm_server import LLMServer
from tests.judgment.support import DEFECT_RULES, make_ruleset, make_tenant
from tests.judgment_tools.support import (
    VERDICT,
    call,
    call_error,
    deploy_ruleset,
    hub_app,
    judgment_input,
    sampling_answer,
)

pytestmark = pytest.mark.anyio

THROWING_RULES = """
fn judge_throughput(metrics, context) {
  if metrics.throughput < 10 { throw "sensor offline"; }
  #{ result: "normal", confidence: 1.0, explanation: "throughput fine" }
}
"""


async def llm_calls(app: App, judgment_id: str) -> list[LLMCall]:
    # Read from the table itself, past the engine: what its writer still holds must be stored first.
    await app.judgments.flush()
    async with app.sessions() as session:
        rows = await session.scalars(
            sa.select(LLMCall)
            .where(LLMCall.judgment_execution_id == uuid.UUID(judgment_id))
            .order_by(LLMCall.created_at)
        )
        return list(rows.all())


async def test_spec_cases_over_mcp_with_handshake_sampling(tmp_path: Path) -> None:
    """TC-JUD-001 (hybrid, rule trace, LLM metadata), TC-JUD-002 (cache hit), TC-LRN-001 (validated sample)."""
    changed = anyio.Event()
    prompts_seen: list[str] = []

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        content = params.messages[0].content
        assert isinstance(content, types.TextContent)
        prompts_seen.append(content.text)
        return sampling_answer(json.dumps(VERDICT))

    async with (
        hub_app(tmp_path) as app,
        Client(
            build_server(app), mode="legacy", sampling_callback=sampling, message_handler=on_message
        ) as client,
    ):
        before = {t.name for t in (await client.list_tools()).tools}
        assert {
            "judgment_execute",
            "judgment_get",
            "judgment_list",
            "judgment_feedback",
            "judgment_stats",
        } <= before
        assert "judge_defect_rules" not in before

        deployed = await deploy_ruleset(client, "defect_rules", DEFECT_RULES)
        assert deployed["rulesets_changed"] is True
        with anyio.fail_after(10):
            await changed.wait()
        tools = {t.name: t for t in (await client.list_tools()).tools}
        judge = tools["judge_defect_rules"]
        # The schema names what the rules read, and requires the unguarded metric.
        assert judge.input_schema["properties"]["metrics"]["required"] == ["defect_rate"]
        assert "target_defect_rate" in judge.input_schema["properties"]["context"]["properties"]

        # TC-JUD-001: confidence 0.5 < 0.8, so the client's model is asked.
        args = {"input": judgment_input(0.055), "ruleset_name": "defect_rules"}
        first = await call(client, "judgment_execute", args)
        assert first["method_used"] == "hybrid"
        assert first["cache_hit"] is False
        assert first["rule_trace"]["matched_rules"][0]["rule_id"] == "judge_defect_rate"
        assert first["rule_trace"]["ruleset_version"] == 1
        assert first["llm_metadata"]["provider"] == "sampling"
        assert first["llm_metadata"]["model"] == "client-model"
        assert first["result"] == "warning"
        assert len(prompts_seen) == 1
        assert "L01" in prompts_seen[0]
        calls = await llm_calls(app, first["id"])
        assert [(c.success, c.validation_error) for c in calls] == [(True, False)]

        # TC-JUD-002: the same input again is a cache hit, without asking the model.
        second = await call(client, "judgment_execute", args)
        assert second["method_used"] == "cache"
        assert second["cache_hit"] is True
        assert second["result"] == first["result"]
        assert len(prompts_seen) == 1

        got = await call(client, "judgment_get", {"judgment_id": first["id"]})
        assert got["id"] == first["id"]
        assert got["method_used"] == "hybrid"

        # A confident rule answers alone through the rule set's own tool.
        critical = await call(client, "judge_defect_rules", judgment_input(0.2, line="L02"))
        assert (critical["method_used"], critical["result"]) == ("rule_only", "critical")

        listed = await call(client, "judgment_list", {"method": "cache"})
        assert [j["id"] for j in listed["judgments"]] == [second["id"]]
        assert (await call(client, "judgment_list", {"line_code": "L02"}))["count"] == 1
        assert (await call(client, "judgment_list", {"result": "critical"}))["count"] == 1
        assert (await call(client, "judgment_list", {"since": "2000-01-01T00:00:00Z"}))["count"] == 3
        assert (await call(client, "judgment_list", {"until": "2000-01-01T00:00:00Z"}))["count"] == 0

        stats = await call(client, "judgment_stats", {})
        assert stats["total"] == 3
        assert stats["by_method"] == {"hybrid": 1, "cache": 1, "rule_only": 1}
        assert stats["by_result"] == {"warning": 2, "critical": 1}
        assert stats["cache_hit_rate"] == pytest.approx(1 / 3)
        assert stats["latency_p50_ms"] is not None
        assert stats["latency_p95_ms"] is not None
        assert stats["llm"]["calls"] == 1
        assert stats["llm"]["total_tokens"] > 0

        # TC-LRN-001: an admin's correction is a validated learning sample.
        receipt = await call(
            client,
            "judgment_feedback",
            {"judgment_id": first["id"], "feedback_type": "incorrect", "corrected_result": "critical"},
        )
        assert receipt["is_validated"] is True
        async with app.sessions() as session:
            sample = await session.get(LearningSample, uuid.UUID(receipt["learning_sample_id"]))
        assert sample is not None
        assert sample.source == "feedback"
        assert sample.is_validated
        assert sample.label["result"] == "critical"
        assert sample.label["original_result"] == "warning"
        async with app.sessions() as session:
            audited = (
                await session.execute(
                    sa.text(
                        "SELECT action, resource_id, trace_id FROM audit_logs WHERE resource_type = 'judgment_execution'"
                    )
                )
            ).all()
        assert [(a, r) for a, r, _ in audited] == [("feedback", first["id"])]

        # Prompt templates are MCP prompts.
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert "judgment_default" in prompts
        rendered = await client.get_prompt(
            "judgment_default", {"input_data": json.dumps(judgment_input(0.06, line="L07"))}
        )
        assert any(
            isinstance(m.content, types.TextContent) and "L07" in m.content.text for m in rendered.messages
        )


async def test_modern_era_sampling_goes_through_input_required_and_survives_an_invalid_answer(
    tmp_path: Path,
) -> None:
    answers = iter(["Looks fine to me.", json.dumps(VERDICT)])
    asked: list[str] = []

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        content = params.messages[0].content
        assert isinstance(content, types.TextContent)
        asked.append(content.text)
        return sampling_answer(next(answers), model="modern-model")

    async with hub_app(tmp_path) as app:
        async with Client(build_server(app), mode="legacy") as admin:
            await deploy_ruleset(admin, "defect_rules", DEFECT_RULES)
        async with Client(build_server(app), mode="auto", sampling_callback=sampling) as client:
            assert client.protocol_version == "2026-07-28"
            done = await call(
                client, "judgment_execute", {"input": judgment_input(0.055), "target_kpi": "defect_rate"}
            )
            assert done["method_used"] == "hybrid"
            assert done["degraded"] is None
            assert done["llm_metadata"]["provider"] == "sampling"
            assert done["llm_metadata"]["model"] == "modern-model"
            # The prose answer was retried once with a correction, over a second input-required round.
            assert done["llm_metadata"]["retry_count"] == 1
            assert len(asked) == 2
            assert "Answer again" in asked[1]
            calls = await llm_calls(app, done["id"])
            assert [(c.success, c.validation_error) for c in calls] == [(True, True), (True, False)]
            # Exactly one judgment was recorded for the three rounds.
            assert (await call(client, "judgment_list", {}))["count"] == 1


async def test_the_openai_compatible_endpoint_answers_when_the_client_cannot_sample(
    tmp_path: Path, llm: LLMServer
) -> None:
    async with hub_app(tmp_path, llm_base_url=llm.base_url, llm_timeout_seconds=5) as app:

        async def use_model(model: str) -> None:
            async with app.sessions() as session, session.begin():
                await session.execute(
                    sa.update(Tenant)
                    .where(Tenant.name == "demo")
                    .values(settings={"llm_config": {"model": model}})
                )
            # Settings changed behind the hub's back reach it within STATE_TTL_SECONDS; a reload
            # (SIGHUP, ``hub config reload``) applies them at once.
            await app.reload()

        async with Client(build_server(app), mode="legacy") as client:
            await deploy_ruleset(client, "defect_rules", DEFECT_RULES)
            await use_model("valid@gpt-4o-mini")
            good = await call(client, "judge_defect_rules", judgment_input(0.055))
            assert good["method_used"] == "hybrid"
            assert good["llm_metadata"]["provider"] == "openai_compat"
            assert good["llm_metadata"]["model"] == "gpt-4o-mini"
            assert good["llm_metadata"]["cost_estimate_usd"] is not None
            assert good["result"] == "critical"  # the loopback model's verdict outranks the rules' warning

            # Prose twice: the rules' answer stands, the validation error is recorded, the hub keeps serving.
            await use_model("prose")
            fallback = await call(client, "judge_defect_rules", judgment_input(0.056))
            assert fallback["method_used"] == "rule_only"
            assert fallback["degraded"] is not None
            assert fallback["result"] == "warning"
            calls = await llm_calls(app, fallback["id"])
            assert [c.validation_error for c in calls] == [True, True]
            stats = await call(client, "judgment_stats", {})
            assert stats["llm"]["validation_errors"] == 2
            assert (await client.call_tool("hub_status", {})).is_error is False


async def test_bad_input_gets_a_precise_error_and_a_throwing_rule_a_recorded_fallback(tmp_path: Path) -> None:
    async with hub_app(tmp_path) as app, Client(build_server(app), mode="legacy") as client:
        await deploy_ruleset(client, "defect_rules", DEFECT_RULES)
        base = judgment_input(0.05)

        missing = await call_error(
            client, "judgment_execute", {"input": {k: v for k, v in base.items() if k != "shift"}}
        )
        assert (missing["kind"], missing["where"]) == ("InputError", "arguments.input")
        assert "'shift' is a required property" in missing["message"]

        wrong = dict(base, metrics={"defect_rate": "high"})
        typed = await call_error(client, "judgment_execute", {"input": wrong, "ruleset_name": "defect_rules"})
        assert (typed["kind"], typed["where"]) == ("InputError", "arguments.input.metrics.defect_rate")

        bad_date = await call_error(client, "judgment_execute", {"input": dict(base, date="26/01/2025")})
        assert (bad_date["kind"], bad_date["where"]) == ("InputError", "input.date")

        # The rule set's tool requires the metric its rules read unguarded.
        unread = await call_error(client, "judge_defect_rules", dict(base, metrics={"oee": 0.7}))
        assert (unread["where"], unread["kind"]) == ("arguments.metrics", "InputError")
        assert "defect_rate" in unread["message"]

        unknown = await call_error(client, "judgment_execute", {"input": base, "ruleset_name": "nope"})
        assert (unknown["kind"], unknown["where"]) == ("NotFound", "ruleset_name")
        not_uuid = await call_error(client, "judgment_get", {"judgment_id": "42"})
        assert not_uuid["kind"] == "InputError"
        no_label = await call_error(
            client, "judgment_feedback", {"judgment_id": str(uuid.uuid4()), "feedback_type": "incorrect"}
        )
        assert (no_label["kind"], no_label["where"]) == ("InputError", "corrected_result")

        # A rule that throws: no LLM here, so the judgment is recorded as 'unknown' with the failure named.
        await deploy_ruleset(client, "throughput_rules", THROWING_RULES, target_kpi="throughput")
        thrown = await call(client, "judge_throughput_rules", dict(base, metrics={"throughput": 3}))
        assert thrown["rule_trace"]["failed_rules"][0]["rule_id"] == "judge_throughput"
        assert "rule failures: judge_throughput" in thrown["degraded"]
        assert "no LLM reachable" in thrown["degraded"]
        stored = await call(client, "judgment_get", {"judgment_id": thrown["id"]})
        assert stored["degraded"] == thrown["degraded"]
        fine = await call(client, "judge_throughput_rules", dict(base, metrics={"throughput": 30}))
        assert fine["result"] == "normal"
        assert not (await client.call_tool("hub_status", {})).is_error


async def test_a_tenant_never_sees_or_judges_with_another_tenants_rule_sets_judgments_or_feedback(
    tmp_path: Path,
) -> None:
    async with hub_app(tmp_path) as app, Client(build_server(app), mode="legacy") as client:
        await deploy_ruleset(client, "defect_rules", DEFECT_RULES)
        mine = await call(client, "judge_defect_rules", judgment_input(0.2))
        other = await make_tenant(app.sessions)
        await app.judge_tools.refresh(other.id)
        caller = other.operator
        dispatcher = app.dispatcher

        assert not list(app.judge_tools.listed(caller))
        with pytest.raises(NotFound):
            await dispatcher.call(caller, "judge_defect_rules", judgment_input(0.2))
        for name, args, where in (
            (
                "judgment_execute",
                {"input": judgment_input(0.2), "ruleset_name": "defect_rules"},
                "ruleset_name",
            ),
            ("judgment_get", {"judgment_id": mine["id"]}, "judgment_id"),
            ("judgment_feedback", {"judgment_id": mine["id"], "feedback_type": "correct"}, "judgment_id"),
        ):
            outcome = await dispatcher.call(caller, name, args)
            assert isinstance(outcome.error, NotFound), (name, outcome)
            assert outcome.error.where == where
        listed = await dispatcher.call(caller, "judgment_list", {})
        assert listed.value == {"judgments": [], "count": 0}
        stats = await dispatcher.call(caller, "judgment_stats", {})
        assert stats.value["total"] == 0
        # The same input in the other tenant is not the first tenant's cache hit.
        own = await dispatcher.call(caller, "judgment_execute", {"input": judgment_input(0.2)})
        assert own.value is not None
        assert own.value["method_used"] == "llm_only"
        # And the first tenant still sees only its own judgment.
        assert (await call(client, "judgment_list", {}))["count"] == 1


async def test_a_tenant_first_seen_after_start_gets_its_rule_set_tools_and_a_list_changed(
    tmp_path: Path,
) -> None:
    async with hub_app(tmp_path) as app:
        other = await make_tenant(app.sessions)
        await make_ruleset(app.sessions, other.id, name="late_rules")
        told: list[uuid.UUID] = []
        loaded = anyio.Event()

        async def listener(tenant_id: uuid.UUID) -> None:
            told.append(tenant_id)
            loaded.set()

        app.list_changed_listeners.append(listener)
        # Not loaded at start (the tenant did not exist): the first look starts a load in the background.
        assert app.judge_tools.listed(other.operator) == []
        with anyio.fail_after(10):
            await loaded.wait()
        assert told == [other.id]
        assert [t.name for t in app.judge_tools.listed(other.operator)] == ["judge_late_rules"]
        outcome = await app.dispatcher.call(other.operator, "judge_late_rules", judgment_input(0.2))
        assert outcome.value is not None
        assert (outcome.value["method_used"], outcome.value["result"]) == ("rule_only", "critical")
