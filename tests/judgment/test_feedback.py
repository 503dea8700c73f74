"""Feedback on judgments and the learning samples it yields."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import InputError, NotFound, PermissionDenied
from hub.identity import SYSTEM
from hub.judgment import Judgment, JudgmentEngine
from hub.settings import Settings
from hub.store.models import Feedback, LearningSample
from tests.judgment.conftest import Clock
from tests.judgment.support import TenantFixture, defect_input, make_tenant, request

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> AsyncIterator[JudgmentEngine]:
    """An engine without any LLM: the judgments below are llm_only 'unknown' ones, which is enough."""
    engine = JudgmentEngine(sessions, Settings(llm_base_url=None), clock=clock)
    yield engine
    await engine.aclose()


async def judged(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> tuple[TenantFixture, Judgment]:
    tenant = await make_tenant(sessions)
    return tenant, await engine.execute(tenant.operator, request(defect_input(), ruleset=None))


async def samples(sessions: async_sessionmaker[AsyncSession], judgment: Judgment) -> list[LearningSample]:
    async with sessions() as session:
        stmt = sa.select(LearningSample).where(LearningSample.judgment_execution_id == judgment.id)
        return list((await session.scalars(stmt)).all())


async def test_feedback_from_an_approver_becomes_a_validated_learning_sample(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    """TC-LRN-001."""
    tenant, judgment = await judged(engine, sessions)
    receipt = await engine.feedback(
        tenant.approver, judgment.id, "incorrect", corrected_result="critical", rating=2, comment="tool wear"
    )
    assert receipt.is_validated
    assert receipt.learning_sample_id is not None
    async with sessions() as session:
        feedback = await session.get_one(Feedback, receipt.feedback_id)
    assert (feedback.feedback_type, feedback.corrected_result, feedback.user_id) == (
        "incorrect",
        "critical",
        tenant.approver.user_id,
    )
    (sample,) = await samples(sessions, judgment)
    assert sample.source == "feedback"
    assert sample.is_validated
    assert sample.validated_by == tenant.approver.user_id
    assert sample.validated_at == clock.now
    assert sample.label["result"] == "critical"
    assert sample.label["validated_by_expert"] is True
    assert sample.label["explanation"] == "tool wear"
    assert sample.input_features == judgment.input_data


async def test_correct_feedback_from_an_operator_is_an_unvalidated_sample_of_the_stored_result(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant, judgment = await judged(engine, sessions)
    receipt = await engine.feedback(tenant.operator, judgment.id, "correct")
    assert not receipt.is_validated
    (sample,) = await samples(sessions, judgment)
    assert (sample.is_validated, sample.validated_by, sample.label["result"]) == (
        False,
        None,
        judgment.result,
    )


async def test_an_admin_validates_partial_feedback(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant, judgment = await judged(engine, sessions)
    assert (
        await engine.feedback(tenant.admin, judgment.id, "partial", corrected_result="warning")
    ).is_validated


async def test_helpful_feedback_is_stored_without_a_learning_sample(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant, judgment = await judged(engine, sessions)
    receipt = await engine.feedback(tenant.operator, judgment.id, "helpful", rating=5)
    assert receipt.learning_sample_id is None
    assert await samples(sessions, judgment) == []


@pytest.mark.parametrize(
    ("kind", "corrected", "rating", "where"),
    [
        ("incorrect", None, None, "corrected_result"),
        ("partial", None, None, "corrected_result"),
        ("wrong", None, None, "feedback_type"),
        ("incorrect", "bad", None, "corrected_result"),
        ("correct", None, 6, "rating"),
    ],
)
async def test_malformed_feedback_is_an_input_error_naming_the_field(
    engine: JudgmentEngine,
    sessions: async_sessionmaker[AsyncSession],
    kind: str,
    corrected: str | None,
    rating: int | None,
    where: str,
) -> None:
    tenant, judgment = await judged(engine, sessions)
    with pytest.raises(InputError) as err:
        await engine.feedback(tenant.approver, judgment.id, kind, corrected_result=corrected, rating=rating)
    assert err.value.where == where


async def test_feedback_needs_a_user_and_an_existing_judgment(
    engine: JudgmentEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant, judgment = await judged(engine, sessions)
    with pytest.raises(PermissionDenied):
        await engine.feedback(SYSTEM, judgment.id, "correct")
    import uuid

    with pytest.raises(NotFound):
        await engine.feedback(tenant.admin, uuid.uuid4(), "correct")
