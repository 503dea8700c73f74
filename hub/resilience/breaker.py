"""One circuit breaker per upstream: pybreaker driven correctly from asyncio.

pybreaker's ``call(async_fn)`` sees only the creation of a coroutine, never its failure, so the
awaited request runs inside ``breaker.calling()``, a generator-based context manager that does see
it. On top of pybreaker this adds what a shared upstream needs:

- only the upstream's own failures count (``UpstreamError`` minus a JSON-RPC error *answer* other
  than "internal error", which proves the server alive); a tool's ``isError`` result is a normal
  return and so a success;
- an open breaker raises ``BreakerOpen`` (an ``UpstreamUnavailable``) naming the server and when it
  will let a trial call through, without touching the upstream;
- half-open lets exactly one trial call through; pybreaker alone would let every concurrent caller in;
- time comes from a ``Clock`` (tests advance it): pybreaker compares ``opened_at`` with its own
  ``datetime.now``, so the storage reports ``opened_at`` as "now minus the time elapsed on our clock".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

import anyio
import mcp_types as types
import pybreaker

from hub.errors import UpstreamError, UpstreamUnavailable
from hub.proxy.errors import UpstreamRPCError
from hub.resilience.clock import Clock, system_clock

__all__ = ["Breaker", "BreakerOpen", "BreakerState", "BreakerStorage", "Transition"]

log = logging.getLogger(__name__)

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]

# pybreaker spells half-open with a dash; the mcp_servers column (and the rest of the hub) with "_".
_STATES: dict[str, BreakerState] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}


class BreakerOpen(UpstreamUnavailable):
    """The upstream's circuit breaker is open: the call was refused without reaching the upstream."""

    def __init__(self, message: str, *, retry_in: float, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.retry_in = retry_in


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of a breaker's state, as mirrored to the database and audited."""

    server: str
    before: BreakerState
    after: BreakerState
    fail_count: int
    at: float
    remote: bool = False  # noticed from another process's change (that process audits it)


class BreakerStorage(pybreaker.CircuitBreakerStorage):
    """A breaker's state in local memory, with the opening time kept on the hub's clock."""

    def __init__(self, name: str, clock: Clock = system_clock) -> None:
        super().__init__(name)
        self.clock = clock
        self._state = pybreaker.STATE_CLOSED
        self._counter = 0
        self._successes = 0
        self.opened_clock: float | None = None
        # Set while a change that came from another process is being applied (see shared_state),
        # and how to make the breaker notice it at once (pybreaker otherwise looks only on its next call).
        self.remote = False
        self.notice: Callable[[], object] | None = None

    @property
    def state(self) -> str:
        """The pybreaker state name."""
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        self._state = state

    def increment_counter(self) -> None:
        """One more consecutive failure."""
        self._counter += 1

    def reset_counter(self) -> None:
        """No consecutive failures."""
        self._counter = 0

    def increment_success_counter(self) -> None:
        """One more success while half-open."""
        self._successes += 1

    def reset_success_counter(self) -> None:
        """No successes while half-open."""
        self._successes = 0

    @property
    def counter(self) -> int:
        """Consecutive failures."""
        return self._counter

    @property
    def success_counter(self) -> int:
        """Successes while half-open."""
        return self._successes

    @property
    def opened_at(self) -> datetime | None:
        """When the breaker opened, on pybreaker's wall clock but measured by ours."""
        if self.opened_clock is None:
            return None
        return datetime.now(UTC) - timedelta(seconds=self.clock() - self.opened_clock)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        # pybreaker passes its own datetime.now(); the hub's clock is the one that counts.
        self.opened_clock = self.clock()


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, breaker: Breaker) -> None:
        self._breaker = breaker

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        before = _STATES[old_state.name] if old_state is not None else "closed"
        self._breaker.transitioned(before, _STATES[new_state.name])

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        self._breaker.counted()

    def success(self, cb: pybreaker.CircuitBreaker) -> None:
        self._breaker.counted()


