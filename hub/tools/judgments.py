"""Judgments as MCP tools: execute, read, list, feedback, stats; one ``judge_<name>`` tool per active rule set.

Permissions (``resource:action``; admins hold ``*:*``, approvers ``judgment:*``):

=====================  ====================  ===================================
tool                   permission            who holds it by role
=====================  ====================  ===================================
judgment_execute       ``judgment:execute``  admin, approver, operator
judge_<name>           ``judgment:execute``  admin, approver, operator
judgment_get           ``judgment:read``     every role
judgment_list          ``judgment:read``     every role
judgment_stats         ``judgment:read``     every role
judgment_feedback      ``judgment:read``     every role
=====================  ====================  ===================================

Feedback needs only ``judgment:read``: whoever may see a judgment may say whether it was right, and
the people on the line who see results are the ones who know. What keeps the training data clean is
the engine's rule that a learning sample is *validated* only when the giver holds ``judgment:*`` or is
an admin; anyone else's label waits for review.

Every tool goes through ``Dispatcher.call`` (permission, validation, call log). The engine knows no
MCP; what is MCP-specific lives here: the per-tenant ``judge_*`` tools (``RulesetToolRouter``), the
prompt templates as MCP prompts (``JudgmentPrompts``) and the 2026-07-28 input-required flow for
sampling (``deferred_sampler``), which the server face builds for callers that cannot be sent a
sampling request mid-call.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import anyio
import mcp.types as types
import orjson

from hub.errors import InputError, NotFound
from hub.identity import Caller
from hub.judgment import (
    EXECUTE_ARGUMENTS_SCHEMA,
    FEEDBACK_TYPES,
    JudgmentEngine,
    JudgmentFilter,
    JudgmentRequest,
    LLMRequest,
    RulesetTool,
    SamplingDeferred,
    canonical_json,
    parse_instant,
)
from hub.judgment.inputs import FORCEABLE_METHODS, POLICY_SCHEMA
from hub.judgment.verdicts import RESULTS
from hub.store.audit import record_audit
from hub.tools.base import JSONObject, SampledText, SampleFn, ToolContext, ToolSpec, obj

__all__ = [
    "DeferredSampling",
    "JudgmentPrompts",
    "RulesetToolRouter",
    "deferred_sampler",
    "tools",
]

log = logging.getLogger(__name__)

_UUID: Final[JSONObject] = {"type": "string", "format": "uuid"}
_INSTANT: Final[JSONObject] = {"type": "string", "description": "ISO 8601 date-time; without a zone, UTC"}
_READ_ONLY: Final[JSONObject] = {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False}
# A judgment may ask an LLM (open world) and always writes a row, so it is neither read-only nor idempotent.
_EXECUTES: Final[JSONObject] = {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": True}
# How far back judgment_stats looks when the caller names no period: the day of spec section 12.4.
_DEFAULT_STATS_PERIOD: Final = dt.timedelta(hours=24)


# ---------------------------------------------------------------------------------------------- tools


async def _judge(ctx: ToolContext, engine: JudgmentEngine, request: JudgmentRequest) -> Any:
    """Run a judgment; a deferred sampling request becomes the input-required result the face returns."""
    try:
        judgment = await engine.execute(ctx.caller, request, sample=ctx.sample)
    except SamplingDeferred as exc:
        pending = getattr(exc, "input_required", None)
        if isinstance(pending, types.InputRequiredResult):
            return pending
        raise
    return judgment.as_dict()


def _with_trace(args: JSONObject, ctx: ToolContext) -> JSONObject:
    # The judgment row carries the call's trace id, so mcp_call_logs and judgment_executions join.
    if "trace_id" not in args:
        return {**args, "trace_id": ctx.trace_id}
    return args


def tools(engine: JudgmentEngine) -> list[ToolSpec]:
    """The judgment family, bound to the engine the composition root built."""

    async def execute(ctx: ToolContext, args: JSONObject) -> Any:
        return await _judge(ctx, engine, JudgmentRequest.from_arguments(_with_trace(args, ctx)))

    async def get(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
        return (await engine.get_judgment(ctx.caller, args["judgment_id"])).as_dict()

    async def list_(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
        found = await engine.list_judgments(ctx.caller, JudgmentFilter.from_arguments(args))
        return {"judgments": [j.as_dict() for j in found], "count": len(found)}

    async def feedback(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
        receipt = await engine.feedback(
            ctx.caller,
            args["judgment_id"],
            args["feedback_type"],
            corrected_result=args.get("corrected_result"),
            rating=args.get("rating"),
            comment=args.get("comment"),
        )
        # Feedback changes what the hub learns from, so it is audited. The engine commits its own
        # transaction, hence a second one here; shielded so a caller's cancel cannot skip the row.
        # Judgments themselves are not audited: judgment_executions is already their record.
        after = {
            **receipt.as_dict(),
            "feedback_type": args["feedback_type"],
            "corrected_result": args.get("corrected_result"),
            "rating": args.get("rating"),
        }
        with anyio.CancelScope(shield=True):
            async with ctx.app.sessions() as session, session.begin():
                await record_audit(
                    session,
                    caller=ctx.caller,
                    action="feedback",
                    resource_type="judgment_execution",
                    resource_id=str(args["judgment_id"]),
                    after=after,
                    trace_id=ctx.trace_id,
                )
        return receipt.as_dict()

    async def stats(ctx: ToolContext, args: JSONObject) -> dict[str, Any]:
        until = parse_instant(args.get("until"), "until") or dt.datetime.now(dt.UTC)
        since = parse_instant(args.get("since"), "since") or until - _DEFAULT_STATS_PERIOD
        if since >= until:
            raise InputError("must be before until", where="since")
        return (await engine.stats(ctx.caller, since, until)).as_dict()

    return [
        ToolSpec(
            name="judgment_execute",
            title="Execute a judgment",
            description=(
                "Judge a production line's metrics for one shift as normal, warning or critical: the rule set"
                " (by ruleset_id, ruleset_name or target_kpi) decides first, an LLM is asked when the rules are"
                " unsure, repeated inputs come from the cache. Returns the result, confidence, explanation,"
                " recommended actions, rule trace and LLM metadata; every judgment is recorded."
            ),
            input_schema=EXECUTE_ARGUMENTS_SCHEMA,
            permission="judgment:execute",
            handler=execute,
            annotations=_EXECUTES,
        ),
        ToolSpec(
            name="judgment_get",
            title="Get a judgment",
            description="One recorded judgment of your tenant by id, with its rule trace and LLM metadata.",
            input_schema=obj({"judgment_id": _UUID}, ["judgment_id"]),
            permission="judgment:read",
            handler=get,
            annotations=_READ_ONLY,
        ),
        ToolSpec(
            name="judgment_list",
            title="List judgments",
            description=(
                "Recorded judgments of your tenant, newest first, filtered by result, line_code, method and"
                " period [since, until)."
            ),
            input_schema=obj(
                {
                    "result": {"enum": [*RESULTS, "unknown"]},
                    "line_code": {"type": "string", "minLength": 1},
                    "method": {"enum": list(FORCEABLE_METHODS)},
                    "since": _INSTANT,
                    "until": _INSTANT,
                    "workflow_id": _UUID,
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                    "offset": {"type": "integer", "minimum": 0, "default": 0},
                }
            ),
            permission="judgment:read",
            handler=list_,
            annotations=_READ_ONLY,
        ),
        ToolSpec(
            name="judgment_feedback",
            title="Give feedback on a judgment",
            description=(
                "Say whether a judgment was correct, incorrect or partial (with corrected_result), or"
                " helpful / not_helpful. Correct, incorrect and partial feedback becomes a learning sample,"
                " validated when you hold judgment:* or are an admin."
            ),
            input_schema=obj(
                {
                    "judgment_id": _UUID,
                    "feedback_type": {"enum": list(FEEDBACK_TYPES)},
                    "corrected_result": {"enum": list(RESULTS)},
                    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                    "comment": {"type": "string", "maxLength": 4000},
                },
                ["judgment_id", "feedback_type"],
            ),
            permission="judgment:read",
            handler=feedback,
            annotations={"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
        ),
        ToolSpec(
            name="judgment_stats",
            title="Judgment statistics",
            description=(
                "Monitoring figures of your tenant for a period (default: the last 24 hours): counts by result"
                " and method, p50/p95 latency, cache hit rate, LLM calls, tokens and cost."
            ),
            input_schema=obj({"since": _INSTANT, "until": _INSTANT}),
            permission="judgment:read",
            handler=stats,
            annotations=_READ_ONLY,
        ),
    ]


# -------------------------------------------------------------------------------- judge_<name> tools

# Arguments a judge_<name> tool takes besides the input fields themselves.
_JUDGE_EXTRAS: Final[JSONObject] = {
    "policy": POLICY_SCHEMA,
    "historical_data": {"type": "object"},
    "evidence": {"type": "object"},
    "workflow_id": _UUID,
    "workflow_instance_id": _UUID,
}
_INPUT_FIELDS: Final = ("line_code", "shift", "date", "metrics", "context")


def _judge_schema(input_schema: Mapping[str, Any]) -> JSONObject:
    """The tool's arguments: the rule set's input at the top level, plus the optional extras."""
    props = input_schema.get("properties")
    if input_schema.get("type") != "object" or not isinstance(props, Mapping):
        # A declared schema of another shape: take the input as one argument rather than guess.
        return obj({"input": dict(input_schema), **_JUDGE_EXTRAS}, ["input"])
    schema = dict(input_schema)
    schema["properties"] = {**_JUDGE_EXTRAS, **props}
    return schema


class RulesetToolRouter:
    """Serves ``judge_<name>`` for each active rule set of the caller's tenant.

    ``resolve`` and ``listed`` are synchronous (the dispatcher and ``tools/list`` ask per call), so
    the router answers from a per-tenant snapshot made by ``refresh(tenant_id)``: at start for every
    tenant, and as a ``list_changed`` listener registered before the MCP face's notifier, so the
    snapshot is new by the time clients are told to list again. A tenant first seen after start is
    loaded in the background and its callers get a ``list_changed`` when it is there.
    """

    def __init__(
        self,
        engine: JudgmentEngine,
        *,
        on_loaded: Callable[[uuid.UUID], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._on_loaded = on_loaded
        self._tenants: dict[uuid.UUID, dict[str, ToolSpec]] = {}
        self._locks: dict[uuid.UUID, anyio.Lock] = {}
        self._pending: set[uuid.UUID] = set()
        # The dispatcher caches validators by the schema object's id; keeping one object per distinct
        # schema alive means an id is never reused by a different schema after a redeploy.
        self._schemas: dict[str, JSONObject] = {}

    def resolve(self, caller: Caller, name: str) -> ToolSpec | None:
        """The caller's tenant's ``judge_<name>`` tool, if its rule set is active."""
        if not name.startswith("judge_"):
            return None
        return self._snapshot(caller).get(name)

    def listed(self, caller: Caller) -> list[ToolSpec]:
        """The tenant's ``judge_*`` tools (the face filters them by permission)."""
        return list(self._snapshot(caller).values())

    def _snapshot(self, caller: Caller) -> dict[str, ToolSpec]:
        found = self._tenants.get(caller.tenant_id)
        if found is None:
            self._load_later(caller)
            return {}
        return found

    def _load_later(self, caller: Caller) -> None:
        tenant_id = caller.tenant_id
        if tenant_id in self._pending:
            return
        self._pending.add(tenant_id)

        async def load() -> None:
            try:
                await self.refresh(tenant_id, caller=caller)
                if self._on_loaded is not None and self._tenants.get(tenant_id):
                    await self._on_loaded(tenant_id)
            except Exception:
                log.exception("loading the judge_* tools of tenant %s failed", tenant_id)
            finally:
                self._pending.discard(tenant_id)

        # resolve/listed cannot await; the hub runs on asyncio, so a task on the running loop will do.
        try:
            task = asyncio.get_running_loop().create_task(load())
        except RuntimeError:
            self._pending.discard(tenant_id)
            return
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def refresh(self, tenant_id: uuid.UUID, *, caller: Caller | None = None) -> None:
        """Load the tenant's active rule sets again (after a deploy, rollback or start)."""
        # Deploys, rollbacks and reloads come this way: what the engine remembers of the tenant's rule
        # sets and settings goes, so the next judgment reads them anew.
        self._engine.forget(tenant_id)
        lock = self._locks.setdefault(tenant_id, anyio.Lock())
        async with lock:
            who = caller or Caller.of(
                tenant_id=tenant_id, tenant_name="", user_id=None, username="system", role="admin"
            )
            described = await self._engine.ruleset_tools(who)
            old = self._tenants.get(tenant_id, {})
            new: dict[str, ToolSpec] = {}
            for tool in described:
                spec = self._spec(tool, old.get(tool.tool_name))
                # Two rule set names may sanitise to one tool name; the first (by name) keeps it.
                new.setdefault(spec.name, spec)
            self._tenants[tenant_id] = new

    async def refresh_all(self, tenant_ids: list[uuid.UUID]) -> None:
        """Load every tenant's tools (at start)."""
        for tenant_id in tenant_ids:
            await self.refresh(tenant_id)

    def _spec(self, tool: RulesetTool, old: ToolSpec | None) -> ToolSpec:
        key = canonical_json(_judge_schema(tool.input_schema))
        schema = self._schemas.setdefault(key, orjson.loads(key))
        description = f"{tool.description} (rule set '{tool.name}', target KPI {tool.target_kpi})"
        if old is not None and old.input_schema is schema and old.description == description:
            return old
        ruleset_id = tool.ruleset_id

        async def judge(ctx: ToolContext, args: JSONObject) -> Any:
            data = {k: args[k] for k in _INPUT_FIELDS if k in args}
            if "input" in args and not data:
                data = args["input"]
            request = {k: v for k, v in args.items() if k in _JUDGE_EXTRAS}
            request.update(input=data, ruleset_id=str(ruleset_id))
            return await _judge(ctx, self._engine, JudgmentRequest.from_arguments(_with_trace(request, ctx)))

        return ToolSpec(
            name=tool.tool_name,
            title=f"Judge {tool.target_kpi} ({tool.name})",
            description=description,
            input_schema=schema,
            permission="judgment:execute",
            handler=judge,
            annotations=_EXECUTES,
        )


