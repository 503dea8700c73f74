"""Calls held open across a 2026-era caller's retries, for an upstream that asks its questions mid-call.

A handshake-era upstream asks for sampling, elicitation or roots by sending a request in the middle of a
call and waiting for the answer. A 2026-era caller cannot be sent one: it takes questions only in an
``InputRequiredResult`` and answers by calling again. So the hub parks the call: the upstream request
runs on in the background, each question it pushes is held, and the caller is handed the questions with
a ``request_state`` naming the parked call (sealed by ``state.py``). Its retry delivers the answers to
the waiting pushes, then waits for the upstream's next move: another question, or the result.

Each stretch of waiting is bounded. While the caller waits (a "leg"), by the call's timeout; while the
hub waits for the caller to come back, by ``ttl``, after which the upstream request is cancelled and the
call forgotten. A finished call whose caller never collected the result is forgotten after ``ttl`` too.
At most ``limit`` calls are parked per upstream at once: a new one beyond that is refused.

What a handshake-era upstream cannot express, the hub cannot supply: a pushed request carries no key,
so the hub names the questions itself (``elicitation_1``, ``sampling_1``, ...); and its capability
declaration was made once for the whole session, so a question the caller did not declare it can answer
is refused here, on the caller's behalf, rather than never being asked.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import mcp_types as types

from hub.errors import HubError, UpstreamTimeout, UpstreamUnavailable
from hub.proxy.errors import RequestStateError
from hub.proxy.forwarder import Forwarder, LogForward, refusal

__all__ = ["Leg", "ParkedCall", "ParkingLot"]

R = TypeVar("R")

ProgressForward = Callable[[float, float | None, str | None], Awaitable[None]]

# What answers each kind of question; an answer of another type is the caller's mistake, named back.
_ANSWER_TYPES: dict[str, tuple[type[object], ...]] = {
    "sampling/createMessage": (types.CreateMessageResult, types.CreateMessageResultWithTools),
    "elicitation/create": (types.ElicitResult,),
    "roots/list": (types.ListRootsResult,),
}
_KEY_STEMS = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


@dataclass(eq=False, slots=True)
class _Question:
    key: str
    request: types.InputRequest
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: types.InputResponse | types.ErrorData | None = None

    def settle(self, answer: types.InputResponse | types.ErrorData) -> None:
        if not self.answered.is_set():
            self.answer = answer
            self.answered.set()


@dataclass(frozen=True, slots=True)
class Leg(Generic[R]):
    """What one leg ended with: the call's result, or the questions the caller must answer first."""

    result: R | None = None
    questions: types.InputRequests | None = None


