"""The platform's core schema (spec B-3-1, sections 2-10) plus the hub's extensions, as typed models.

One model set serves PostgreSQL and SQLite: the column types below pick the native PostgreSQL type
(uuid, jsonb, text[], inet, bytea, numeric, timestamptz) and a portable SQLite equivalent. The
Alembic revisions in ``migrations/versions`` are the source of the live schema; these models must
describe exactly what they create (a test compares the two on both databases). Deviations from the
spec are listed in ``docs/schema.md``.

Ids are uuid4 values assigned when a model object is constructed, so related rows can be built
before anything is flushed; the database default (``gen_random_uuid()``) serves raw SQL.

There are deliberately no ``relationship()``s: an async session cannot lazy-load, so every
read names what it joins or loads.
"""

from __future__ import annotations

from hub.store.models.base import (
    GUID,
    Base,
    Inet,
    JSONArray,
    JSONObject,
    JSONType,
    Numeric6,
    TextArray,
    UTCDateTime,
)
from hub.store.models.chat import ChatMessage, ChatSession, IntentLog
from hub.store.models.integrations import APIKey, AuditLog, DataConnector, MCPCallLog, MCPServer, MCPTool
from hub.store.models.judgments import JudgmentCache, JudgmentExecution
from hub.store.models.learning import AutoRuleCandidate, Feedback, LearningSample, ModelTrainingJob
from hub.store.models.prompts import LLMCall, PromptTemplate, PromptTemplateBody
from hub.store.models.rules import RuleConflict, RuleDeployment, RuleScript, Ruleset
from hub.store.models.tenancy import Tenant, User
from hub.store.models.workflows import Workflow, WorkflowExecutionLog, WorkflowInstance, WorkflowStep

__all__ = [
    "GUID",
    "APIKey",
    "AuditLog",
    "AutoRuleCandidate",
    "Base",
    "ChatMessage",
    "ChatSession",
    "DataConnector",
    "Feedback",
    "Inet",
    "IntentLog",
    "JSONArray",
    "JSONObject",
    "JSONType",
    "JudgmentCache",
    "JudgmentExecution",
    "LLMCall",
    "LearningSample",
    "MCPCallLog",
    "MCPServer",
    "MCPTool",
    "ModelTrainingJob",
    "Numeric6",
    "PromptTemplate",
    "PromptTemplateBody",
    "RuleConflict",
    "RuleDeployment",
    "RuleScript",
    "Ruleset",
    "Tenant",
    "TextArray",
    "UTCDateTime",
    "User",
    "Workflow",
    "WorkflowExecutionLog",
    "WorkflowInstance",
    "WorkflowStep",
]