# Strong references to the background loads, which the event loop itself only holds weakly.
_background: set[asyncio.Task[None]] = set()


# ------------------------------------------------------------------------------------------ prompts


class JudgmentPrompts:
    """The tenant's active prompt templates as MCP prompts (``App.prompt_provider``)."""

    def __init__(self, engine: JudgmentEngine) -> None:
        self._engine = engine

    async def list(self, caller: Caller) -> list[types.Prompt]:
        """One prompt per active template name."""
        return [
            types.Prompt(
                name=info.name,
                description=info.description,
                arguments=[
                    types.PromptArgument(name=a.name, description=a.description, required=a.required)
                    for a in info.arguments
                ],
            )
            for info in await self._engine.list_prompts(caller)
        ]

    async def get(self, caller: Caller, name: str, arguments: dict[str, str]) -> types.GetPromptResult | None:
        """The rendered template; ``None`` when no active template has that name (an upstream's, then)."""
        try:
            rendered = await self._engine.get_prompt(caller, name, arguments)
        except NotFound:
            return None
        # MCP prompts have no system role: the system prompt is the first message, as clients expect.
        return types.GetPromptResult(
            description=f"{rendered.label} ({rendered.locale})",
            messages=[
                types.PromptMessage(
                    role="user", content=types.TextContent(type="text", text=rendered.system_prompt)
                ),
                types.PromptMessage(
                    role="user", content=types.TextContent(type="text", text=rendered.user_prompt)
                ),
            ],
        )


