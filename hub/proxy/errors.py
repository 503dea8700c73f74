"""Where foreign errors from an upstream's wire become ``hub.errors``: once, in ``map_errors``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio
import httpx2
import mcp_types as types
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from websockets.exceptions import WebSocketException

from hub.errors import (
    HubError,
    InputError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from hub.proxy.transport import LinkStatus

__all__ = ["RequestStateError", "UpstreamRPCError", "map_errors", "translate"]


# The JSON-RPC errors by which a server refuses a request as it was asked. They are about the caller's
# request (bad params, a capability it lacks, an unknown resource), not about the upstream's health.
_REFUSALS = frozenset(
    {
        types.INVALID_REQUEST,
        types.METHOD_NOT_FOUND,
        types.INVALID_PARAMS,
        types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        types.URL_ELICITATION_REQUIRED,
        -32002,  # "resource not found" before SEP-2164 settled on -32602
    }
)


class UpstreamRPCError(UpstreamProtocolError):
    """The upstream answered with a JSON-RPC error; ``error`` is its answer, to pass on verbatim."""

    def __init__(self, message: str, *, error: types.ErrorData, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.error = error

    @property
    def refusal(self) -> bool:
        """Whether the upstream refused the request as asked, which its caller must hear as is.

        Otherwise the upstream failed (-32603, which the SDK also makes of an HTTP 5xx, or a code of
        its own): a fault of the upstream, reported as the hub reports any.
        """
        return self.error.code in _REFUSALS


class RequestStateError(InputError):
    """A caller's ``request_state`` cannot be honoured: forged, altered, expired, someone else's, or its call is gone.

    An ``InputError`` (-32602, the code the spec gives integrity failures), raised as a JSON-RPC error at the
    server face rather than as a tool's own failure: the request itself is wrong, not the tool.
    """


def translate(exc: BaseException, *, where: str, status: LinkStatus | None = None) -> HubError | None:
    """The hub error for a foreign one, or None when ``exc`` is not an upstream failure."""
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        # Transports run in task groups, so their failures arrive wrapped; one real cause is the answer.
        leaves = [e for e in _leaves(exc) if not isinstance(e, anyio.get_cancelled_exc_class())]
        for leaf in leaves:
            if (mapped := translate(leaf, where=where, status=status)) is not None:
                return mapped
        return None
    reason = status.closed_reason if status is not None else None
    if isinstance(exc, MCPError):
        if exc.error.code == types.CONNECTION_CLOSED:
            return UpstreamUnavailable(reason or "connection closed", where=where)
        if exc.error.code == types.REQUEST_TIMEOUT:
            return UpstreamTimeout(exc.error.message, where=where)
        return UpstreamRPCError(exc.error.message, error=exc.error, where=where)
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("no answer in time", where=where)
    if isinstance(exc, httpx2.TimeoutException):
        return UpstreamTimeout(f"HTTP timeout ({type(exc).__name__})", where=where)
    if isinstance(exc, httpx2.HTTPStatusError):
        return UpstreamUnavailable(f"HTTP {exc.response.status_code} from {exc.request.url}", where=where)
    if isinstance(exc, httpx2.HTTPError | OSError | WebSocketException):
        return UpstreamUnavailable(reason or f"{type(exc).__name__}: {exc}", where=where)
    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError | anyio.EndOfStream):
        return UpstreamUnavailable(reason or "connection closed", where=where)
    if isinstance(exc, ValidationError | ValueError):
        return UpstreamProtocolError(f"invalid message: {_first_line(exc)}", where=where)
    if isinstance(exc, RuntimeError):
        # The SDK raises RuntimeError for protocol-level refusals (unsupported version, unexpected result).
        return UpstreamProtocolError(str(exc), where=where)
    return None


@contextlib.contextmanager
def map_errors(*, upstream: str, tool: str | None = None, status: LinkStatus | None = None) -> Iterator[None]:
    """Translate what the block raises into ``hub.errors`` naming the upstream (and tool)."""
    where = f"{upstream}/{tool}" if tool else upstream
    try:
        yield
    except UpstreamError:
        raise
    except Exception as exc:
        mapped = translate(exc, where=where, status=status)
        if mapped is None:
            raise
        raise mapped from exc


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0][:200]
