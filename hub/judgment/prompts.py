"""Prompt templates: choosing a tenant's active template, rendering it (Handlebars), listing them.

Templates live in ``prompt_templates`` (name, version, model_config, variables, a_b_test_group) and
``prompt_template_bodies`` (one per locale). Bodies use the Handlebars syntax of the spec
(``{{input_data.line_code}}``, ``{{#if historical_data}}``), rendered by ``dotpromptz-handlebars``
with HTML escaping off: prompts go to a model, not a browser. A tenant without a judgment template
gets ``DEFAULT_TEMPLATE``. The same functions back the MCP prompts (``prompts/list``, ``prompts/get``).
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from dotpromptz_handlebars import Handlebars, HelperOptions
from sqlalchemy.ext.asyncio import AsyncSession

from hub.errors import ConfigError, InputError, NotFound
from hub.judgment.routing import bucket_of
from hub.store.models import PromptTemplate, PromptTemplateBody

__all__ = [
    "DEFAULT_TEMPLATE",
    "PromptArgument",
    "PromptInfo",
    "PromptRenderer",
    "PromptTemplateView",
    "RenderedPrompt",
    "list_prompts",
    "load_template",
]


@dataclass(frozen=True, slots=True)
class PromptArgument:
    """One argument of a prompt, as MCP ``prompts/list`` describes it."""

    name: str
    required: bool
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PromptInfo:
    """An active template as a prompt: name, description, arguments."""

    name: str
    description: str
    arguments: tuple[PromptArgument, ...]
    version: int
    template_type: str
    locales: tuple[str, ...]
    builtin: bool = False


@dataclass(frozen=True, slots=True)
class PromptTemplateView:
    """One template version with the body chosen for a locale."""

    id: uuid.UUID | None
    name: str
    purpose: str
    version: int
    template_type: str
    model_config: Mapping[str, Any]
    variables: Mapping[str, Any]
    a_b_test_group: str | None
    locale: str
    system_prompt: str
    user_prompt_template: str
    few_shot_examples: Sequence[Any] | None = None
    locales: tuple[str, ...] = ()

    def arguments(self) -> tuple[PromptArgument, ...]:
        """The template's variables as prompt arguments."""
        required = [str(v) for v in self.variables.get("required", ())]
        optional = [str(v) for v in self.variables.get("optional", ()) if v not in required]
        return tuple(PromptArgument(n, True) for n in required) + tuple(
            PromptArgument(n, False) for n in optional
        )


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A rendered template: the two prompts plus what ``llm_metadata`` records about it."""

    name: str
    template_id: uuid.UUID | None
    version: int
    locale: str
    a_b_test_group: str | None
    system_prompt: str
    user_prompt: str
    model_config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name_v3``, the spec's ``prompt_template_id`` style for ``llm_metadata``."""
        return f"{self.name}_v{self.version}"


DEFAULT_TEMPLATE: Final = PromptTemplateView(
    id=None,
    name="judgment_default",
    purpose="Judge a production line's metrics as normal, warning or critical",
    version=1,
    template_type="judgment",
    model_config={},
    variables={"required": ["input_data"], "optional": ["rule_trace", "rule_result", "historical_data"]},
    a_b_test_group=None,
    locale="en-US",
    locales=("en-US",),
    system_prompt=(
        "You are a manufacturing quality engineer. You judge whether a production line's metrics for "
        "one shift are normal, warning or critical, and you explain why in a few sentences."
    ),
    user_prompt_template="""# Production line judgment

## Input
Line: {{input_data.line_code}}
Shift: {{input_data.shift}}
Date: {{input_data.date}}
Metrics: {{json input_data.metrics}}
Context: {{json input_data.context}}
{{#if historical_data}}

## Historical data
{{json historical_data}}
{{/if}}
{{#if rule_trace}}

## What the rules found
Rule result: {{json rule_result}}
Rule trace: {{json rule_trace}}
The rules were not confident enough (or none matched); give your own judgment, using theirs as evidence.
{{/if}}

## Task
1. Judge the state: normal, warning or critical.
2. Explain the likely cause.
3. Recommend actions.
4. Give your confidence from 0 to 1.
""",
)

