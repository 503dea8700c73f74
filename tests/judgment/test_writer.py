"""Judgments recorded behind the caller's back, and what the engine keeps in memory, on SQLite and PostgreSQL.

The engine here runs its writer in the background as the hub does (``JudgmentEngine.run``), with an
interval so long that nothing is written unless a test asks for it: what is queued and what is
stored is then decided by the test, not by timing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import StoreError
from hub.judgment import Judgment, JudgmentEngine, JudgmentFilter
from hub.judgment.cache import LocalCache
from hub.judgment.engine import STATE_TTL_SECONDS
from hub.judgment.records import to_values
from hub.judgment.writer import JudgmentWriter, PendingJudgment
from hub.rules.deployments import deploy
from hub.settings import Settings
from hub.store.db import create_engine
from hub.store.models import Base, JudgmentCache, JudgmentExecution, Tenant
from tests.judgment.conftest import Clock
from tests.judgment.support import DEFECT_RULES, defect_input, make_ruleset, make_tenant, request

pytestmark = pytest.mark.anyio

# Version 2 of the rule set: answers every input the same way, so which version judged is plain.
V2_RULES = """
fn judge_all(metrics, context) {
  #{ result: "normal", confidence: 1.0, explanation: "version 2" }
}
"""


class Monotonic:
    """A monotonic clock the tests move by hand (what the engine's in-memory state ages by)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


EngineFactory = Callable[..., Awaitable[JudgmentEngine]]


@pytest.fixture
async def background(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> AsyncIterator[tuple[EngineFactory, Monotonic]]:
    """Engines whose writers run in the background but write only when flushed (or closed)."""
    monotonic = Monotonic()
    async with anyio.create_task_group() as tg:
        engines: list[JudgmentEngine] = []

        async def start(engine: JudgmentEngine) -> None:
            await tg.start(engine.run)

        def build(**kwargs: Any) -> JudgmentEngine:
            writer = JudgmentWriter(sessions, interval=3600, monotonic=monotonic, **kwargs)
            engine = JudgmentEngine(
                sessions, Settings(llm_base_url=None), clock=clock, writer=writer, monotonic=monotonic
            )
            engines.append(engine)
            return engine

        async def started(**kwargs: Any) -> JudgmentEngine:
            engine = build(**kwargs)
            await start(engine)
            return engine

        yield started, monotonic
        for engine in engines:
            await engine.aclose()


async def stored(sessions: async_sessionmaker[AsyncSession], judgment_id: uuid.UUID) -> bool:
    async with sessions() as session:
        return await session.get(JudgmentExecution, judgment_id) is not None


async def cache_rows(sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> list[JudgmentCache]:
    async with sessions() as session:
        return list(
            (
                await session.scalars(sa.select(JudgmentCache).where(JudgmentCache.tenant_id == tenant_id))
            ).all()
        )


async def test_a_judgment_is_answered_before_it_is_stored_and_every_read_finds_it(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic], clock: Clock
) -> None:
    started, _ = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id)

    judgment = await engine.execute(tenant.operator, request(defect_input(0.09)))

    assert engine.writer.pending == 1
    assert not await stored(sessions, judgment.id)
    # Each read of judgments stores what is queued first.
    assert (await engine.get_judgment(tenant.operator, judgment.id)).rule_trace == judgment.rule_trace
    assert engine.writer.pending == 0
    assert await stored(sessions, judgment.id)
    second = await engine.execute(tenant.operator, request(defect_input(0.01)))
    listed = await engine.list_judgments(tenant.operator, JudgmentFilter())
    assert {j.id for j in listed} == {second.id, judgment.id}
    third = await engine.execute(tenant.operator, request(defect_input(0.02)))
    stats = await engine.stats(
        tenant.operator, clock.now - dt.timedelta(minutes=1), clock.now + dt.timedelta(minutes=1)
    )
    assert stats.total == 3
    fourth = await engine.execute(tenant.operator, request(defect_input(0.03)))
    receipt = await engine.feedback(tenant.operator, fourth.id, "helpful")
    assert receipt.feedback_id is not None
    assert await stored(sessions, third.id)


async def test_hits_are_counted_in_the_table_in_batches(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic], clock: Clock
) -> None:
    started, _ = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id)

    first = await engine.execute(tenant.operator, request(defect_input(0.09)))
    hits = [await engine.execute(tenant.operator, request(defect_input(0.09))) for _ in range(5)]

    # Answered from memory before anything reached the table: the entry is this process's own.
    assert [h.metadata["hit_count"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(h.cache_hit and h.metadata["cached_judgment_id"] == str(first.id) for h in hits)
    assert engine.writer.pending == 6
    await engine.flush()
    (entry,) = await cache_rows(sessions, tenant.id)
    assert (entry.judgment_execution_id, entry.hit_count, entry.last_hit_at) == (first.id, 5, clock.now)
    async with sessions() as session:
        recorded = (
            await session.scalars(
                sa.select(JudgmentExecution.id).where(
                    JudgmentExecution.tenant_id == tenant.id, JudgmentExecution.cache_hit
                )
            )
        ).all()
    assert set(recorded) == {h.id for h in hits}


async def test_closing_the_engine_stores_what_is_queued(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic]
) -> None:
    started, _ = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id)
    judged = [await engine.execute(tenant.operator, request(defect_input(0.01 * i))) for i in range(1, 5)]
    assert engine.writer.pending == 4

    await engine.aclose()

    assert engine.writer.pending == 0
    for judgment in judged:
        assert await stored(sessions, judgment.id)