class Breaker:
    """The circuit breaker of one upstream; ``guard`` runs one awaited request under it."""

    def __init__(
        self,
        server: str,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        clock: Clock = system_clock,
        storage: BreakerStorage | None = None,
        on_transition: Callable[[Transition], None] | None = None,
        on_count: Callable[[int], None] | None = None,
    ) -> None:
        self.server = server
        self.clock = clock
        self.storage = storage or BreakerStorage(server, clock)
        self._on_transition = on_transition
        self._on_count = on_count
        self._trial_running = False
        self._changed = anyio.Event()
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            exclude=[self._neutral],
            listeners=[_Listener(self)],
            state_storage=self.storage,
            name=server,
            # The call that trips the breaker fails with its own cause ("upstream exited (code 3)"),
            # not with pybreaker's generic "threshold reached".
            throw_new_error_on_trip=False,
        )
        self.storage.notice = lambda: self._cb.state

    # -- what callers see ----------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """closed, open or half_open (an open breaker whose timeout has passed still says open)."""
        return _STATES[self._cb.state.name]

    @property
    def fail_count(self) -> int:
        """Consecutive failures counted."""
        return self._cb.fail_counter

    @property
    def fail_max(self) -> int:
        """Failures that open the breaker."""
        return self._cb.fail_max

    @property
    def reset_timeout(self) -> float:
        """Seconds an open breaker waits before a trial call."""
        return self._cb.reset_timeout

    def retry_in(self) -> float | None:
        """Seconds until an open breaker lets a trial call through (0 when it would now), else None."""
        opened = self.storage.opened_clock
        if self.state != "open" or opened is None:
            return None
        return max(0.0, opened + self._cb.reset_timeout - self.clock())

    async def guard(self, request: Callable[[], Awaitable[T]]) -> T:
        """Await ``request()`` under the breaker; ``BreakerOpen`` without calling it when open."""
        if self._trial_running and self._cb.current_state == pybreaker.STATE_HALF_OPEN:
            raise self._refusal("a trial call is in progress")
        trial = False
        try:
            with self._cb.calling():
                if self._cb.current_state == pybreaker.STATE_HALF_OPEN:
                    trial = self._trial_running = True
                return await request()
        except pybreaker.CircuitBreakerError as exc:
            raise self._refusal() from exc
        finally:
            if trial:
                self._trial_running = False

    async def wait_for(self, state: BreakerState) -> None:
        """Return once the breaker is in ``state`` (as noticed here, or applied from another process)."""
        while self.state != state:
            await self._changed.wait()

    def reset(self) -> None:
        """Close the breaker now (an operator's or a health check's decision)."""
        self._cb.close()

    # -- pybreaker's callbacks -----------------------------------------------------------------

    def transitioned(self, before: BreakerState, after: BreakerState) -> None:
        """pybreaker changed state: tell the mirror."""
        if before == after:
            return
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
        if after == "open":
            log.warning("breaker of %s opened after %d failures", self.server, self.fail_count)
        if self._on_transition is not None:
            self._on_transition(
                Transition(self.server, before, after, self.fail_count, self.clock(), self.storage.remote)
            )

    def counted(self) -> None:
        """A call's outcome changed the failure count."""
        if self._on_count is not None:
            self._on_count(self._cb.fail_counter)

    # -- internals -----------------------------------------------------------------------------

    def _neutral(self, exc: BaseException) -> bool:
        """Whether an outcome says nothing against the upstream (pybreaker counts it as a success)."""
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            # The caller gave up, which proves nothing; but a cancelled trial did not prove health either.
            return not self._trial_running
        if isinstance(exc, UpstreamRPCError):
            # A JSON-RPC error answer proves the server alive, except "internal error": the SDK's
            # streamable HTTP client turns an HTTP 5xx into exactly that, and a server says it when
            # it is broken rather than when the request is wrong.
            return exc.error.code != types.INTERNAL_ERROR
        return not isinstance(exc, UpstreamError)

    def _refusal(self, why: str | None = None) -> BreakerOpen:
        retry_in = self.retry_in() or 0.0
        reason = why or f"circuit breaker open after {self.fail_max} consecutive failures"
        return BreakerOpen(
            f"server '{self.server}' is not being called: {reason}; next trial call in {retry_in:.1f} s",
            retry_in=retry_in,
            where=self.server,
        )
