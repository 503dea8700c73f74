"""What a caller lends an upstream call: answers to the server's own requests, and a place for its logs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import mcp_types as types
from mcp.client._input_required import InputRequiredRoundsExceededError, run_input_required_driver

from hub.errors import UpstreamProtocolError

__all__ = [
    "ElicitationForward",
    "Forwarder",
    "LogForward",
    "RootsForward",
    "SamplingForward",
    "outbound_meta",
    "refusal",
    "resolve_input_required",
]

T = TypeVar("T")

SamplingForward = Callable[
    [types.CreateMessageRequestParams],
    Awaitable[types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData],
]
ElicitationForward = Callable[[types.ElicitRequestParams], Awaitable[types.ElicitResult | types.ErrorData]]
RootsForward = Callable[[], Awaitable[types.ListRootsResult | types.ErrorData]]
LogForward = Callable[[types.LoggingMessageNotificationParams], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Forwarder:
    """How one caller answers what an upstream asks during that caller's calls.

    ``owner`` identifies the calling client's session: requests that cannot be tied to one call are still
    routed when every call in flight belongs to the same owner. A missing callable means the caller cannot
    be sent that request mid-call, and the upstream's request is refused.

    A 2026-era caller (``modern``) is never sent requests mid-call: the upstream's questions go back to it
    in an ``InputRequiredResult`` and its answers arrive on the retry (``input_responses`` with the
    ``request_state`` the hub issued). ``capabilities`` is what the caller declared, which a 2026-era
    upstream is shown instead of the hub's own so it asks only what the caller can answer.
    """

    owner: object
    sampling: SamplingForward | None = None
    elicitation: ElicitationForward | None = None
    roots: RootsForward | None = None
    log: LogForward | None = None
    modern: bool = False
    audience: str = ""
    """Whom a ``request_state`` issued during this call is bound to; anyone else presenting it is refused."""
    capabilities: types.ClientCapabilities | None = None
    log_level: types.LoggingLevel | None = None
    """The least severe log level the caller takes (None: no logs), declared to a 2026-era upstream."""
    input_responses: types.InputResponses | None = None
    request_state: str | None = None

    async def answer(self, request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        """Answer one server-to-client request, or refuse it when the caller cannot."""
        match request:
            case types.CreateMessageRequest(params=params) if self.sampling is not None:
                return await self.sampling(params)
            case types.ElicitRequest(params=params) if self.elicitation is not None:
                return await self.elicitation(params)
            case types.ListRootsRequest() if self.roots is not None:
                return await self.roots()
            case _:
                return refusal(request.method, attributed=True)

    def declared(self) -> types.ClientCapabilities:
        """The capabilities to declare upstream for this caller: what it declared and the hub can carry.

        A handshake-era caller can answer only what the hub can send it mid-call (a callable is set); a
        2026-era caller answers through ``InputRequiredResult``, so its own declaration is the whole story.
        Extensions and experimental capabilities are left out: the hub does not know how to relay them.
        """
        caps = self.capabilities

        def keep(callable_set: bool, declared: T | None, default: T) -> T | None:
            if not self.modern and not callable_set:
                return None
            if caps is None:
                # No declaration to go by (a direct user of the proxy): a set callable is the declaration.
                return default if callable_set else None
            return declared

        return types.ClientCapabilities(
            sampling=keep(
                self.sampling is not None, caps.sampling if caps else None, types.SamplingCapability()
            ),
            elicitation=keep(
                self.elicitation is not None,
                caps.elicitation if caps else None,
                types.ElicitationCapability(form=types.FormElicitationCapability()),
            ),
            roots=keep(self.roots is not None, caps.roots if caps else None, types.RootsCapability()),
        )

    def can_answer(self, method: str) -> bool:
        """Whether the caller can answer a server-to-client request of ``method`` at all."""
        declared = self.declared()
        match method:
            case "sampling/createMessage":
                return declared.sampling is not None
            case "elicitation/create":
                return declared.elicitation is not None
            case "roots/list":
                return declared.roots is not None
            case _:
                return False


def refusal(method: str, *, attributed: bool) -> types.ErrorData:
    """The error an upstream gets for a request no caller will answer."""
    if not attributed:
        message = f"{method}: the hub cannot tell which caller's call this request belongs to"
    else:
        message = f"{method}: the calling client does not support it"
    return types.ErrorData(code=types.INVALID_REQUEST, message=message)


async def resolve_input_required(
    first: types.InputRequiredResult,
    retry: Callable[[types.InputResponses | None, str | None], Awaitable[T | types.InputRequiredResult]],
    forwarder: Forwarder | None,
    *,
    where: str,
) -> T:
    """Fulfil a 2026-era ``InputRequiredResult`` through ``forwarder``, retrying until a final result."""

    async def dispatch(key: str, request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        if forwarder is None:
            return refusal(request.method, attributed=False)
        return await forwarder.answer(request)

    try:
        return await run_input_required_driver(first, dispatch=dispatch, retry=retry)
    except InputRequiredRoundsExceededError as exc:
        raise UpstreamProtocolError(str(exc), where=where) from exc


def outbound_meta(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The caller's ``_meta`` minus what belongs to the caller's own hop."""
    if not meta:
        return None
    # The caller's progress token names the caller's request, not ours; ours is added per request.
    kept = {key: value for key, value in meta.items() if key != "progressToken"}
    return kept or None