# Appended to every system prompt, the tenant's too: the answer is parsed by ``verdicts.parse_answer``.
ANSWER_FORMAT: Final = (
    "\n\nAnswer with exactly one JSON object and nothing else, of the form "
    '{"result": "normal" | "warning" | "critical", "confidence": <number 0..1>, '
    '"explanation": "<text>", "recommended_actions": [<strings or objects>], "reasoning_trace": "<text>"}.'
)


def _json_helper(args: list[Any], options: HelperOptions) -> str:
    # Prompts show structured data as JSON; Handlebars alone would print "[object Object]".
    return json.dumps(args[0] if args else None, ensure_ascii=False, sort_keys=True, default=str)


class PromptRenderer:
    """Compiles templates once (bounded cache) and renders them."""

    def __init__(self, *, cache_size: int = 128) -> None:
        self._hb = Handlebars(escape_html=False)
        self._hb.register_helper("json", _json_helper)
        self._compiled: OrderedDict[str, Callable[..., str]] = OrderedDict()
        self._cache_size = cache_size

    def _compile(self, source: str, where: str) -> Callable[..., str]:
        render = self._compiled.get(source)
        if render is not None:
            self._compiled.move_to_end(source)
            return render
        try:
            render = self._hb.compile(source)
        except ValueError as exc:
            raise ConfigError(f"the prompt template does not compile: {exc}", where=where) from exc
        self._compiled[source] = render
        if len(self._compiled) > self._cache_size:
            self._compiled.popitem(last=False)
        return render

    def render(self, template: PromptTemplateView, variables: Mapping[str, Any]) -> RenderedPrompt:
        """Render both prompts of ``template`` with ``variables`` on top of the template's defaults."""
        where = f"prompt_templates.{template.name}.v{template.version}"
        values: dict[str, Any] = dict(template.variables.get("defaults") or {})
        values.update(variables)
        try:
            system = self._compile(template.system_prompt, where)(values)
            user = self._compile(template.user_prompt_template, where)(values)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ConfigError(f"the prompt template failed to render: {exc}", where=where) from exc
        if template.few_shot_examples:
            user = f"Examples:\n{json.dumps(template.few_shot_examples, ensure_ascii=False)}\n\n{user}"
        return RenderedPrompt(
            name=template.name,
            template_id=template.id,
            version=template.version,
            locale=template.locale,
            a_b_test_group=template.a_b_test_group,
            system_prompt=system,
            user_prompt=user,
            model_config=dict(template.model_config),
        )

    def render_arguments(self, template: PromptTemplateView, arguments: Mapping[str, Any]) -> RenderedPrompt:
        """Render for MCP ``prompts/get``: check required arguments; JSON-looking strings become values.

        MCP prompt arguments are strings, so ``input_data`` arrives as JSON text and is decoded here.
        """
        values: dict[str, Any] = {}
        for name, value in arguments.items():
            if isinstance(value, str) and value[:1] in ("{", "["):
                try:
                    values[name] = json.loads(value)
                except json.JSONDecodeError:
                    raise InputError("is not valid JSON", where=f"arguments.{name}") from None
            else:
                values[name] = value
        for arg in template.arguments():
            if arg.required and values.get(arg.name) in (None, ""):
                raise InputError("is required", where=f"arguments.{arg.name}")
        return self.render(template, values)


async def _active_rows(
    session: AsyncSession, tenant_id: uuid.UUID, *, name: str | None, template_type: str | None
) -> list[PromptTemplate]:
    stmt = sa.select(PromptTemplate).where(PromptTemplate.tenant_id == tenant_id, PromptTemplate.is_active)
    if name is not None:
        stmt = stmt.where(PromptTemplate.name == name)
    if template_type is not None:
        stmt = stmt.where(PromptTemplate.template_type == template_type)
    return list((await session.scalars(stmt)).all())


async def _bodies(
    session: AsyncSession, template_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PromptTemplateBody]]:
    out: dict[uuid.UUID, list[PromptTemplateBody]] = {}
    if not template_ids:
        return out
    rows = await session.scalars(
        sa.select(PromptTemplateBody).where(PromptTemplateBody.template_id.in_(template_ids))
    )
    for body in rows:
        out.setdefault(body.template_id, []).append(body)
    return out


