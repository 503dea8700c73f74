"""The one path every tool call takes: authorize, trace, validate, route, log.

Own tools (``ToolSpec``) and upstream tools (``RoutedTool`` from the proxy catalog) both pass
through ``Dispatcher.call``; it is the only place that checks permissions and writes
``mcp_call_logs`` rows, so no family can forget either.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import orjson

from hub.errors import HubError, NotFound, PayloadTooLarge, PermissionDenied
from hub.identity import Caller
from hub.redaction import cap_json, redact
from hub.resilience.drain import Drain
from hub.resilience.retry import RetryCounter, counting_retries
from hub.store.calllog import CallRecord
from hub.tools.base import ProgressFn, SampleFn, ToolContext, ToolSpec
from hub.tracing import trace_id_from_meta
from hub.validation import ArgumentValidator

if TYPE_CHECKING:
    from hub.app import App

__all__ = ["CallOutcome", "Dispatcher", "Passthrough", "RoutedTool", "ToolRouter"]


@dataclass(frozen=True, slots=True)
class Passthrough:
    """An upstream's result, handed back to the caller as it came (the proxy knows its shape)."""

    payload: Any
    is_error: bool
    log_value: Any


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The result of one dispatched call: a value, a passthrough or an error; never an exception."""

    trace_id: str
    value: Any = None
    passthrough: Passthrough | None = None
    error: HubError | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded (an upstream ``isError`` result counts as a failure)."""
        if self.error is not None:
            return False
        return not (self.passthrough is not None and self.passthrough.is_error)


class Cancelled(HubError):
    """The caller cancelled the call (or its own timeout did) before it finished."""

    def __init__(self) -> None:
        super().__init__("cancelled by the caller")


class RoutedTool(Protocol):
    """A tool that lives elsewhere (an upstream MCP server), as the dispatcher sees it."""

    @property
    def name(self) -> str: ...
    @property
    def permission(self) -> str: ...
    @property
    def input_schema(self) -> Mapping[str, Any]: ...
    @property
    def server_name(self) -> str: ...
    @property
    def tool_name(self) -> str: ...

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> Passthrough: ...


class ToolRouter(Protocol):
    """Finds tools that are not the hub's fixed ones, by the name a caller uses.

    A router answers with a ``RoutedTool`` (it lives elsewhere, e.g. on an upstream) or with a
    ``ToolSpec`` (a hub tool that exists per tenant, e.g. one ``judge_<name>`` per active rule set).
    """

    def resolve(self, caller: Caller, name: str) -> RoutedTool | ToolSpec | None: ...

    def listed(self, caller: Caller) -> Sequence[object]:
        """What ``tools/list`` shows the caller: ``ToolSpec`` values or ready MCP tool descriptions."""
        ...


# (tenant, server, tool, the spec of a hub tool that may need its row made) -> the row's id.
ToolIdLookup = Callable[[uuid.UUID, str, str, ToolSpec | None], Awaitable[uuid.UUID | None]]
RecordFn = Callable[[CallRecord], None]


