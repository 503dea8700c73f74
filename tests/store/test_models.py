"""The models on a migrated database, SQLite and PostgreSQL: every table round-trips, constraints hold."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import hub.store
from hub.store import migrate, models
from hub.store.db import create_engine, create_sessionmaker
from hub.store.models import Base

pytestmark = pytest.mark.anyio


async def _new_tenant(session: AsyncSession, name: str = "acme") -> models.Tenant:
    tenant = models.Tenant(name=name, display_name=name.title())
    session.add(tenant)
    await session.flush()
    return tenant


def _one_row_per_table(tenant: models.Tenant) -> list[list[Base]]:
    """A row for every table, in batches that satisfy the foreign keys when flushed in order."""
    t = tenant.id
    user = models.User(tenant_id=t, email="u@acme.test", username="u", password_hash="x", role="viewer")
    workflow = models.Workflow(
        tenant_id=t, name="wf", dsl_json={"nodes": []}, dsl_digest="d", tags=["a", "b"]
    )
    step = models.WorkflowStep(
        workflow_id=workflow.id, step_order=1, node_id="n1", node_type="DATA", config={}
    )
    instance = models.WorkflowInstance(
        workflow_id=workflow.id, tenant_id=t, status="RUNNING", trigger_type="api", trace_id="tr"
    )
    judgment = models.JudgmentExecution(
        tenant_id=t,
        workflow_instance_id=instance.id,
        source="api",
        input_data={"line": "L01"},
        result="normal",
        confidence=0.5,
        method_used="rule_only",
        recommended_actions=[{"action_type": "alert"}],
        trace_id="tr",
    )
    ruleset = models.Ruleset(tenant_id=t, name="rs", target_kpi="oee", category="quality")
    template = models.PromptTemplate(
        tenant_id=t, name="p", purpose="x", version=1, template_type="chat", model_config={}, variables={}
    )
    session_row = models.ChatSession(tenant_id=t, user_id=user.id)
    intent = models.IntentLog(tenant_id=t, user_id=user.id, user_query="q", predicted_intent="check_oee")
    server = models.MCPServer(
        tenant_id=t, name="s", endpoint="stdio:x", protocol="streamable_http", config={}
    )
    tool = models.MCPTool(
        mcp_server_id=server.id, tool_name="echo", input_schema={"type": "object"}, pending_definition=None
    )
    now = dt.datetime.now(dt.UTC)
    return [
        [user, workflow, ruleset, template, server],
        [step, session_row, intent, tool],
        [instance],
        [
            models.WorkflowExecutionLog(
                instance_id=instance.id, step_id=step.id, node_id="n1", status="RUNNING"
            ),
            judgment,
            models.RuleScript(ruleset_id=ruleset.id, version=1, script="1", script_hash="h"),
            models.RuleDeployment(
                tenant_id=t, ruleset_id=ruleset.id, version=1, changelog="c", canary_pct=0.1
            ),
            models.RuleConflict(
                tenant_id=t,
                ruleset_id=ruleset.id,
                rule_version_1=1,
                rule_version_2=2,
                conflict_type="output_conflict",
                description="d",
                severity="high",
            ),
            models.AutoRuleCandidate(
                tenant_id=t, generated_rule="r", generation_method="llm", conflict_with=["R1"], precision=0.9
            ),
            models.ModelTrainingJob(tenant_id=t, job_type="rule_learning", training_config={}),
            models.PromptTemplateBody(template_id=template.id, system_prompt="s", user_prompt_template="u"),
            models.ChatMessage(session_id=session_row.id, role="user", content="hi", intent_log_id=intent.id),
            models.DataConnector(
                tenant_id=t,
                name="mes",
                type="postgres",
                config={"host": "h"},
                credentials_encrypted=b"\x00\x01",
            ),
            models.MCPCallLog(tenant_id=t, mcp_tool_id=tool.id, input_data={"a": 1}, output_data=[1, 2]),
            models.AuditLog(
                tenant_id=t,
                actor_id=user.id,
                actor_type="user",
                action="create",
                resource_type="mcp_server",
                ip_address="192.0.2.1",
            ),
            models.APIKey(
                tenant_id=t,
                user_id=user.id,
                name="k",
                prefix="hub_ab12cd34",
                key_hash="0" * 64,
                scopes=["mcp:read"],
            ),
        ],
        [
            models.JudgmentCache(
                tenant_id=t,
                cache_key="k",
                judgment_execution_id=judgment.id,
                input_hash="h",
                result="normal",
                expires_at=now + dt.timedelta(hours=1),
            ),
            models.Feedback(
                tenant_id=t,
                judgment_execution_id=judgment.id,
                user_id=user.id,
                feedback_type="correct",
                rating=5,
            ),
            models.LearningSample(
                tenant_id=t, judgment_execution_id=judgment.id, input_features={}, label={}, source="auto"
            ),
            models.LLMCall(
                tenant_id=t,
                judgment_execution_id=judgment.id,
                prompt_template_id=template.id,
                call_type="judgment",
                model="m",
                prompt_tokens=1,
                completion_tokens=2,
                total_tokens=3,
                cost_estimate_usd=Decimal("0.023400"),
            ),
        ],
    ]


async def test_every_table_accepts_a_row_and_returns_it(session: AsyncSession) -> None:
    tenant = await _new_tenant(session)
    batches = _one_row_per_table(tenant)
    for batch in batches:
        session.add_all(batch)
        await session.flush()
    await session.commit()
    written = [tenant, *(row for batch in batches for row in batch)]
    assert {type(row).__table__.name for row in written} == set(Base.metadata.tables)  # type: ignore[attr-defined]

    session.expunge_all()
    for row in written:
        model = type(row)
        loaded = await session.get(model, row.id)  # type: ignore[attr-defined]
        assert loaded is not None, model.__name__
        for column in model.__table__.columns:
            key = model.__mapper__.get_property_by_column(column).key
            assert getattr(loaded, key) == getattr(row, key), f"{model.__name__}.{key}"


async def test_python_values_keep_their_types_on_both_databases(session: AsyncSession) -> None:
    tenant = await _new_tenant(session)
    batches = _one_row_per_table(tenant)
    for batch in batches:
        session.add_all(batch)
        await session.flush()
    await session.commit()
    session.expunge_all()
    workflow = (await session.execute(sa.select(models.Workflow))).scalar_one()
    call = (await session.execute(sa.select(models.LLMCall))).scalar_one()
    audit = (await session.execute(sa.select(models.AuditLog))).scalar_one()
    connector = (await session.execute(sa.select(models.DataConnector))).scalar_one()
    tool = (await session.execute(sa.select(models.MCPTool))).scalar_one()
    assert isinstance(workflow.id, uuid.UUID)
    assert workflow.tags == ["a", "b"]
    assert workflow.metadata_ == {}
    assert workflow.created_at.tzinfo is not None
    assert workflow.created_at.utcoffset() == dt.timedelta(0)
    assert call.cost_estimate_usd == Decimal("0.023400")
    assert audit.ip_address == "192.0.2.1"
    assert connector.credentials_encrypted == b"\x00\x01"
    assert tool.pending_definition is None
    assert tool.is_enabled is True


async def test_none_in_a_json_column_is_sql_null_not_json_null(session: AsyncSession) -> None:
    tenant = await _new_tenant(session)
    session.add(models.AuditLog(tenant_id=tenant.id, actor_type="system", action="x", resource_type="y"))
    await session.commit()
    nulls = await session.scalar(sa.select(sa.func.count()).where(models.AuditLog.before_state.is_(None)))
    assert nulls == 1


async def test_a_timestamp_in_another_zone_is_stored_as_the_same_instant(session: AsyncSession) -> None:
    seoul = dt.timezone(dt.timedelta(hours=9))
    moment = dt.datetime(2025, 1, 26, 9, 0, tzinfo=seoul)
    tenant = await _new_tenant(session)
    tenant.deleted_at = moment
    await session.commit()
    session.expunge_all()
    loaded = await session.get(models.Tenant, tenant.id)
    assert loaded is not None
    assert loaded.deleted_at == moment
    assert loaded.deleted_at is not None
    assert loaded.deleted_at.tzinfo == dt.UTC


async def test_server_defaults_are_readable_right_after_the_insert(session: AsyncSession) -> None:
    tenant = await _new_tenant(session)
    await session.commit()
    # No lazy load happens here (it would fail in an async session): the values came back already.
    assert tenant.status == "active"
    assert tenant.subscription_plan == "standard"
    assert tenant.max_users == 10
    assert tenant.settings == {}
    assert tenant.created_at <= dt.datetime.now(dt.UTC)


async def test_an_orm_update_moves_updated_at(database_url: str) -> None:
    # Its own database: within the rolled-back transaction of the other tests, now() stands still.
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            tenant = await _new_tenant(session)
            await session.commit()
            created = tenant.updated_at
            tenant.display_name = "Renamed"
            await session.commit()
    finally:
        await engine.dispose()
    assert tenant.updated_at > created


CHECK_VIOLATIONS: list[tuple[str, dict[str, Any]]] = [
    ("tenants", {"subscription_plan": "free"}),
    ("tenants", {"status": "gone"}),
    ("users", {"role": "superuser"}),
    ("workflow_steps", {"node_type": "LOOP"}),
    ("judgment_executions", {"confidence": 1.5}),
    ("judgment_executions", {"method_used": "guess"}),
    ("rule_scripts", {"language": "lua"}),
    ("rule_deployments", {"canary_pct": -0.1}),
    ("feedbacks", {"rating": 6}),
    ("mcp_servers", {"protocol": "carrier_pigeon"}),
    ("mcp_servers", {"circuit_breaker_state": "ajar"}),
    ("audit_logs", {"actor_type": "robot"}),
]


@pytest.mark.parametrize(
    ("table", "bad"), CHECK_VIOLATIONS, ids=[f"{t}.{next(iter(b))}" for t, b in CHECK_VIOLATIONS]
)
async def test_check_constraints_reject_values_outside_the_spec(
    session: AsyncSession, table: str, bad: dict[str, Any]
) -> None:
    tenant = await _new_tenant(session)
    batches = _one_row_per_table(tenant)
    rows = [tenant, *(row for batch in batches for row in batch)]
    for batch in batches:
        session.add_all(batch)
        await session.flush()
    target = next(row for row in rows if type(row).__table__.name == table)  # type: ignore[attr-defined]
    for key, value in bad.items():
        setattr(target, key, value)
    with pytest.raises(sa.exc.IntegrityError):
        await session.flush()


async def test_foreign_keys_are_enforced_on_both_databases(session: AsyncSession) -> None:
    session.add(
        models.User(tenant_id=uuid.uuid4(), email="x", username="x", password_hash="x", role="viewer")
    )
    with pytest.raises(sa.exc.IntegrityError):
        await session.flush()


async def test_deleting_a_tenant_deletes_its_users_and_api_keys(session: AsyncSession) -> None:
    tenant = await _new_tenant(session)
    user = models.User(tenant_id=tenant.id, email="x", username="x", password_hash="x", role="viewer")
    session.add(user)
    await session.flush()
    session.add(models.APIKey(tenant_id=tenant.id, user_id=user.id, name="k", prefix="hub_1", key_hash="h"))
    await session.commit()
    await session.execute(sa.delete(models.Tenant).where(models.Tenant.id == tenant.id))
    await session.commit()
    users = await session.scalar(sa.select(sa.func.count()).select_from(models.User))
    keys = await session.scalar(sa.select(sa.func.count()).select_from(models.APIKey))
    assert (users, keys) == (1, 0)  # the seeded admin of the demo tenant remains


async def test_api_key_prefixes_are_unique(session: AsyncSession) -> None:
    admin = (await session.execute(sa.select(models.User))).scalar_one()
    for name in ("a", "b"):
        session.add(
            models.APIKey(
                tenant_id=admin.tenant_id, user_id=admin.id, name=name, prefix="hub_same", key_hash=name
            )
        )
    with pytest.raises(sa.exc.IntegrityError):
        await session.flush()


def test_the_store_package_exports_a_sorted_public_surface() -> None:
    assert hub.store.__all__ == sorted(hub.store.__all__)
    assert all(hasattr(hub.store, name) for name in hub.store.__all__)
    assert all(hasattr(models, name) for name in models.__all__)
    mapped = {mapper.class_.__name__ for mapper in Base.registry.mappers}
    assert mapped <= set(models.__all__)