async def test_a_judgment_naming_an_unknown_workflow_fails_the_call_not_a_batch(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic]
) -> None:
    started, _ = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id)
    queued = await engine.execute(tenant.operator, request(defect_input(0.01)))

    with pytest.raises(StoreError):
        await engine.execute(tenant.operator, request(defect_input(0.09), workflow_id=uuid.uuid4()))

    # The judgment queued before it was stored first; the refused one is not in memory either.
    assert await stored(sessions, queued.id)
    assert engine.writer.pending == 0
    again = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert not again.cache_hit


def judgment_for(tenant_id: uuid.UUID, created_at: dt.datetime) -> Judgment:
    return Judgment(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        result="normal",
        confidence=1.0,
        method_used="rule_only",
        explanation="x",
        recommended_actions=(),
        input_data={"line_code": "L01"},
        rule_trace=None,
        llm_metadata=None,
        evidence=None,
        cache_hit=False,
        cache_key=None,
        latency_ms=1,
        trace_id="t",
        source="api",
        created_at=created_at,
    )


async def test_a_row_the_database_refuses_does_not_cost_the_rest_of_its_batch(
    sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    tenant = await make_tenant(sessions)
    writer = JudgmentWriter(sessions, interval=3600)
    good = [judgment_for(tenant.id, clock.now) for _ in range(3)]
    orphan = judgment_for(uuid.uuid4(), clock.now)  # no such tenant: a foreign key the database refuses
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)
        for judgment in (good[0], orphan, *good[1:]):
            await writer.submit(PendingJudgment(to_values(judgment)))
        assert writer.pending == 4
        await writer.flush()
        await writer.aclose()
    assert (writer.pending, writer.written, writer.dropped) == (0, 3, 1)
    for judgment in good:
        assert await stored(sessions, judgment.id)


async def test_while_the_database_is_away_judgments_wait_in_memory_up_to_a_bound(
    tmp_path: Path, clock: Clock
) -> None:
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'away.sqlite3'}")  # no tables yet: every write fails
    sessions = async_sessionmaker(db, expire_on_commit=False)
    tenant_id = uuid.uuid4()
    writer = JudgmentWriter(sessions, interval=3600, max_pending=2)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(writer.run)
            first, second, third = (judgment_for(tenant_id, clock.now) for _ in range(3))
            await writer.submit(PendingJudgment(to_values(first)))
            await writer.submit(PendingJudgment(to_values(second)))
            with pytest.raises(StoreError):
                await writer.flush()
            # Full, and the database still refuses: the third judgment cannot be recorded, so it fails.
            with pytest.raises(StoreError):
                await writer.submit(PendingJudgment(to_values(third)))
            assert writer.pending == 2

            async with db.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            async with sessions() as session:
                session.add(Tenant(id=tenant_id, name="back", display_name="back", settings={}))
                await session.commit()
            await writer.submit(PendingJudgment(to_values(third)))  # room is made by storing the others
            await writer.aclose()
        assert (writer.pending, writer.written, writer.dropped) == (0, 3, 0)
        for judgment in (first, second, third):
            assert await stored(sessions, judgment.id)
    finally:
        await db.dispose()


async def test_a_deploy_retires_cached_answers_even_one_stored_after_its_invalidation(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic], clock: Clock
) -> None:
    started, _ = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(
        sessions,
        tenant.id,
        scripts=(DEFECT_RULES, V2_RULES),
        deployments=[{"version": 1, "status": "active", "deployed_at": clock.now}],
    )
    old = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert (old.result, old.rule_trace["ruleset_version"]) == ("critical", 1)  # type: ignore[index]
    assert engine.writer.pending == 1  # its cache entry is not in the table yet

    async with sessions() as session:
        await deploy(session, tenant.admin, "defect_rules", 2, mode="full")
        await session.commit()
    await engine.flush()  # the old version's entry lands after the deploy dropped the rule set's entries
    assert [e.judgment_execution_id for e in await cache_rows(sessions, tenant.id)] == [old.id]

    # Another process, knowing nothing of this one, judges with version 2 and misses the old entry.
    other = JudgmentEngine(sessions, Settings(llm_base_url=None), clock=clock)
    try:
        fresh = await other.execute(tenant.operator, request(defect_input(0.09)))
    finally:
        await other.aclose()
    assert (fresh.cache_hit, fresh.result, fresh.rule_trace["ruleset_version"]) == (False, "normal", 2)  # type: ignore[index]

    # This process, told of the deploy, answers with version 2 (from the other process's entry).
    engine.forget(tenant.id)
    now = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert (now.cache_hit, now.result, now.metadata["cached_judgment_id"]) == (True, "normal", str(fresh.id))