class Dispatcher:
    """Authorizes, validates, routes and logs every tool call."""

    def __init__(
        self,
        *,
        app: App,
        tool_id: ToolIdLookup,
        record: RecordFn,
        max_payload_bytes: int,
        log_output_max_bytes: int,
        redact_keys: Iterable[str],
    ) -> None:
        self._app = app
        self._tool_id = tool_id
        self._record = record
        self._max_payload = max_payload_bytes
        self._log_cap = log_output_max_bytes
        self._redact_keys = tuple(redact_keys)
        self._own: dict[str, ToolSpec] = {}
        self._validators: dict[str, ArgumentValidator] = {}
        self.routers: list[ToolRouter] = []
        self.drain = Drain()

    # -- own tools ---------------------------------------------------------------------------

    def add(self, specs: Iterable[ToolSpec]) -> None:
        """Register own tools; a name may be registered once."""
        for spec in specs:
            if spec.name in self._own:
                raise ValueError(f"tool {spec.name!r} is registered twice")
            self._own[spec.name] = spec
            self._validators[spec.name] = ArgumentValidator(dict(spec.input_schema))

    def remove(self, name: str) -> None:
        """Drop an own tool (rule-set tools come and go with deployments)."""
        self._own.pop(name, None)
        self._validators.pop(name, None)

    @property
    def own_tools(self) -> list[ToolSpec]:
        """Every own tool, in registration order."""
        return list(self._own.values())

    def visible_own_tools(self, caller: Caller) -> list[ToolSpec]:
        """The own tools the caller may call."""
        return [s for s in self._own.values() if caller.can(s.permission)]

    def resolve(self, caller: Caller, name: str) -> ToolSpec | RoutedTool | None:
        """The tool a name means for this caller: an own tool first, then the routers' in order."""
        spec = self._own.get(name)
        if spec is not None:
            return spec
        for router in self.routers:
            found = router.resolve(caller, name)
            if found is not None:
                return found
        return None

    # -- the call path -----------------------------------------------------------------------

    async def call(
        self,
        caller: Caller,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        meta: Mapping[str, Any] | None = None,
        progress: ProgressFn | None = None,
        sample: SampleFn | None = None,
        forwarder: object | None = None,
        raise_not_found: bool = True,
    ) -> CallOutcome:
        """Run one call to the end; every failure comes back in ``CallOutcome.error``.

        An unknown tool raises ``NotFound`` (there is no tool row to log against) unless
        ``raise_not_found`` is false; a caller without the permission raises ``PermissionDenied``
        after its refusal has been logged.
        """
        started = time.perf_counter()
        trace_id = trace_id_from_meta(meta)
        args = dict(arguments or {})
        ctx = ToolContext(caller, self._app, trace_id, progress, sample, dict(meta or {}), forwarder)
        found = self.resolve(caller, name)
        spec = found if isinstance(found, ToolSpec) else None
        routed = found if found is not None and not isinstance(found, ToolSpec) else None
        if spec is None and routed is None:
            err = NotFound(f"unknown tool '{name}'")
            if raise_not_found:
                raise err
            return CallOutcome(trace_id, error=err)
        server, tool = ("hub", name) if spec is not None else (routed.server_name, routed.tool_name)  # type: ignore[union-attr]
        permission = spec.permission if spec is not None else routed.permission  # type: ignore[union-attr]

        outcome: CallOutcome
        retries = RetryCounter()
        try:
            # Counted for a graceful shutdown, which refuses new calls and cuts late ones (ShuttingDown).
            with self.drain.track():
                if not caller.can(permission):
                    raise PermissionDenied(
                        f"role '{caller.role}' of user '{caller.username}' lacks permission '{permission}'"
                        f" needed by tool '{name}'"
                    )
                self._check_size(name, args)
                if spec is not None:
                    self._spec_validator(spec).check(name, args)
                    value = await spec.handler(ctx, args)
                    outcome = CallOutcome(trace_id, value=value)
                else:
                    assert routed is not None
                    self._routed_validator(routed).check(name, args)
                    with counting_retries(retries):
                        outcome = CallOutcome(trace_id, passthrough=await routed.invoke(ctx, args))
        except HubError as exc:
            outcome = CallOutcome(trace_id, error=exc)
        except anyio.get_cancelled_exc_class():
            # The caller cancelled or timed out: the call still happened and is logged as failed.
            with anyio.CancelScope(shield=True):
                latency_ms = int((time.perf_counter() - started) * 1000)
                await self._log(
                    caller,
                    server,
                    tool,
                    args,
                    CallOutcome(trace_id, error=Cancelled()),
                    latency_ms,
                    spec,
                    retries.count,
                )
            raise
        latency_ms = int((time.perf_counter() - started) * 1000)
        await self._log(caller, server, tool, args, outcome, latency_ms, spec, retries.count)
        if isinstance(outcome.error, PermissionDenied):
            raise outcome.error
        return outcome

    # -- helpers -----------------------------------------------------------------------------

    def _check_size(self, name: str, args: dict[str, Any]) -> None:
        size = len(orjson.dumps(args, default=str))
        if size > self._max_payload:
            raise PayloadTooLarge(
                f"arguments of tool '{name}' are {size} bytes; the limit is {self._max_payload}",
                where="arguments",
            )

    def _spec_validator(self, spec: ToolSpec) -> ArgumentValidator:
        validator = self._validators.get(spec.name)
        if validator is None or self._own.get(spec.name) is not spec:
            # A per-tenant tool: cache by the schema object itself, which its router keeps stable.
            key = f"spec\x00{spec.name}\x00{id(spec.input_schema)}"
            validator = self._validators.get(key)
            if validator is None:
                validator = ArgumentValidator(dict(spec.input_schema))
                self._validators[key] = validator
        return validator

    def _routed_validator(self, routed: RoutedTool) -> ArgumentValidator:
        key = f"{routed.server_name}\x00{routed.tool_name}\x00{id(routed.input_schema)}"
        validator = self._validators.get(key)
        if validator is None:
            validator = ArgumentValidator(dict(routed.input_schema))
            self._validators[key] = validator
        return validator

    async def _log(
        self,
        caller: Caller,
        server: str,
        tool: str,
        args: dict[str, Any],
        outcome: CallOutcome,
        latency_ms: int,
        spec: ToolSpec | None,
        retry_count: int = 0,
    ) -> None:
        tool_id = await self._tool_id(caller.tenant_id, server, tool, spec)
        if tool_id is None:
            return
        if outcome.error is not None:
            output: Any = {"error": {"kind": type(outcome.error).__name__, "message": str(outcome.error)}}
        elif outcome.passthrough is not None:
            output = outcome.passthrough.log_value
        else:
            output = outcome.value
        error_message = str(outcome.error) if outcome.error is not None else None
        if error_message is None and outcome.passthrough is not None and outcome.passthrough.is_error:
            error_message = "the tool reported an error (isError)"
        self._record(
            CallRecord(
                tenant_id=caller.tenant_id,
                tool_id=tool_id,
                input_data=redact(args, self._redact_keys),
                output_data=cap_json(redact(output, self._redact_keys), self._log_cap),
                success=outcome.ok,
                error_message=error_message,
                latency_ms=latency_ms,
                retry_count=retry_count,
                trace_id=outcome.trace_id,
                created_at=datetime.now(UTC),
            )
        )
