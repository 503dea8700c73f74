"""An upstream's breaker and health as the database shows them: ``mcp_servers`` and ``audit_logs``.

pybreaker calls its listeners synchronously, in the middle of a request, so nothing there may wait
for the database. ``ServerMirror`` only notes what it is told and a background task writes it: the
row's latest state (coalesced, so a burst of failures is one UPDATE, and a healthy server that keeps
succeeding writes nothing) and one audit row per breaker transition, with actor type ``system``.
A database outage delays the mirror; it never fails or slows a call.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import anyio
from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.identity import Caller
from hub.resilience.breaker import BreakerState, Transition
from hub.store.audit import record_audit
from hub.store.models import MCPServer

__all__ = ["ServerMirror", "ServerState"]

log = logging.getLogger(__name__)

# Transitions kept while the database is down; older ones are dropped (the row still ends up right).
_MAX_TRANSITIONS = 1000


@dataclass(frozen=True, slots=True)
class ServerState:
    """What the row should say."""

    breaker: BreakerState = "closed"
    fail_count: int = 0
    healthy: bool | None = None  # None: not checked yet
    checked_at: datetime | None = None

    @property
    def status(self) -> str:
        """``error`` while the breaker is open or the last health check failed, else ``active``."""
        return "error" if self.breaker == "open" or self.healthy is False else "active"


class ServerMirror:
    """Writes one upstream's breaker and health state to its ``mcp_servers`` row."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        server_id: uuid.UUID,
        tenant_id: uuid.UUID,
        name: str,
        interval: float = 0.1,
    ) -> None:
        self._sessions = sessions
        self.server_id = server_id
        self.tenant_id = tenant_id
        self.name = name
        self._interval = interval
        self.wanted = ServerState()
        self._stored: ServerState | None = None
        self._transitions: list[Transition] = []
        self._wake = anyio.Event()
        self._lock = anyio.Lock()

    # -- what the breaker and the health check report ------------------------------------------

    def transition(self, t: Transition) -> None:
        """The breaker changed state."""
        self.wanted = replace(self.wanted, breaker=t.after, fail_count=t.fail_count)
        if not t.remote:
            self._transitions.append(t)
            del self._transitions[:-_MAX_TRANSITIONS]
        self._wake.set()

    def count(self, fail_count: int) -> None:
        """The breaker's failure count changed."""
        if fail_count != self.wanted.fail_count:
            self.wanted = replace(self.wanted, fail_count=fail_count)
            self._wake.set()

    def health(self, healthy: bool, at: datetime) -> None:
        """A health check finished."""
        self.wanted = replace(self.wanted, healthy=healthy, checked_at=at)
        self._wake.set()

    # -- writing -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write changes until cancelled, at most one round per ``interval``."""
        delay = self._interval
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            # Shielded: a write cut off by cancellation would leave its connection unclosed.
            with anyio.CancelScope(shield=True):
                ok = await self.flush()
            if ok:
                delay = self._interval
            else:
                delay = min(delay * 2, 5.0)
                self._wake.set()  # try again after the delay
            await anyio.sleep(delay)

    async def flush(self) -> bool:
        """Write what changed now; False when the database refused (it stays queued)."""
        async with self._lock:
            wanted, transitions = self.wanted, list(self._transitions)
            if wanted == self._stored and not transitions:
                return True
            try:
                await self._write(wanted, transitions)
            except Exception as exc:
                log.warning("mirroring the state of server %s failed: %s", self.name, exc)
                return False
            self._stored = wanted
            del self._transitions[: len(transitions)]
            return True

    async def _write(self, state: ServerState, transitions: list[Transition]) -> None:
        values: dict[str, object] = {
            "circuit_breaker_state": state.breaker,
            "fail_count": state.fail_count,
            # An operator's "inactive" is not the mirror's to change.
            "status": case((MCPServer.status == "inactive", MCPServer.status), else_=state.status),
            "updated_at": datetime.now(UTC),
        }
        if state.checked_at is not None:
            values["last_health_check_at"] = state.checked_at
        system = Caller(self.tenant_id, "", None, "system", "admin", frozenset({"*:*"}), "system")
        async with self._sessions() as session, session.begin():
            await session.execute(update(MCPServer).where(MCPServer.id == self.server_id).values(**values))
            for t in transitions:
                await record_audit(
                    session,
                    caller=system,
                    action=f"breaker_{t.after}",
                    resource_type="mcp_server",
                    resource_id=self.server_id,
                    before={"circuit_breaker_state": t.before},
                    after={"circuit_breaker_state": t.after, "fail_count": t.fail_count},
                    tenant_id=self.tenant_id,
                    actor_type="system",
                )
