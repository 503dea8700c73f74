"""The request half of an upstream: one request over the shared link, and the questions it may raise.

``Requests._request`` sends one request with its timeout, progress and error mapping; ``_interactive``
carries a call whose upstream asks its caller something (sampling, elicitation, roots) across the
protocol eras, parking it where the link cannot relay the question (``parking.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types import SERVER_INFO_META_KEY
from pydantic import BaseModel, TypeAdapter

from hub.proxy.errors import RequestStateError, map_errors
from hub.proxy.forwarder import Forwarder
from hub.proxy.forwarder import resolve_input_required as resolve_input
from hub.proxy.lifecycle import LinkKeeper
from hub.proxy.link import Declaration, declaring
from hub.proxy.parking import ParkedCall
from hub.proxy.state import StateSeal

R = TypeVar("R", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


class Requests(LinkKeeper):
    """Requests over the link kept by ``LinkKeeper``; ``Upstream`` adds the public operations."""

    _seal: StateSeal

    async def _interactive(
        self,
        build: Callable[[types.InputResponses | None, str | None], types.ClientRequest],
        result_type: TypeAdapter[M | types.InputRequiredResult],
        *,
        target: str,
        arguments: Mapping[str, Any] | None,
        tool: str,
        timeout_seconds: float | None,
        forwarder: Forwarder | None,
        input_responses: types.InputResponses | None,
        request_state: str | None,
        resolve: bool,
        progress_callback: ProgressFnT | None = None,
    ) -> M | types.InputRequiredResult:
        audience = forwarder.audience if forwarder is not None else ""
        link = await self._require_link()
        if not link.modern and not resolve and forwarder is not None and forwarder.modern:
            return await self._parked(
                build,
                result_type,
                target=target,
                arguments=arguments,
                tool=tool,
                timeout_seconds=timeout_seconds,
                progress_callback=progress_callback,
                forwarder=forwarder,
                input_responses=input_responses,
                request_state=request_state,
            )
        relayed: str | None = None
        if request_state is not None:
            opened = self._seal.open(request_state, audience=audience, target=target)
            if opened.kind != "pass":
                raise RequestStateError(
                    "request_state names a call held open on an earlier connection to the upstream, "
                    "which is gone; send the request again without it"
                )
            relayed = opened.value

        async def send(
            responses: types.InputResponses | None, state: str | None
        ) -> M | types.InputRequiredResult:
            return await self._request(
                build(responses, state),
                result_type,
                tool=tool,
                timeout_seconds=timeout_seconds,
                progress_callback=progress_callback,
                forwarder=forwarder,
            )

        result = await send(input_responses, relayed)
        if not isinstance(result, types.InputRequiredResult):
            return _this_hop(result)
        if resolve:
            with map_errors(upstream=self.name, tool=tool, status=self._status):
                return _this_hop(await resolve_input(result, send, forwarder, where=f"{self.name}/{tool}"))
        if result.request_state is not None:
            # The upstream cannot tell the hub's callers apart; the seal does, so no one else can resume.
            sealed = self._seal.seal("pass", result.request_state, audience=audience, target=target)
            result = result.model_copy(update={"request_state": sealed})
        return _this_hop(result)

    async def _parked(
        self,
        build: Callable[[types.InputResponses | None, str | None], types.ClientRequest],
        result_type: TypeAdapter[M | types.InputRequiredResult],
        *,
        target: str,
        arguments: Mapping[str, Any] | None,
        tool: str,
        timeout_seconds: float | None,
        progress_callback: ProgressFnT | None,
        forwarder: Forwarder,
        input_responses: types.InputResponses | None,
        request_state: str | None,
    ) -> M | types.InputRequiredResult:
        """A 2026-era caller on a handshake-era link: start or resume a parked call (``parking.py``)."""
        audience = forwarder.audience
        # Only a parked call's retry must repeat its arguments, so only here are they fingerprinted.
        digest = _digest(arguments)
        if request_state is None:
            if self._task_group is None:
                raise self._unavailable("upstream is closed")

            async def work(
                parked: ParkedCall[M | types.InputRequiredResult],
            ) -> M | types.InputRequiredResult:
                # No read timeout on the request itself: it spans the caller's thinking time, which the
                # lot bounds (ttl between legs, the call timeout within each).
                return await self._request(
                    build(None, None),
                    result_type,
                    tool=tool,
                    timeout_seconds=math.inf,
                    progress_callback=parked.progress,
                    forwarder=parked.forwarder(),
                )

            # Answers sent with the first request have no question to go to yet: a pushed question
            # carries no key the caller could have known. They are ignored, as unknown keys are.
            call = self._parking.park(
                self._task_group, work, audience=audience, target=target, digest=digest, caller=forwarder
            )
        else:
            opened = self._seal.open(request_state, audience=audience, target=target)
            if opened.kind != "park":
                raise RequestStateError(
                    "request_state was issued on an earlier connection to the upstream, which is gone; "
                    "send the request again without it"
                )
            call = self._parking.find(opened.value, target=target, digest=digest)
            call.deliver(input_responses)
        leg = await self._parking.leg(
            call,
            seconds=self._call_timeout if timeout_seconds is None else timeout_seconds,
            log=forwarder.log,
            progress=progress_callback,
        )
        if leg.questions is None:
            assert leg.result is not None
            return leg.result
        state = self._seal.seal("park", call.id, audience=audience, target=target, ttl=self._parking.ttl)
        return types.InputRequiredResult(input_requests=leg.questions, request_state=state)

    # --- the request path ---------------------------------------------------------------------------------

    async def _request(
        self,
        request: types.ClientRequest,
        result_type: type[R] | TypeAdapter[R],
        *,
        tool: str | None = None,
        timeout_seconds: float | None = None,
        progress_callback: ProgressFnT | None = None,
        forwarder: Forwarder | None = None,
    ) -> R:
        timeout: float | None = self._call_timeout if timeout_seconds is None else timeout_seconds
        if timeout is not None and math.isinf(timeout):
            timeout = None  # the SDK takes None for "no read timeout"
        with map_errors(upstream=self.name, tool=tool, status=self._status):
            for attempt in range(2):
                link = await self._require_link()
                try:
                    with self._calls.track(link, forwarder) as call, declaring(_declaration(forwarder)):
                        with call.scope:
                            return await link.session.send_request(
                                request,
                                result_type,
                                request_read_timeout_seconds=timeout,
                                progress_callback=progress_callback,
                            )
                        # Only our own abort cancels call.scope; outer cancellation propagates past it.
                        assert call.abort is not None
                        raise call.abort
                except MCPError as exc:
                    if attempt == 0 and self._expired(link, exc):
                        # The server forgot the session (it restarted, or expired it): a new session
                        # and one retry, invisible to the caller.
                        self._close_link(link, reconnect_now=True)
                        continue
                    raise
        raise AssertionError("unreachable")


def _declaration(forwarder: Forwarder | None) -> Declaration:
    """What a 2026-era request declares for its caller: nothing it cannot answer, no logs it did not ask for."""
    if forwarder is None:
        return Declaration(types.ClientCapabilities())
    return Declaration(forwarder.declared(), forwarder.log_level if forwarder.log is not None else None)


def _this_hop(result: M) -> M:
    """``result`` without the upstream's per-hop ``_meta`` stamp (its ``serverInfo``, at 2026-07-28).

    The stamp describes the server that answered this hop; passed on, it would name the upstream as the
    server the caller is talking to (the hub's face stamps only results that carry none).
    """
    meta = getattr(result, "meta", None)
    if not meta or SERVER_INFO_META_KEY not in meta:
        return result
    kept = {key: value for key, value in meta.items() if key != SERVER_INFO_META_KEY}
    return result.model_copy(update={"meta": kept or None})


def _digest(arguments: Mapping[str, Any] | None) -> str:
    """A fingerprint of a request's arguments: a parked call's retry must repeat them."""
    body = json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:32]
