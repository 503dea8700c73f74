"""The calls in flight on one upstream session, and which of them a server-to-client request belongs to.

The session is shared, so when the upstream asks for sampling, elicitation or roots mid-call, the request
must go back to the caller whose call caused it. Where the transport keeps that relation (streamable HTTP
answers on the request's own stream, and the SDK carries the sending task's context along) the match is
exact; elsewhere (stdio, SSE and websocket have no such field on the wire) it is made only when every call
in flight belongs to one caller, and refused otherwise rather than risk asking the wrong client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import anyio
import mcp_types as types
from mcp.client.session import ClientRequestContext

from hub.errors import HubError
from hub.proxy.forwarder import Forwarder, refusal

__all__ = ["CallRegistry", "InFlight"]


@dataclass(slots=True, eq=False)
class InFlight:
    """One request awaiting its result, so the link's failures and the server's requests can find it."""

    registry: CallRegistry
    link: object
    forwarder: Forwarder | None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    abort: HubError | None = None


# Set while a call awaits its result; transports that carry the sender's context (streamable HTTP)
# hand it to the server's requests raised during that call.
_current: ContextVar[InFlight | None] = ContextVar("hub_proxy_current_call", default=None)


class CallRegistry:
    """Tracks one upstream's calls in flight and answers its server-to-client requests through them."""

    def __init__(self) -> None:
        self._calls: set[InFlight] = set()

    @contextmanager
    def track(self, link: object, forwarder: Forwarder | None) -> Iterator[InFlight]:
        """Register a call for the duration of the block."""
        call = InFlight(self, link, forwarder)
        self._calls.add(call)
        token = _current.set(call)
        try:
            yield call
        finally:
            _current.reset(token)
            self._calls.discard(call)

    def abort_all(self, error: HubError) -> None:
        """End every call in flight with ``error`` (each raises it from its ``scope``)."""
        for call in list(self._calls):
            if call.abort is None:
                call.abort = error
                call.scope.cancel()

    def owner_of(self, able: Callable[[Forwarder], bool]) -> InFlight | None:
        """The call a server-to-client message belongs to, when that can be known."""
        current = _current.get()
        if current is not None and current.registry is self and current in self._calls:
            return current
        forwarders = [(call, call.forwarder) for call in self._calls if call.forwarder is not None]
        if not forwarders:
            return None
        owner = forwarders[0][1].owner
        # Compared, not hashed: an owner need only be the same object (or equal) across one caller's calls.
        if any(f.owner is not owner and f.owner != owner for _, f in forwarders):
            return None
        capable = [call for call, f in forwarders if able(f)]
        return capable[0] if capable else forwarders[0][0]

    async def sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        """The session's sampling callback."""
        call = self.owner_of(lambda f: f.sampling is not None)
        if call is None or call.forwarder is None or call.forwarder.sampling is None:
            return refusal("sampling/createMessage", attributed=call is not None)
        return await call.forwarder.sampling(params)

    async def elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        """The session's elicitation callback."""
        call = self.owner_of(lambda f: f.elicitation is not None)
        if call is None or call.forwarder is None or call.forwarder.elicitation is None:
            return refusal("elicitation/create", attributed=call is not None)
        return await call.forwarder.elicitation(params)

    async def list_roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        """The session's roots callback."""
        call = self.owner_of(lambda f: f.roots is not None)
        if call is None or call.forwarder is None or call.forwarder.roots is None:
            return refusal("roots/list", attributed=call is not None)
        return await call.forwarder.roots()

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        """Pass a log message to the call it belongs to, or to every caller it may belong to.

        A log message is a notification: on stdio, SSE and websocket nothing on the wire ties it to a
        request, and calls from several connections overlap. At 2025-11-25 a server's log stream belongs
        to the client's whole session, not to one request, so a message that cannot be tied to one call
        goes to each handshake-era caller in flight, provided they are all the same principal (one
        ``audience``): no one is shown log lines another user's call may have caused. A 2026-era caller
        takes only logs of its own request, so it gets one only when the match is exact.
        """
        call = self.owner_of(lambda f: f.log is not None)
        if call is not None and call.forwarder is not None and call.forwarder.log is not None:
            await call.forwarder.log(params)
            return
        takers: dict[int, Forwarder] = {}
        for each in list(self._calls):
            forwarder = each.forwarder
            if forwarder is not None and forwarder.log is not None and not forwarder.modern:
                takers.setdefault(id(forwarder.owner), forwarder)  # one copy per connection
        audiences = {forwarder.audience for forwarder in takers.values()}
        if len(audiences) != 1 or "" in audiences:
            return
        for forwarder in takers.values():
            assert forwarder.log is not None
            await forwarder.log(params)
