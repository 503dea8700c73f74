"""What a judgment is asked about: the input of spec section 4.1, the rule-set selector and the policy."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from hub.errors import InputError

__all__ = [
    "EXECUTE_ARGUMENTS_SCHEMA",
    "FORCEABLE_METHODS",
    "POLICY_SCHEMA",
    "SOURCES",
    "JudgmentInput",
    "JudgmentPolicy",
    "JudgmentRequest",
    "Method",
    "RulesetSelector",
    "Source",
    "canonical_json",
    "input_schema",
    "parse_input",
]

Method = Literal["rule_only", "llm_only", "hybrid", "cache"]
Source = Literal["workflow", "api", "manual", "schedule"]
FORCEABLE_METHODS: tuple[str, ...] = get_args(Method)
SOURCES: tuple[str, ...] = get_args(Source)

_TOP_LEVEL = ("line_code", "shift", "date", "metrics", "context")


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace: two equal inputs give the same text, hence the same cache key."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class JudgmentInput:
    """One validated input: a line, a shift, a date, numeric metrics and free-form context."""

    line_code: str
    shift: str
    date: str
    metrics: Mapping[str, float | int]
    context: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored in ``judgment_executions.input_data``."""
        return {
            "line_code": self.line_code,
            "shift": self.shift,
            "date": self.date,
            "metrics": dict(self.metrics),
            "context": dict(self.context),
        }

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the input."""
        return hashlib.sha256(canonical_json(self.as_dict()).encode()).hexdigest()


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    if key not in raw:
        raise InputError("is required", where=f"{where}.{key}")
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"must be a non-empty string, got {_kind(value)}", where=f"{where}.{key}")
    return value


def _kind(value: object) -> str:
    """A JSON type name for error messages, so callers read their own vocabulary."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _json_safe(value: object, where: str) -> None:
    """Context values end up in JSON columns and in Rhai maps, so only JSON values are allowed."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("must be a finite number", where=where)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _json_safe(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str):
                raise InputError("object keys must be strings", where=where)
            _json_safe(item, f"{where}.{k}")
        return
    raise InputError(f"is not a JSON value ({_kind(value)})", where=where)


def parse_input(raw: object, *, where: str = "input") -> JudgmentInput:
    """Validate a caller's input; every error names the exact field (``input.metrics.oee``)."""
    if not isinstance(raw, Mapping):
        raise InputError(f"must be an object, got {_kind(raw)}", where=where)
    for key in raw:
        if key not in _TOP_LEVEL:
            raise InputError(
                f"unknown field (expected one of {', '.join(_TOP_LEVEL)})", where=f"{where}.{key}"
            )
    line_code = _text(raw, "line_code", where)
    shift = _text(raw, "shift", where)
    date = _text(raw, "date", where)
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise InputError("must be an ISO date (YYYY-MM-DD)", where=f"{where}.date") from None
    metrics_raw = raw.get("metrics")
    if not isinstance(metrics_raw, Mapping):
        if "metrics" not in raw:
            raise InputError("is required", where=f"{where}.metrics")
        raise InputError(f"must be an object, got {_kind(metrics_raw)}", where=f"{where}.metrics")
    if not metrics_raw:
        raise InputError("must hold at least one metric", where=f"{where}.metrics")
    metrics: dict[str, float | int] = {}
    for name, value in metrics_raw.items():
        if not isinstance(name, str):
            raise InputError("metric names must be strings", where=f"{where}.metrics")
        # bool is an int subclass; a metric of true/false is a caller mistake, not the number 1.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"must be a number, got {_kind(value)}", where=f"{where}.metrics.{name}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError("must be a finite number", where=f"{where}.metrics.{name}")
        metrics[name] = value
    context_raw = raw.get("context", {})
    if context_raw is None:
        context_raw = {}
    if not isinstance(context_raw, Mapping):
        raise InputError(f"must be an object, got {_kind(context_raw)}", where=f"{where}.context")
    _json_safe(context_raw, f"{where}.context")
    return JudgmentInput(line_code, shift, date, metrics, dict(context_raw))


@dataclass(frozen=True, slots=True)
class RulesetSelector:
    """Which rule set judges: by id, by name or by target KPI; none of them means no rules (``llm_only``)."""

    ruleset_id: uuid.UUID | None = None
    name: str | None = None
    target_kpi: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.ruleset_id, self.name, self.target_kpi) if v is not None]
        if len(given) > 1:
            raise InputError("give at most one of ruleset_id, ruleset_name, target_kpi", where="ruleset")

    @property
    def empty(self) -> bool:
        """True when no rule set was asked for."""
        return self.ruleset_id is None and self.name is None and self.target_kpi is None

    def as_dict(self) -> dict[str, str]:
        """JSON form; part of the cache key so two rule sets never share a cached answer."""
        out: dict[str, str] = {}
        if self.ruleset_id is not None:
            out["ruleset_id"] = str(self.ruleset_id)
        if self.name is not None:
            out["name"] = self.name
        if self.target_kpi is not None:
            out["target_kpi"] = self.target_kpi
        return out


@dataclass(frozen=True, slots=True)
class JudgmentPolicy:
    """Per-call overrides: force a method, skip the cache, pick a prompt template or threshold."""

    method: Method | None = None
    use_cache: bool = True
    confidence_threshold: float | None = None
    prompt_template: str | None = None
    locale: str | None = None

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in FORCEABLE_METHODS:
            raise InputError(f"must be one of {', '.join(FORCEABLE_METHODS)}", where="policy.method")
        if self.confidence_threshold is not None and not 0.0 <= self.confidence_threshold <= 1.0:
            raise InputError("must be between 0 and 1", where="policy.confidence_threshold")