# ------------------------------------------------------------------ 2026-07-28: sampling by input-required


class DeferredSampling(SamplingDeferred):
    """``SamplingDeferred`` carrying the input-required result that asks the caller for the answer."""

    def __init__(self, request: LLMRequest, input_required: types.InputRequiredResult) -> None:
        super().__init__(request)
        self.input_required = input_required


_KEY_PREFIX: Final = "judgment-sampling-"


def _request_key(system: str, user: str, max_tokens: int, temperature: float | None) -> str:
    # The key names the exact request: a retry after an invalid answer asks a different prompt, so its
    # answer never stands in for the first one.
    digest = hashlib.sha256(canonical_json([system, user, max_tokens, temperature]).encode()).hexdigest()
    return _KEY_PREFIX + digest[:24]


# Marks a request_state as a judgment's; any other state (an upstream tool's round) is not ours to read.
_STATE_PREFIX: Final = "hub-judgment.v1:"


def _decode_state(state: str | None) -> dict[str, dict[str, Any]]:
    if not state or not state.startswith(_STATE_PREFIX):
        return {}
    try:
        value = orjson.loads(base64.urlsafe_b64decode(state[len(_STATE_PREFIX) :].encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise InputError("is not a request_state this hub issued", where="request_state") from None
    if not isinstance(value, dict):
        raise InputError("is not a request_state this hub issued", where="request_state")
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, dict)}