async def test_a_deploy_by_another_process_is_seen_within_the_state_ttl(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic], clock: Clock
) -> None:
    started, monotonic = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(
        sessions,
        tenant.id,
        scripts=(DEFECT_RULES, V2_RULES),
        deployments=[{"version": 1, "status": "active", "deployed_at": clock.now}],
    )
    assert (await engine.execute(tenant.operator, request(defect_input(0.09)))).result == "critical"
    async with sessions() as session:
        await deploy(session, tenant.admin, "defect_rules", 2, mode="full")
        await session.commit()

    # Within the TTL this process still routes to version 1 (and answers from its cache).
    monotonic.advance(STATE_TTL_SECONDS / 2)
    meanwhile = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert meanwhile.rule_trace["ruleset_version"] == 1  # type: ignore[index]
    monotonic.advance(STATE_TTL_SECONDS / 2)
    after = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert (after.cache_hit, after.result, after.rule_trace["ruleset_version"]) == (False, "normal", 2)  # type: ignore[index]


async def test_tenant_settings_are_read_again_after_the_state_ttl_or_when_forgotten(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic]
) -> None:
    started, monotonic = background
    engine = await started()
    tenant = await make_tenant(sessions, {"judgment": {"confidence_threshold": 0.4}})
    await make_ruleset(sessions, tenant.id)

    async def unsure() -> Judgment:
        # Rules say warning at 0.5: enough under a 0.4 threshold, not under 0.9 (no LLM: degraded).
        return await engine.execute(tenant.operator, request(defect_input(0.055), use_cache=False))

    async def threshold(value: float) -> None:
        async with sessions() as session, session.begin():
            await session.execute(
                sa.update(Tenant)
                .where(Tenant.id == tenant.id)
                .values(settings={"judgment": {"confidence_threshold": value}})
            )

    assert (await unsure()).degraded is None
    await threshold(0.9)
    assert (await unsure()).degraded is None  # still the settings read a moment ago
    monotonic.advance(STATE_TTL_SECONDS)
    assert (await unsure()).degraded is not None
    await threshold(0.4)
    engine.forget(tenant.id)
    assert (await unsure()).degraded is None


async def test_an_entry_another_process_dropped_stops_answering_here_once_it_is_not_fresh(
    sessions: async_sessionmaker[AsyncSession], background: tuple[EngineFactory, Monotonic], clock: Clock
) -> None:
    started, monotonic = background
    engine = await started()
    tenant = await make_tenant(sessions)
    await make_ruleset(sessions, tenant.id)
    first = await engine.execute(tenant.operator, request(defect_input(0.09)))
    await engine.flush()
    async with sessions() as session, session.begin():
        await session.execute(sa.delete(JudgmentCache).where(JudgmentCache.tenant_id == tenant.id))

    assert (await engine.execute(tenant.operator, request(defect_input(0.09)))).cache_hit
    monotonic.advance(1.0)
    again = await engine.execute(tenant.operator, request(defect_input(0.09)))
    assert not again.cache_hit
    assert again.id != first.id
    # The entry's own expiry needs no re-read: it is honoured to the instant.
    clock.advance(3600)
    assert not (await engine.execute(tenant.operator, request(defect_input(0.09)))).cache_hit


async def test_the_local_cache_keeps_the_most_recently_used_entries_up_to_its_size(clock: Clock) -> None:
    local = LocalCache(size=2, monotonic=Monotonic())
    tenant_id = uuid.uuid4()
    expires = clock.now + dt.timedelta(hours=1)
    for key in ("a", "b"):
        local.put(tenant_id, key, judgment_for(tenant_id, clock.now), expires, 0)
    assert local.get(tenant_id, "a", clock.now) is not None  # "a" is now the most recently used
    local.put(tenant_id, "c", judgment_for(tenant_id, clock.now), expires, 0)
    assert len(local) == 2
    assert local.get(tenant_id, "b", clock.now) is None
    assert local.get(tenant_id, "a", clock.now) is not None
    assert local.get(uuid.uuid4(), "a", clock.now) is None  # another tenant's key is another entry
