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
    routed when every call in flight belongs to the same owner. A missing callable means the caller lacks
    that capability, and the upstream's request is refused.
    """

    owner: object
    sampling: SamplingForward | None = None
    elicitation: ElicitationForward | None = None
    roots: RootsForward | None = None
    log: LogForward | None = None

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
