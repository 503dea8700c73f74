"""Feedback on a judgment (``feedbacks``) and the learning sample it yields (``learning_samples``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import InputError, NotFound, PermissionDenied
from hub.identity import Caller
from hub.judgment.verdicts import RESULTS
from hub.store.models import Feedback, JudgmentExecution, LearningSample

__all__ = ["FEEDBACK_TYPES", "FeedbackReceipt", "submit_feedback"]

FEEDBACK_TYPES: Final = ("correct", "incorrect", "partial", "helpful", "not_helpful")
# Only these say what the right result was; "helpful" rates the explanation, not the verdict.
_LABELLING: Final = ("correct", "incorrect", "partial")


@dataclass(frozen=True, slots=True)
class FeedbackReceipt:
    """What was stored: the feedback and, for labelling feedback, the learning sample."""

    feedback_id: uuid.UUID
    learning_sample_id: uuid.UUID | None
    is_validated: bool

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "feedback_id": str(self.feedback_id),
            "learning_sample_id": None if self.learning_sample_id is None else str(self.learning_sample_id),
            "is_validated": self.is_validated,
        }


async def submit_feedback(
    session: AsyncSession,
    caller: Caller,
    judgment_id: uuid.UUID,
    feedback_type: str,
    *,
    corrected_result: str | None = None,
    rating: int | None = None,
    comment: str | None = None,
    now: dt.datetime,
) -> FeedbackReceipt:
    """Store feedback on one of the caller's tenant's judgments; the caller commits.

    ``incorrect`` and ``partial`` need ``corrected_result``; ``correct`` confirms the stored result.
    The sample is validated when the giver holds ``judgment:*`` or is an admin: their word is
    trusted as a label without a second review.
    """
    if caller.user_id is None:
        raise PermissionDenied("feedback needs a user identity; this caller has none")
    if feedback_type not in FEEDBACK_TYPES:
        raise InputError(f"must be one of {', '.join(FEEDBACK_TYPES)}", where="feedback_type")
    if corrected_result is not None and corrected_result not in RESULTS:
        raise InputError(f"must be one of {', '.join(RESULTS)}", where="corrected_result")
    if feedback_type in ("incorrect", "partial") and corrected_result is None:
        raise InputError(f"is required for '{feedback_type}' feedback", where="corrected_result")
    if rating is not None and (isinstance(rating, bool) or not 1 <= rating <= 5):
        raise InputError("must be an integer from 1 to 5", where="rating")
    judgment = await session.scalar(
        sa.select(JudgmentExecution).where(
            JudgmentExecution.tenant_id == caller.tenant_id, JudgmentExecution.id == judgment_id
        )
    )
    if judgment is None:
        raise NotFound(f"no judgment {judgment_id}", where="judgment_id")
    # Ids are set here, not at flush, because the receipt and the sample's metadata name them.
    feedback = Feedback(
        id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        judgment_execution_id=judgment.id,
        user_id=caller.user_id,
        feedback_type=feedback_type,
        rating=rating,
        comment=comment,
        corrected_result=corrected_result,
        created_at=now,
    )
    session.add(feedback)
    if feedback_type not in _LABELLING:
        return FeedbackReceipt(feedback.id, None, False)
    validated = caller.is_admin or caller.can("judgment:*")
    label_result = judgment.result if feedback_type == "correct" else corrected_result
    sample = LearningSample(
        id=uuid.uuid4(),
        tenant_id=caller.tenant_id,
        judgment_execution_id=judgment.id,
        input_features=judgment.input_data,
        label={
            "result": label_result,
            # The confidence was the judgment's, so it only carries over when the result does.
            "confidence": judgment.confidence if label_result == judgment.result else None,
            "explanation": comment if feedback_type != "correct" and comment else judgment.explanation,
            "recommended_actions": judgment.recommended_actions or [],
            "validated_by_expert": validated,
            "original_result": judgment.result,
            "feedback_type": feedback_type,
        },
        source="feedback",
        is_validated=validated,
        validated_by=caller.user_id if validated else None,
        validated_at=now if validated else None,
        created_at=now,
        metadata_={"feedback_id": str(feedback.id), "method_used": judgment.method_used},
    )
    session.add(sample)
    return FeedbackReceipt(feedback.id, sample.id, validated)
