"""The judgment engine: cache, then rules, then (when they are unsure) an LLM; every judgment recorded.

``JudgmentEngine`` is built once by the composition root and shared by every caller, and scopes every
query by the caller's tenant. What it keeps per tenant is a short-lived copy of what the database says
(settings, rule sets with their routing, live cache entries; see ``JudgmentEngine``): the database
stays the source of truth for every hub process sharing it. It knows nothing of MCP: the MCP face
passes a ``SampleFn`` when the caller can sample.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import httpx
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import ConfigError, InputError, NotFound, StoreError
from hub.identity import Caller
from hub.judgment import cache, records
from hub.judgment.config import JudgmentConfig
from hub.judgment.feedback import FeedbackReceipt, submit_feedback
from hub.judgment.inputs import JudgmentRequest
from hub.judgment.llm import LLMAnswer, LLMProvider, LLMRequest, SampleFn, ask_for_verdict
from hub.judgment.plans import Plan, decide, from_cache
from hub.judgment.prompts import (
    ANSWER_FORMAT,
    DEFAULT_TEMPLATE,
    PromptInfo,
    PromptRenderer,
    RenderedPrompt,
    list_prompts,
    load_template,
)
from hub.judgment.providers import OpenAICompatProvider, SamplingProvider
from hub.judgment.records import Judgment, JudgmentFilter, llm_call_values, to_values
from hub.judgment.rules import RuleFailure, RuleOutcome, RuleRunner, ScriptEngine, script_key
from hub.judgment.rulesets import (
    ChosenScript,
    InputSchemas,
    Routing,
    RulesetInfo,
    RulesetTool,
    describe_active_rulesets,
    load_routing,
    load_script,
    resolve_ruleset,
)
from hub.judgment.stats import JudgmentStats, compute_stats
from hub.judgment.writer import CacheWrite, JudgmentWriter, PendingJudgment
from hub.rules.rhai import sandboxed_engine
from hub.settings import Settings
from hub.store.models import Tenant

__all__ = ["JudgmentEngine"]


# How long this process trusts what it read of a tenant's settings and rule sets. Deploys and
# rollbacks through this hub reach it at once (``forget``); this bounds how long a change made by
# another hub process on the same database (or by hand) takes to be seen.
STATE_TTL_SECONDS = 2.0
# Memoized (tenant, rule-set selector) resolutions kept at most; past it they are all dropped.
_MAX_RESOLUTIONS = 4096


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A rule set a selector resolved to, with its routing, as read at ``loaded_at`` (monotonic)."""

    info: RulesetInfo
    routing: Routing
    loaded_at: float