def _encode_state(answers: Mapping[str, Mapping[str, Any]]) -> str | None:
    if not answers:
        return None
    return _STATE_PREFIX + base64.urlsafe_b64encode(orjson.dumps(answers)).decode()


def deferred_sampler(input_responses: Mapping[str, Any] | None, request_state: str | None) -> SampleFn:
    """A ``SampleFn`` for 2026-07-28 callers: answers from the retry, else ``DeferredSampling``.

    The engine reruns the whole judgment on each retry (rules are deterministic, so it reaches the same
    request). A judgment may ask more than once (a corrective retry after an invalid answer), so the
    answers of earlier rounds ride in ``request_state``, which the client echoes unchanged. The state
    holds only the caller's own model's answers: a client that forged it could only have answered
    differently in the first place, so it is not signed.
    """
    # Read on first use only: the face builds this for every tools/call of such a caller, and most
    # calls (hub_status, an upstream's own input-required rounds) never sample.
    answers: dict[str, dict[str, Any]] | None = None

    def known_answers() -> dict[str, dict[str, Any]]:
        nonlocal answers
        if answers is None:
            answers = _decode_state(request_state)
            for key, response in (input_responses or {}).items():
                if key.startswith(_KEY_PREFIX) and isinstance(response, types.CreateMessageResult):
                    content = response.content
                    text = content.text if isinstance(content, types.TextContent) else ""
                    answers[key] = {"text": text, "model": response.model}
        return answers

    async def sample(system: str, user: str, max_tokens: int, temperature: float | None) -> SampledText:
        key = _request_key(system, user, max_tokens, temperature)
        answers = known_answers()
        known = answers.get(key)
        if known is not None:
            return SampledText(
                text=str(known.get("text", "")), model=str(known.get("model") or "client-sampling")
            )
        ask = types.CreateMessageRequest(
            params=types.CreateMessageRequestParams(
                messages=[
                    types.SamplingMessage(role="user", content=types.TextContent(type="text", text=user))
                ],
                system_prompt=system,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        )
        pending = types.InputRequiredResult(input_requests={key: ask}, request_state=_encode_state(answers))
        request = LLMRequest(system, user, "client-sampling", temperature or 0.0, max_tokens)
        raise DeferredSampling(request, pending)

    return sample
