"""Judgments: rules first, an LLM when they are unsure, a cache in front, every answer recorded.

The public surface the MCP tools (``hub/tools/``) call; nothing here imports MCP.
"""

from __future__ import annotations

from hub.judgment.config import JudgmentConfig, LLMConfig
from hub.judgment.engine import JudgmentEngine
from hub.judgment.feedback import FEEDBACK_TYPES, FeedbackReceipt
from hub.judgment.inputs import (
    EXECUTE_ARGUMENTS_SCHEMA,
    JudgmentInput,
    JudgmentPolicy,
    JudgmentRequest,
    RulesetSelector,
    canonical_json,
    input_schema,
    parse_input,
)
from hub.judgment.llm import PRICES_PER_MILLION, LLMRequest, SampledText, SampleFn, SamplingDeferred
from hub.judgment.prompts import DEFAULT_TEMPLATE, PromptArgument, PromptInfo, RenderedPrompt
from hub.judgment.records import Judgment, JudgmentFilter, parse_instant
from hub.judgment.routing import DeploymentView, Route, choose_version
from hub.judgment.rulesets import RulesetTool, tool_name_for
from hub.judgment.stats import JudgmentStats
from hub.judgment.verdicts import ANSWER_SCHEMA, Verdict

__all__ = [
    "ANSWER_SCHEMA",
    "DEFAULT_TEMPLATE",
    "EXECUTE_ARGUMENTS_SCHEMA",
    "FEEDBACK_TYPES",
    "PRICES_PER_MILLION",
    "DeploymentView",
    "FeedbackReceipt",
    "Judgment",
    "JudgmentConfig",
    "JudgmentEngine",
    "JudgmentFilter",
    "JudgmentInput",
    "JudgmentPolicy",
    "JudgmentRequest",
    "JudgmentStats",
    "LLMConfig",
    "LLMRequest",
    "PromptArgument",
    "PromptInfo",
    "RenderedPrompt",
    "Route",
    "RulesetSelector",
    "RulesetTool",
    "SampleFn",
    "SampledText",
    "SamplingDeferred",
    "Verdict",
    "canonical_json",
    "choose_version",
    "input_schema",
    "parse_input",
    "parse_instant",
    "tool_name_for",
]