class _Reader:
    """The read phase's session, opened on first use: a judgment that finds everything in memory
    reads nothing and so takes no connection (nor, on SQLite, the write lock of ``BEGIN IMMEDIATE``)."""

    def __init__(
        self,
        open_session: Callable[[str], contextlib.AbstractAsyncContextManager[AsyncSession]],
        stack: contextlib.AsyncExitStack,
        what: str,
    ) -> None:
        self._open = open_session
        self._stack = stack
        self._what = what
        self._session: AsyncSession | None = None

    async def session(self) -> AsyncSession:
        if self._session is None:
            self._session = await self._stack.enter_async_context(self._open(self._what))
        return self._session


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What the read phase of ``execute`` ends with: a cache hit to record, or a plan to finish."""

    judgment: Judgment | None
    plan: Plan | None
    key: str
    input_hash: str


class JudgmentEngine:
    """Executes, lists, explains and learns from judgments for every tenant.

    A judgment's reads come from memory when they can: the tenant's settings and the rule set with
    its routing for ``STATE_TTL_SECONDS``, compiled scripts by version, and live cache entries
    (``cache.LocalCache``). Its writes (the judgment row, a cache entry, a hit count) go to a
    ``JudgmentWriter`` that stores them in batches; ``run()`` drives it, ``aclose()`` flushes it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        script_engine: ScriptEngine | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: cache.Clock = cache.utc_now,
        timer: Callable[[], float] = time.perf_counter,
        sampling_timeout_seconds: float | None = None,
        writer: JudgmentWriter | None = None,
        state_ttl_seconds: float = STATE_TTL_SECONDS,
        local_cache: cache.LocalCache | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        given = script_engine
        self._rules = RuleRunner((lambda: given) if given is not None else sandboxed_engine, clock=timer)
        self._owns_http = http_client is None
        self._http = http_client
        self._clock = clock
        self._timer = timer
        self._sampling_timeout = sampling_timeout_seconds or settings.llm_timeout_seconds
        self._prompts = PromptRenderer()
        self._schemas = InputSchemas()
        self._writer = writer if writer is not None else JudgmentWriter(sessions, monotonic=monotonic)
        self._state_ttl = state_ttl_seconds
        self._monotonic = monotonic
        self._local = local_cache if local_cache is not None else cache.LocalCache(monotonic=monotonic)
        self._configs: dict[uuid.UUID, tuple[float, JudgmentConfig]] = {}
        self._resolutions: dict[tuple[uuid.UUID, str | None, str | None, str | None], _Resolved] = {}

    @property
    def writer(self) -> JudgmentWriter:
        """The writer that stores this engine's judgments."""
        return self._writer

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Store judgments in the background until ``aclose`` (run it in the composition root's task group).

        Without it every judgment is written before ``execute`` returns.
        """
        await self._writer.run(task_status=task_status)

    async def flush(self) -> None:
        """Store every judgment accepted so far; ``StoreError`` if the database refuses."""
        await self._writer.flush()

    async def aclose(self) -> None:
        """Store what is queued, and close the HTTP client if the engine made it."""
        await self._writer.aclose()
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop what this process remembers of a tenant (after a deploy, a rollback or a reload)."""
        self._configs.pop(tenant_id, None)
        for key in [k for k in self._resolutions if k[0] == tenant_id]:
            del self._resolutions[key]
        self._local.forget(tenant_id)

    @contextlib.asynccontextmanager
    async def _session(self, what: str) -> AsyncIterator[AsyncSession]:
        """A session whose database failures leave the engine as ``StoreError`` (retriable)."""
        try:
            async with self._sessions() as session:
                yield session
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise StoreError(f"{what}: the database failed: {first}") from exc

    def _fresh(self, loaded_at: float) -> bool:
        return self._monotonic() - loaded_at < self._state_ttl

    # ------------------------------------------------------------------ execute

    async def execute(
        self, caller: Caller, request: JudgmentRequest, *, sample: SampleFn | None = None
    ) -> Judgment:
        """Judge one input for the caller's tenant and record it.

        ``sample`` asks the calling client's model (MCP sampling); without it the OpenAI-compatible
        endpoint of the settings is used, if configured. Raises ``InputError``/``NotFound``/``Conflict``
        for bad requests, ``StoreError`` when the judgment cannot be recorded; LLM trouble never
        raises but degrades (``Judgment.degraded`` says why).
        """
        started = self._timer()
        now = self._clock()
        trace_id = request.trace_id or uuid.uuid4().hex
        async with contextlib.AsyncExitStack() as stack:
            reader = _Reader(self._session, stack, "execute")
            prepared = await self._prepare(reader, caller, request, sample, started, now, trace_id)
        # The read session is closed: the writes below must not wait on its lock (SQLite), nor may
        # a PostgreSQL transaction stay open while an LLM takes seconds.
        if prepared.judgment is not None:
            hit = prepared.judgment
            await self._writer.submit(
                PendingJudgment(to_values(hit), hit_key=hit.cache_key), durable=_refers(hit)
            )
            return hit
        plan = prepared.plan
        assert plan is not None
        answer: LLMAnswer | None = None
        if plan.llm_request is not None and plan.provider is not None:
            answer = await ask_for_verdict(plan.provider, plan.llm_request, clock=self._timer)
        judgment = decide(
            caller, request, plan, answer, prepared.key, trace_id, now, self._elapsed_ms(started)
        )
        await self._record(request, plan, judgment, answer, prepared.input_hash)
        return judgment

    async def _prepare(
        self,
        reader: _Reader,
        caller: Caller,
        request: JudgmentRequest,
        sample: SampleFn | None,
        started: float,
        now: dt.datetime,
        trace_id: str,
    ) -> _Prepared:
        tenant_id = caller.tenant_id
        forced = request.policy.method
        config = await self._config(reader, tenant_id)
        resolved = await self._resolve(reader, tenant_id, request)
        if resolved is None and forced in ("rule_only", "hybrid"):
            raise NotFound("no active rule set applies to this request", where="ruleset")
        chosen = (
            resolved.routing.choose(request.input) if resolved is not None and forced != "llm_only" else None
        )
        payload = request.cache_payload()
        if resolved is not None and chosen is not None:
            # The version that judges is part of the key: once a deploy or rollback routes this
            # input elsewhere, an answer of the old version is never found again, whichever process
            # (or queued write) put it there and whenever this process learns of the change.
            payload["rules"] = {
                "ruleset_id": str(resolved.info.id),
                "version": chosen.version,
                "script_hash": chosen.script_hash,
            }
        key, input_hash = cache.cache_key(request.workflow_id, payload)
        if request.policy.use_cache or forced == "cache":
            entry = await self._cached(reader, tenant_id, key, now)
            if entry is not None:
                entry.hits += 1
                hit = from_cache(
                    caller, request, entry.judgment, key, trace_id, now, self._elapsed_ms(started), entry.hits
                )
                return _Prepared(hit, None, key, input_hash)
            if forced == "cache":
                raise NotFound("no cached judgment for this input", where="input")
        plan = await self._plan(reader, caller, request, config, sample, resolved, chosen)
        return _Prepared(None, plan, key, input_hash)

    def _elapsed_ms(self, started: float) -> int:
        return round((self._timer() - started) * 1000)

    async def _record(
        self,
        request: JudgmentRequest,
        plan: Plan,
        judgment: Judgment,
        answer: LLMAnswer | None,
        input_hash: str,
    ) -> None:
        calls: tuple[dict[str, Any], ...] = ()
        if answer is not None and answer.calls:
            calls = tuple(
                llm_call_values(
                    answer.calls,
                    tenant_id=judgment.tenant_id,
                    judgment_id=judgment.id,
                    prompt_template_id=plan.prompt.template_id if plan.prompt else None,
                    trace_id=judgment.trace_id,
                    created_at=judgment.created_at,
                )
            )
        ttl = plan.config.cache_ttl_seconds
        cacheable = judgment.degraded is None and judgment.result != "unknown"
        entry: CacheWrite | None = None
        if request.policy.use_cache and cacheable and judgment.cache_key is not None and ttl > 0:
            entry = CacheWrite(judgment.cache_key, input_hash, ttl)
        await self._writer.submit(
            PendingJudgment(to_values(judgment), calls, entry), durable=_refers(judgment)
        )
        if entry is not None:
            # Known here before the writer stores it: the same input again is a hit at once.
            expires = judgment.created_at + dt.timedelta(seconds=ttl)
            self._local.put(judgment.tenant_id, entry.key, judgment, expires, 0)

    async def _config(self, reader: _Reader, tenant_id: uuid.UUID) -> JudgmentConfig:
        known = self._configs.get(tenant_id)
        if known is not None and self._fresh(known[0]):
            return known[1]
        session = await reader.session()
        settings = await session.scalar(sa.select(Tenant.settings).where(Tenant.id == tenant_id))
        if settings is None:
            raise NotFound(f"no tenant {tenant_id}", where="tenant")
        config = JudgmentConfig.from_settings(settings)
        self._configs[tenant_id] = (self._monotonic(), config)
        return config

    async def _resolve(
        self, reader: _Reader, tenant_id: uuid.UUID, request: JudgmentRequest
    ) -> _Resolved | None:
        """The rule set of the request with its routing; None when none applies (errors as ``resolve_ruleset``)."""
        selector = request.ruleset
        if selector.empty:
            return None
        key = (
            tenant_id,
            None if selector.ruleset_id is None else str(selector.ruleset_id),
            selector.name,
            selector.target_kpi,
        )
        known = self._resolutions.get(key)
        if known is not None and self._fresh(known.loaded_at):
            return known
        session = await reader.session()
        # Not remembered when absent or refused: a rule set created or activated a moment later
        # must be found by the next call.
        ruleset = await resolve_ruleset(session, tenant_id, selector)
        if ruleset is None:
            return None
        routing = await load_routing(session, tenant_id, ruleset.id)
        resolved = _Resolved(RulesetInfo.of(ruleset), routing, self._monotonic())
        if len(self._resolutions) >= _MAX_RESOLUTIONS:
            self._resolutions.clear()
        self._resolutions[key] = resolved
        return resolved

    async def _cached(
        self, reader: _Reader, tenant_id: uuid.UUID, key: str, now: dt.datetime
    ) -> cache.CachedAnswer | None:
        entry = self._local.get(tenant_id, key, now)
        if entry is not None:
            return entry
        found = await cache.lookup(await reader.session(), tenant_id, key, now)
        if found is None:
            self._local.discard(tenant_id, key)
            return None
        row, execution = found
        return self._local.put(tenant_id, key, Judgment.from_row(execution), row.expires_at, row.hit_count)

    async def _plan(
        self,
        reader: _Reader,
        caller: Caller,
        request: JudgmentRequest,
        config: JudgmentConfig,
        sample: SampleFn | None,
        resolved: _Resolved | None,
        chosen: ChosenScript | None,
    ) -> Plan:
        data = request.input
        forced = request.policy.method
        method = forced or ("hybrid" if resolved is not None else "llm_only")
        plan = Plan(config=config, method=method)
        ruleset = resolved.info if resolved is not None else None
        if ruleset is not None and method != "llm_only":
            self._schemas.check(ruleset, data)
            if chosen is None:
                plan.outcome = RuleOutcome(
                    str(ruleset.id),
                    ruleset.name,
                    0,
                    False,
                    failures=(RuleFailure("*", "NotDeployed", "the rule set has no deployed script"),),
                )
            else:
                script: str | None = None
                if not self._rules.has_compiled(
                    script_key(str(ruleset.id), chosen.version, None, chosen.script_hash)
                ):
                    script = await load_script(await reader.session(), ruleset.id, chosen.version)
                plan.outcome = self._rules.run(
                    ruleset_id=str(ruleset.id),
                    ruleset_name=ruleset.name,
                    version=chosen.version,
                    canary=chosen.canary,
                    script=script,
                    script_hash=chosen.script_hash,
                    metrics=data.metrics,
                    context=data.context,
                    # A declared input schema (checked above) is authoritative; else the script's reads.
                    require_metrics=not self._schemas.declares(ruleset),
                )
            if plan.outcome.failures:
                plan.degraded.append(
                    "rule failures: " + ", ".join(f"{f.rule_id} ({f.kind})" for f in plan.outcome.failures)
                )
        if not self._needs_llm(plan, request):
            return plan
        plan.wanted_llm = True
        plan.provider = self._provider(config, sample)
        if plan.provider is None:
            plan.degraded.append("no LLM reachable: no sampling client and no llm_base_url configured")
            return plan
        template_name = request.policy.prompt_template
        if template_name is None and ruleset is not None:
            named = ruleset.metadata_.get("prompt_template")
            template_name = named if isinstance(named, str) else None
        template_name = template_name or config.prompt_template
        locales = (request.policy.locale, config.locale)
        try:
            try:
                template = await load_template(
                    await reader.session(),
                    caller.tenant_id,
                    name=template_name,
                    locales=locales,
                    ab_key=(data.line_code, data.shift),
                )
            except NotFound:
                if request.policy.prompt_template is not None:
                    raise  # the caller named it: that is the caller's error
                # A rule set or tenant setting names a retired template: judge with the default.
                plan.degraded.append(f"prompt template '{template_name}' is not active; used the default")
                template = DEFAULT_TEMPLATE
            plan.prompt = self._prompts.render(template, self._variables(request, plan.outcome))
        except ConfigError as exc:
            plan.provider = None
            plan.degraded.append(f"prompt template unusable: {exc}")
            return plan
        model_config = plan.prompt.model_config
        user_prompt = plan.prompt.user_prompt
        if plan.outcome is not None and "rule_trace" not in template.user_prompt_template:
            # Hybrid asks with the rule trace; a tenant template written for llm_only lacks it.
            user_prompt += "\n\n## Rule evaluation\n" + json.dumps(
                self._variables(request, plan.outcome)["rule_trace"], ensure_ascii=False, sort_keys=True
            )
        plan.llm_request = LLMRequest(
            system_prompt=plan.prompt.system_prompt + ANSWER_FORMAT,
            user_prompt=user_prompt,
            model=_str(model_config.get("model")) or config.llm.model,
            temperature=_float(model_config.get("temperature"), config.llm.temperature),
            max_tokens=int(_float(model_config.get("max_tokens"), config.llm.max_tokens)),
        )
        return plan

    def _needs_llm(self, plan: Plan, request: JudgmentRequest) -> bool:
        if plan.method == "llm_only":
            return True
        if plan.method != "hybrid":
            return False
        verdict = plan.outcome.verdict if plan.outcome is not None else None
        threshold = request.policy.confidence_threshold
        if threshold is None:
            threshold = plan.config.confidence_threshold
        return verdict is None or verdict.confidence < threshold

    def _provider(self, config: JudgmentConfig, sample: SampleFn | None) -> LLMProvider | None:
        if sample is not None:
            return SamplingProvider(sample, timeout_seconds=self._sampling_timeout)
        base_url = self._settings.llm_base_url
        if not base_url:
            return None
        if self._http is None:
            self._http = httpx.AsyncClient()
        key = self._settings.llm_api_key
        return OpenAICompatProvider(
            self._http,
            base_url=base_url,
            api_key=key.get_secret_value() if key is not None else None,
            timeout_seconds=self._settings.llm_timeout_seconds,
            fallback_model=config.llm.fallback_model,
        )

    @staticmethod
    def _variables(request: JudgmentRequest, outcome: RuleOutcome | None) -> dict[str, Any]:
        verdict = outcome.verdict if outcome is not None else None
        return {
            "input_data": request.input.as_dict(),
            "context": dict(request.input.context),
            "historical_data": None if request.historical_data is None else dict(request.historical_data),
            "rule_trace": None if outcome is None else outcome.prompt_trace(),
            "rule_result": None if verdict is None else verdict.as_dict(),
        }

    # ------------------------------------------------------------------ reads and the rest

    async def get_judgment(self, caller: Caller, judgment_id: uuid.UUID | str) -> Judgment:
        """One judgment of the caller's tenant (an id from tool arguments may be a string)."""
        judgment_id = _judgment_id(judgment_id)
        await self._writer.flush()  # read-your-writes: a judgment just returned is found
        async with self._session("get_judgment") as session:
            return await records.get_judgment(session, caller.tenant_id, judgment_id)

    async def list_judgments(self, caller: Caller, flt: JudgmentFilter | None = None) -> list[Judgment]:
        """The caller's tenant's judgments, newest first."""
        await self._writer.flush()
        async with self._session("list_judgments") as session:
            return await records.list_judgments(session, caller.tenant_id, flt or JudgmentFilter())

    async def feedback(
        self,
        caller: Caller,
        judgment_id: uuid.UUID | str,
        feedback_type: str,
        *,
        corrected_result: str | None = None,
        rating: int | None = None,
        comment: str | None = None,
    ) -> FeedbackReceipt:
        """Record feedback and, for correct/incorrect/partial, a learning sample."""
        judgment_id = _judgment_id(judgment_id)
        await self._writer.flush()  # the feedback row references the judgment's
        async with self._session("feedback") as session:
            receipt = await submit_feedback(
                session,
                caller,
                judgment_id,
                feedback_type,
                corrected_result=corrected_result,
                rating=rating,
                comment=comment,
                now=self._clock(),
            )
            await session.commit()
        return receipt

    async def stats(self, caller: Caller, since: dt.datetime, until: dt.datetime) -> JudgmentStats:
        """Monitoring figures of the caller's tenant for ``[since, until)``."""
        await self._writer.flush()
        async with self._session("stats") as session:
            return await compute_stats(session, caller.tenant_id, since, until)

    async def invalidate_ruleset(self, tenant_id: uuid.UUID, ruleset_id: uuid.UUID) -> int:
        """Drop cached judgments of a rule set (on deploy and rollback); returns how many."""
        await self._writer.flush()  # entries still queued are dropped too
        async with self._session("invalidate_ruleset") as session:
            count = await cache.invalidate_ruleset(session, tenant_id, ruleset_id)
            await session.commit()
        self._local.forget(tenant_id, ruleset_id)
        return count

    async def ruleset_tools(self, caller: Caller) -> list[RulesetTool]:
        """The tenant's active rule sets, each with a tool name and input schema (``judge_<name>`` tools)."""
        async with self._session("ruleset_tools") as session:
            return await describe_active_rulesets(session, caller.tenant_id)

    async def list_prompts(self, caller: Caller) -> list[PromptInfo]:
        """The tenant's active prompt templates (MCP ``prompts/list``)."""
        async with self._session("list_prompts") as session:
            return await list_prompts(session, caller.tenant_id)

    async def get_prompt(
        self, caller: Caller, name: str, arguments: Mapping[str, Any], *, locale: str | None = None
    ) -> RenderedPrompt:
        """Render an active template by name with the caller's arguments (MCP ``prompts/get``)."""
        async with contextlib.AsyncExitStack() as stack:
            reader = _Reader(self._session, stack, "get_prompt")
            config = await self._config(reader, caller.tenant_id)
            template = await load_template(
                await reader.session(),
                caller.tenant_id,
                name=name,
                template_type=None,
                locales=(locale, config.locale),
            )
        return self._prompts.render_arguments(template, arguments)


def _refers(judgment: Judgment) -> bool:
    """Whether the row references rows the hub did not check (a workflow): then it is written at once,
    so a bad reference fails the call instead of a batch."""
    return judgment.workflow_id is not None or judgment.workflow_instance_id is not None


def _judgment_id(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InputError("must be a UUID", where="judgment_id") from None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _float(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)