class ParkedCall(Generic[R]):
    """One upstream call held open for its 2026-era caller."""

    def __init__(
        self, lot: ParkingLot, *, audience: str, target: str, digest: str, caller: Forwarder
    ) -> None:
        self.id = secrets.token_urlsafe(18)
        self.audience = audience
        self.target = target
        self.digest = digest
        self._lot = lot
        self._caller = caller
        self._open: dict[str, _Question] = {}
        self._counts: dict[str, int] = {}
        self._changed = anyio.Event()
        self.scope = anyio.CancelScope()
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None
        self.expires_at = math.inf
        # The caller's channels of the leg under way (logs, progress): a leg's request stream ends with it.
        self._log: LogForward | None = None
        self._progress: ProgressForward | None = None

    # --- what the upstream sees: a forwarder whose answers come from the caller's retries ---------------

    def forwarder(self) -> Forwarder:
        """The forwarder the background request runs with; its owner is this call alone."""

        async def sampling(
            params: types.CreateMessageRequestParams,
        ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
            answer = await self._ask(types.CreateMessageRequest(params=params))
            assert isinstance(
                answer, types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData
            )
            return answer

        async def elicitation(params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
            answer = await self._ask(types.ElicitRequest(params=params))
            assert isinstance(answer, types.ElicitResult | types.ErrorData)
            return answer

        async def roots() -> types.ListRootsResult | types.ErrorData:
            answer = await self._ask(types.ListRootsRequest())
            assert isinstance(answer, types.ListRootsResult | types.ErrorData)
            return answer

        async def log(params: types.LoggingMessageNotificationParams) -> None:
            if self._log is not None:
                await self._log(params)

        return Forwarder(owner=self, sampling=sampling, elicitation=elicitation, roots=roots, log=log)

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Progress of the background request, passed to the leg under way (dropped between legs)."""
        if self._progress is not None:
            await self._progress(progress, total, message)

    async def _ask(self, request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        if not self._caller.can_answer(request.method):
            return refusal(request.method, attributed=True)
        if self.done:
            return types.ErrorData(
                code=types.INVALID_REQUEST, message=f"{request.method}: the call has ended"
            )
        stem = _KEY_STEMS[request.method]
        self._counts[stem] = self._counts.get(stem, 0) + 1
        question = _Question(f"{stem}_{self._counts[stem]}", request)
        self._open[question.key] = question
        self._changed.set()
        try:
            await question.answered.wait()
        finally:
            self._open.pop(question.key, None)
        assert question.answer is not None
        return question.answer

    # --- what the caller's retries do ------------------------------------------------------------------

    def deliver(self, responses: types.InputResponses | None) -> None:
        """Hand the caller's answers to the questions waiting for them; keys nobody asked are ignored.

        Raises:
            RequestStateError: An answer is not of the kind its question asks for.
        """
        if not responses:
            return
        for key, question in list(self._open.items()):
            if key not in responses:
                continue  # asked again on the next leg, as the spec wants for a missing answer
            answer = responses[key]
            wanted = _ANSWER_TYPES[question.request.method]
            if not isinstance(answer, wanted):
                raise RequestStateError(
                    f"input_responses[{key!r}] must answer {question.request.method} with a "
                    f"{' or '.join(t.__name__ for t in wanted)}, not a {type(answer).__name__}"
                )
        for key in [key for key in self._open if key in responses]:
            # Closed at once, not when the push resumes: the leg that follows must not ask it again.
            self._open.pop(key).settle(responses[key])

    async def _settle(self) -> Leg[R]:
        while not self.done and not self._open:
            self._changed = anyio.Event()
            await self._changed.wait()
        if self.done:
            if self.error is not None:
                raise self.error
            return Leg(result=self.result)
        return Leg(questions={key: question.request for key, question in self._open.items()})

    # --- the background request ------------------------------------------------------------------------

    async def run(self, work: Callable[[ParkedCall[R]], Awaitable[R]]) -> None:
        """Run the upstream request to its end, or until cancelled or out of time."""
        completed = False
        try:
            with self.scope:
                try:
                    self.result = await work(self)
                    completed = True
                except Exception as exc:
                    self.error = exc
        finally:
            if not completed and self.error is None:
                if self.scope.cancelled_caught:
                    self.error = UpstreamTimeout(
                        f"{self.target}: the caller did not come back with its answers in time; the call "
                        "was cancelled"
                    )
                else:
                    self.error = UpstreamUnavailable(
                        f"{self.target}: the upstream closed while the call waited"
                    )
            self._finish()

    def _finish(self) -> None:
        self.done = True
        for question in list(self._open.values()):
            question.settle(types.ErrorData(code=types.REQUEST_TIMEOUT, message="the call has ended"))
        self._changed.set()
        if self.expires_at < math.inf and anyio.current_time() >= self.expires_at:
            self._lot.forget(self)  # expired between legs: nobody is coming back for it

    def cancel(self) -> None:
        """Cancel the upstream request (its caller gave up or ran out of time)."""
        self.scope.cancel()


class ParkingLot:
    """One upstream's parked calls: open, find by id, and expire."""

    def __init__(self, *, ttl: float = 300.0, limit: int = 256) -> None:
        if ttl <= 0 or limit <= 0:
            raise ValueError("parked calls need a positive ttl and limit")
        self.ttl = ttl
        self._limit = limit
        self._calls: dict[str, ParkedCall[Any]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def park(
        self,
        task_group: anyio.abc.TaskGroup,
        work: Callable[[ParkedCall[R]], Awaitable[R]],
        *,
        audience: str,
        target: str,
        digest: str,
        caller: Forwarder,
    ) -> ParkedCall[R]:
        """Start ``work`` in ``task_group`` as a new parked call; it sends with ``call.forwarder()``.

        Raises:
            UpstreamUnavailable: ``limit`` calls are parked already.
        """
        self._sweep()
        if len(self._calls) >= self._limit:
            raise UpstreamUnavailable(
                f"{len(self._calls)} calls are already waiting for their callers' answers; try again later"
            )
        call: ParkedCall[R] = ParkedCall(self, audience=audience, target=target, digest=digest, caller=caller)
        self._calls[call.id] = call
        task_group.start_soon(call.run, work)
        return call

    def find(self, call_id: str, *, target: str, digest: str) -> ParkedCall[Any]:
        """The parked call a verified ``request_state`` names.

        Raises:
            RequestStateError: It is gone (expired, finished and collected, or its link closed) or the
                retry does not repeat the request that asked.
        """
        self._sweep()
        call = self._calls.get(call_id)
        if call is None:
            raise RequestStateError(
                "request_state names a call that is no longer waiting (it expired or already ended); "
                "send the request again without it"
            )
        if call.target != target or call.digest != digest:
            raise RequestStateError(
                f"the retry must repeat the request that asked ({call.target} with the same arguments)"
            )
        return call

    async def leg(
        self,
        call: ParkedCall[R],
        *,
        seconds: float,
        log: LogForward | None,
        progress: ProgressForward | None,
    ) -> Leg[R]:
        """Wait, for one caller request and at most ``seconds``, until the call asks something or ends.

        A leg that times out or is cancelled (its caller went away) cancels the call: nobody would
        receive what it asks next.
        """
        call.expires_at = math.inf
        call.scope.deadline = math.inf
        call._log, call._progress = log, progress
        try:
            with anyio.fail_after(seconds):
                outcome = await call._settle()
        except TimeoutError:
            self._end(call)
            raise UpstreamTimeout(f"{call.target}: no answer in {seconds:.0f} s") from None
        except BaseException:
            self._end(call)
            raise
        finally:
            call._log = call._progress = None
        if outcome.questions is None:
            self._end(call)
        else:
            # Between legs the hub waits for the caller, for ttl at most.
            call.expires_at = anyio.current_time() + self.ttl
            call.scope.deadline = call.expires_at
        return outcome

    def forget(self, call: ParkedCall[R]) -> None:
        """Drop ``call`` from the lot (it is over, or over for good)."""
        self._calls.pop(call.id, None)

    def close_all(self, error: HubError) -> None:
        """End every parked call: the link they ran on is gone."""
        for call in list(self._calls.values()):
            if call.error is None:
                call.error = error
            call.cancel()
            self.forget(call)

    def _end(self, call: ParkedCall[R]) -> None:
        call.cancel()
        self.forget(call)

    def _sweep(self) -> None:
        now = anyio.current_time()
        for call in list(self._calls.values()):
            if now >= call.expires_at:
                call.cancel()
                self.forget(call)
