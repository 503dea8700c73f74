"""The 2026-07-28 sampling seam on its own: keys per request, answers carried across rounds, foreign state."""

from __future__ import annotations

import mcp.types as types
import pytest

from hub.errors import InputError
from hub.tools.judgments import DeferredSampling, deferred_sampler
from tests.judgment_tools.support import sampling_answer

pytestmark = pytest.mark.anyio


async def ask(
    system: str, user: str, responses: dict[str, types.CreateMessageResult] | None, state: str | None
) -> types.InputRequiredResult | str:
    try:
        answer = await deferred_sampler(responses, state)(system, user, 100, 0.2)
    except DeferredSampling as exc:
        deferred = exc
    else:
        return answer.text
    assert deferred.request.user_prompt == user
    return deferred.input_required


async def test_answers_of_earlier_rounds_ride_in_the_state_and_each_request_has_its_own_key() -> None:
    first = await ask("sys", "q1", None, None)
    assert isinstance(first, types.InputRequiredResult)
    assert first.request_state is None
    (key1,) = first.input_requests or {}
    assert await ask("sys", "q1", {key1: sampling_answer("a1")}, None) == "a1"

    # A second question (a corrective retry) is asked with the first answer kept in the state.
    second = await ask("sys", "q2", {key1: sampling_answer("a1")}, None)
    assert isinstance(second, types.InputRequiredResult)
    (key2,) = second.input_requests or {}
    assert key2 != key1
    state = second.request_state
    assert state is not None
    assert await ask("sys", "q1", {key2: sampling_answer("a2")}, state) == "a1"
    assert await ask("sys", "q2", {key2: sampling_answer("a2")}, state) == "a2"


async def test_another_tools_state_is_ignored_and_a_damaged_one_of_ours_is_an_input_error() -> None:
    # Built for every call of a sampling-capable 2026 caller: building it never fails.
    deferred_sampler(None, "upstream-round-2")
    assert isinstance(await ask("sys", "q", None, "upstream-round-2"), types.InputRequiredResult)
    with pytest.raises(InputError) as caught:
        await ask("sys", "q", None, "hub-judgment.v1:not base64 at all!")
    assert caught.value.where == "request_state"