def _pick_body(bodies: Sequence[PromptTemplateBody], locales: Sequence[str | None]) -> PromptTemplateBody:
    by_locale = {b.locale: b for b in bodies}
    for locale in locales:
        if locale is not None and locale in by_locale:
            return by_locale[locale]
    return sorted(bodies, key=lambda b: b.locale)[0]


async def list_prompts(session: AsyncSession, tenant_id: uuid.UUID) -> list[PromptInfo]:
    """The tenant's active templates (newest version per name), plus the built-in default if none judges."""
    rows = await _active_rows(session, tenant_id, name=None, template_type=None)
    bodies = await _bodies(session, [r.id for r in rows])
    newest: dict[str, PromptTemplate] = {}
    for row in rows:
        if row.id in bodies and (row.name not in newest or row.version > newest[row.name].version):
            newest[row.name] = row
    infos: list[PromptInfo] = []
    for name in sorted(newest):
        row = newest[name]
        view = _view(row, bodies[row.id][0], bodies[row.id])
        infos.append(
            PromptInfo(name, row.purpose, view.arguments(), row.version, row.template_type, view.locales)
        )
    if not any(i.template_type == "judgment" for i in infos):
        d = DEFAULT_TEMPLATE
        infos.append(
            PromptInfo(d.name, d.purpose, d.arguments(), d.version, d.template_type, d.locales, builtin=True)
        )
    return infos


def _view(
    row: PromptTemplate, body: PromptTemplateBody, all_bodies: Sequence[PromptTemplateBody]
) -> PromptTemplateView:
    few_shot = body.few_shot_examples if isinstance(body.few_shot_examples, list) else None
    return PromptTemplateView(
        id=row.id,
        name=row.name,
        purpose=row.purpose,
        version=row.version,
        template_type=row.template_type,
        model_config=row.model_config or {},
        variables=row.variables or {},
        a_b_test_group=row.a_b_test_group,
        locale=body.locale,
        system_prompt=body.system_prompt,
        user_prompt_template=body.user_prompt_template,
        few_shot_examples=few_shot,
        locales=tuple(sorted(b.locale for b in all_bodies)),
    )


async def load_template(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    name: str | None = None,
    template_type: str | None = "judgment",
    locales: Sequence[str | None] = (),
    ab_key: tuple[str, str] | None = None,
) -> PromptTemplateView:
    """The active template to use, by name or else the tenant's newest of ``template_type``.

    Several active rows of one name are an A/B test: ``ab_key`` (line code, shift) picks a group
    deterministically, so one line keeps seeing one variant; without a key the ``control`` group (or
    the group-less row) is used. Within a group the highest version wins. The built-in default
    stands in when nothing is active; naming a missing template is ``NotFound``.
    """
    rows = await _active_rows(
        session, tenant_id, name=name, template_type=template_type if name is None else None
    )
    bodies = await _bodies(session, [r.id for r in rows])
    rows = [r for r in rows if r.id in bodies]
    if not rows:
        if name is None or name == DEFAULT_TEMPLATE.name:
            return DEFAULT_TEMPLATE
        raise NotFound(f"no active prompt template named '{name}'", where="prompt_template")
    if name is None:
        newest_name = max(rows, key=lambda r: (r.created_at, r.version)).name
        rows = [r for r in rows if r.name == newest_name]
    groups = sorted({r.a_b_test_group or "" for r in rows})
    if len(groups) == 1:
        group = groups[0]
    elif ab_key is not None:
        bucket = bucket_of(rows[0].name, *ab_key)
        group = groups[min(int(bucket * len(groups)), len(groups) - 1)]
    else:
        group = "control" if "control" in groups else groups[0]
    row = max((r for r in rows if (r.a_b_test_group or "") == group), key=lambda r: r.version)
    body = _pick_body(bodies[row.id], [*locales, "en-US", "ko-KR"])
    return _view(row, body, bodies[row.id])
