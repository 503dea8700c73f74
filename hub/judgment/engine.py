"""The judgment engine: cache, then rules, then (when they are unsure) an LLM; every judgment recorded.

``JudgmentEngine`` is built once by the composition root and shared by every caller; it holds no
per-tenant state besides compiled scripts and templates, and scopes every query by the caller's
tenant. It knows nothing of MCP: the MCP face passes a ``SampleFn`` when the caller can sample.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

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
from hub.judgment.records import Judgment, JudgmentFilter, record_llm_calls, to_row
from hub.judgment.rules import RuleFailure, RuleOutcome, RuleRunner, ScriptEngine, script_key
from hub.judgment.rulesets import (
    InputSchemas,
    RulesetTool,
    choose_script,
    describe_active_rulesets,
    load_script,
    resolve_ruleset,
)
from hub.judgment.stats import JudgmentStats, compute_stats
from hub.rules.rhai import sandboxed_engine
from hub.settings import Settings
from hub.store.models import Tenant

__all__ = ["JudgmentEngine"]


class JudgmentEngine:
    """Executes, lists, explains and learns from judgments for every tenant."""

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

    async def aclose(self) -> None:
        """Close the HTTP client if the engine made it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

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

    # ------------------------------------------------------------------ execute

    async def execute(
        self, caller: Caller, request: JudgmentRequest, *, sample: SampleFn | None = None
    ) -> Judgment:
        """Judge one input for the caller's tenant and record it.

        ``sample`` asks the calling client's model (MCP sampling); without it the OpenAI-compatible
        endpoint of the settings is used, if configured. Raises ``InputError``/``NotFound``/``Conflict``
        for bad requests; LLM trouble never raises but degrades (``Judgment.degraded`` says why).
        """
        started = self._timer()
        now = self._clock()
        trace_id = request.trace_id or uuid.uuid4().hex
        tenant_id = caller.tenant_id
        key, input_hash = cache.cache_key(request.workflow_id, request.cache_payload())
        forced = request.policy.method
        async with self._session("execute") as session:
            config = await self._config(session, tenant_id)
            if request.policy.use_cache or forced == "cache":
                hit = await cache.lookup(session, tenant_id, key, now)
                if hit is not None:
                    judgment = from_cache(
                        caller,
                        request,
                        hit[1],
                        key,
                        trace_id,
                        now,
                        self._elapsed_ms(started),
                        hit[0].hit_count + 1,
                    )
                    session.add(to_row(judgment))
                    await session.commit()
                    return judgment
                if forced == "cache":
                    raise NotFound("no cached judgment for this input", where="input")
            plan = await self._plan(session, caller, request, config, sample)
            if plan.llm_request is None or plan.provider is None:
                # No LLM to wait for: record in the same session, saving a checkout and a transaction.
                judgment = decide(caller, request, plan, None, key, trace_id, now, self._elapsed_ms(started))
                await self._record(session, request, plan, judgment, None, input_hash)
                return judgment
        # The LLM may take seconds: no session (nor PostgreSQL transaction) stays open meanwhile.
        answer = await ask_for_verdict(plan.provider, plan.llm_request, clock=self._timer)
        judgment = decide(caller, request, plan, answer, key, trace_id, now, self._elapsed_ms(started))
        async with self._session("execute") as session:
            await self._record(session, request, plan, judgment, answer, input_hash)
        return judgment

    def _elapsed_ms(self, started: float) -> int:
        return round((self._timer() - started) * 1000)

    async def _record(
        self,
        session: AsyncSession,
        request: JudgmentRequest,
        plan: Plan,
        judgment: Judgment,
        answer: LLMAnswer | None,
        input_hash: str,
    ) -> None:
        session.add(to_row(judgment))
        if answer is not None and answer.calls:
            # The judgment row must exist before the calls that reference it.
            await session.flush()
            record_llm_calls(
                session,
                answer.calls,
                tenant_id=judgment.tenant_id,
                judgment_id=judgment.id,
                prompt_template_id=plan.prompt.template_id if plan.prompt else None,
                trace_id=judgment.trace_id,
                created_at=judgment.created_at,
            )
        cacheable = judgment.degraded is None and judgment.result != "unknown"
        if request.policy.use_cache and cacheable and judgment.cache_key is not None:
            await cache.store(
                session,
                tenant_id=judgment.tenant_id,
                key=judgment.cache_key,
                input_hash=input_hash,
                execution_id=judgment.id,
                result=judgment.result,
                confidence=judgment.confidence,
                ttl_seconds=plan.config.cache_ttl_seconds,
                now=judgment.created_at,
            )
        await session.commit()

    async def _config(self, session: AsyncSession, tenant_id: uuid.UUID) -> JudgmentConfig:
        settings = await session.scalar(sa.select(Tenant.settings).where(Tenant.id == tenant_id))
        if settings is None:
            raise NotFound(f"no tenant {tenant_id}", where="tenant")
        return JudgmentConfig.from_settings(settings)

    async def _plan(
        self,
        session: AsyncSession,
        caller: Caller,
        request: JudgmentRequest,
        config: JudgmentConfig,
        sample: SampleFn | None,
    ) -> Plan:
        data = request.input
        ruleset = await resolve_ruleset(session, caller.tenant_id, request.ruleset)
        forced = request.policy.method
        if ruleset is None and forced in ("rule_only", "hybrid"):
            raise NotFound("no active rule set applies to this request", where="ruleset")
        method = forced or ("hybrid" if ruleset is not None else "llm_only")
        plan = Plan(config=config, method=method)
        if ruleset is not None and method != "llm_only":
            self._schemas.check(ruleset, data)

            def compiled(version: int, script_hash: str) -> bool:
                return self._rules.has_compiled(script_key(str(ruleset.id), version, None, script_hash))

            chosen = await choose_script(session, caller.tenant_id, ruleset, data, compiled=compiled)
            if (
                chosen is not None
                and chosen.script is None
                and not compiled(chosen.version, chosen.script_hash)
            ):
                # Evicted by another judgment while we awaited; no await between here and the run.
                chosen = dataclasses.replace(
                    chosen, script=await load_script(session, ruleset.id, chosen.version)
                )
            if chosen is None:
                plan.outcome = RuleOutcome(
                    str(ruleset.id),
                    ruleset.name,
                    0,
                    False,
                    failures=(RuleFailure("*", "NotDeployed", "the rule set has no deployed script"),),
                )
            else:
                plan.outcome = self._rules.run(
                    ruleset_id=str(ruleset.id),
                    ruleset_name=ruleset.name,
                    version=chosen.version,
                    canary=chosen.canary,
                    script=chosen.script,
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
            named = (ruleset.metadata_ or {}).get("prompt_template")
            template_name = named if isinstance(named, str) else None
        template_name = template_name or config.prompt_template
        locales = (request.policy.locale, config.locale)
        try:
            try:
                template = await load_template(
                    session,
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
        async with self._session("get_judgment") as session:
            return await records.get_judgment(session, caller.tenant_id, judgment_id)

    async def list_judgments(self, caller: Caller, flt: JudgmentFilter | None = None) -> list[Judgment]:
        """The caller's tenant's judgments, newest first."""
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
        async with self._session("stats") as session:
            return await compute_stats(session, caller.tenant_id, since, until)

    async def invalidate_ruleset(self, tenant_id: uuid.UUID, ruleset_id: uuid.UUID) -> int:
        """Drop cached judgments of a rule set (on deploy and rollback); returns how many."""
        async with self._session("invalidate_ruleset") as session:
            count = await cache.invalidate_ruleset(session, tenant_id, ruleset_id)
            await session.commit()
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
        async with self._session("get_prompt") as session:
            config = await self._config(session, caller.tenant_id)
            template = await load_template(
                session, caller.tenant_id, name=name, template_type=None, locales=(locale, config.locale)
            )
        return self._prompts.render_arguments(template, arguments)


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