@dataclass(frozen=True, slots=True)
class JudgmentRequest:
    """Everything one judgment needs besides the tenant and the LLM: input, rule set, workflow, policy."""

    input: JudgmentInput
    ruleset: RulesetSelector = field(default_factory=RulesetSelector)
    policy: JudgmentPolicy = field(default_factory=JudgmentPolicy)
    workflow_id: uuid.UUID | None = None
    workflow_instance_id: uuid.UUID | None = None
    source: Source = "api"
    trace_id: str | None = None
    evidence: Mapping[str, Any] | None = None
    historical_data: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InputError(f"must be one of {', '.join(SOURCES)}", where="source")

    @classmethod
    def from_arguments(cls, args: Mapping[str, Any]) -> JudgmentRequest:
        """Build a request from tool arguments (plain JSON), validating every field."""
        ruleset_id = _optional_uuid(args.get("ruleset_id"), "ruleset_id")
        policy_raw = args.get("policy") or {}
        if not isinstance(policy_raw, Mapping):
            raise InputError("must be an object", where="policy")
        threshold = policy_raw.get("confidence_threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise InputError("must be a number", where="policy.confidence_threshold")
        use_cache = policy_raw.get("use_cache", True)
        if not isinstance(use_cache, bool):
            raise InputError("must be a boolean", where="policy.use_cache")
        policy = JudgmentPolicy(
            method=cast(Method | None, _optional_str(policy_raw.get("method"), "policy.method")),
            use_cache=use_cache,
            confidence_threshold=None if threshold is None else float(threshold),
            prompt_template=_optional_str(policy_raw.get("prompt_template"), "policy.prompt_template"),
            locale=_optional_str(policy_raw.get("locale"), "policy.locale"),
        )
        evidence = args.get("evidence")
        if evidence is not None:
            if not isinstance(evidence, Mapping):
                raise InputError("must be an object", where="evidence")
            _json_safe(evidence, "evidence")
        historical = args.get("historical_data")
        if historical is not None:
            if not isinstance(historical, Mapping):
                raise InputError("must be an object", where="historical_data")
            _json_safe(historical, "historical_data")
        return cls(
            input=parse_input(args.get("input")),
            ruleset=RulesetSelector(
                ruleset_id=ruleset_id,
                name=_optional_str(args.get("ruleset_name"), "ruleset_name"),
                target_kpi=_optional_str(args.get("target_kpi"), "target_kpi"),
            ),
            policy=policy,
            workflow_id=_optional_uuid(args.get("workflow_id"), "workflow_id"),
            workflow_instance_id=_optional_uuid(args.get("workflow_instance_id"), "workflow_instance_id"),
            source=cast(Source, _optional_str(args.get("source"), "source") or "api"),
            trace_id=_optional_str(args.get("trace_id"), "trace_id"),
            evidence=evidence,
            historical_data=historical,
        )

    def cache_payload(self) -> dict[str, Any]:
        """What the cache key hashes: the input plus what changes the answer for the same input."""
        payload: dict[str, Any] = {"input": self.input.as_dict()}
        if not self.ruleset.empty:
            payload["ruleset"] = self.ruleset.as_dict()
        if self.policy.method not in (None, "cache"):
            payload["method"] = self.policy.method
        return payload


def _optional_str(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InputError(f"must be a non-empty string, got {_kind(value)}", where=where)
    return value


def _optional_uuid(value: object, where: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise InputError(f"must be a UUID string, got {_kind(value)}", where=where)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InputError("must be a UUID", where=where) from None


def input_schema(
    metrics: Sequence[str] = (), context: Sequence[str] = (), *, required: Sequence[str] | None = None
) -> dict[str, Any]:
    """JSON Schema of a judgment input listing the named metrics and context keys.

    ``required`` names the metrics that must be present (default: all of ``metrics``).
    """
    metric_props = {name: {"type": "number"} for name in metrics}
    context_props: dict[str, Any] = {name: {} for name in context}
    metrics_schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "minProperties": 1,
    }
    if metric_props:
        metrics_schema["properties"] = metric_props
    needed = list(metrics if required is None else required)
    if needed:
        metrics_schema["required"] = needed
    context_schema: dict[str, Any] = {"type": "object"}
    if context_props:
        context_schema["properties"] = context_props
    return {
        "type": "object",
        "required": ["line_code", "shift", "date", "metrics"],
        "additionalProperties": False,
        "properties": {
            "line_code": {"type": "string", "minLength": 1, "description": "production line, e.g. L01"},
            "shift": {"type": "string", "minLength": 1, "description": "shift, e.g. day or night"},
            "date": {"type": "string", "format": "date", "description": "ISO date of the shift"},
            "metrics": metrics_schema,
            "context": context_schema,
        },
    }


POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "method": {"enum": list(FORCEABLE_METHODS)},
        "use_cache": {"type": "boolean"},
        "confidence_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "prompt_template": {"type": "string"},
        "locale": {"type": "string"},
    },
}

EXECUTE_ARGUMENTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "input": input_schema(),
        "ruleset_id": {"type": "string", "format": "uuid"},
        "ruleset_name": {"type": "string"},
        "target_kpi": {"type": "string"},
        "workflow_id": {"type": "string", "format": "uuid"},
        "workflow_instance_id": {"type": "string", "format": "uuid"},
        "source": {"enum": list(SOURCES)},
        "trace_id": {"type": "string"},
        "evidence": {"type": "object"},
        "historical_data": {"type": "object"},
        "policy": POLICY_SCHEMA,
    },
}
"""The arguments ``JudgmentRequest.from_arguments`` reads: the inputSchema of ``judgment_execute``."""
