"""Canary routing: which deployed version of a rule set judges a given input.

Pure functions over plain values so rule management (deploy, rollback) can reuse them without a
database. The choice hashes the rule set id, line code and shift, never randomness: the same line
and shift always land on the same version, so operators can compare a canary line against the rest
and a cached answer never flips between versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DeploymentView", "Route", "bucket_of", "choose_version"]


@dataclass(frozen=True, slots=True)
class DeploymentView:
    """The fields of a ``rule_deployments`` row that routing reads."""

    version: int
    status: str
    canary_pct: float | None = None
    canary_target_filter: Mapping[str, Any] | None = None
    order: float = 0.0
    """Larger is newer (e.g. the deployment time as a timestamp); breaks ties between rows of one status."""


@dataclass(frozen=True, slots=True)
class Route:
    """The chosen version and whether it is the canary."""

    version: int
    canary: bool
    bucket: float


def bucket_of(ruleset_key: str, line_code: str, shift: str) -> float:
    """A stable number in [0, 1) for a rule set, line and shift."""
    digest = hashlib.sha256(f"{ruleset_key}\x1f{line_code}\x1f{shift}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _as_set(value: object) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list | tuple | set | frozenset):
        return {str(v) for v in value}
    return {str(value)}


def _filter_admits(
    flt: Mapping[str, Any],
    *,
    line_code: str,
    shift: str,
    context: Mapping[str, Any],
    user_groups: Collection[str],
) -> bool:
    """Every key present in the filter must admit the input; absent keys admit everything."""
    lines = _as_set(flt.get("line_codes"))
    if lines is not None and line_code not in lines:
        return False
    shifts = _as_set(flt.get("shift", flt.get("shifts")))
    if shifts is not None and shift not in shifts:
        return False
    categories = _as_set(flt.get("product_categories"))
    if categories is not None:
        category = context.get("product_category")
        if category is None or str(category) not in categories:
            return False
    groups = _as_set(flt.get("user_groups"))
    return groups is None or bool(groups & set(user_groups))


def choose_version(
    deployments: Sequence[DeploymentView],
    *,
    ruleset_key: str,
    line_code: str,
    shift: str,
    context: Mapping[str, Any] | None = None,
    user_groups: Collection[str] = (),
    fallback_version: int | None = None,
) -> Route | None:
    """Choose the version that judges this input, or ``None`` when nothing is deployed.

    The newest ``active`` deployment is the base. The newest ``canary`` deployment takes the inputs
    its ``canary_target_filter`` admits and whose bucket falls under ``canary_pct``. A canary with a
    filter but no percentage takes every admitted input; one with neither takes nothing, because an
    unfinished deployment must not silently become the whole traffic. ``fallback_version`` (e.g. the
    newest script) stands in for a missing active deployment.
    """
    active = max((d for d in deployments if d.status == "active"), key=lambda d: d.order, default=None)
    canary = max((d for d in deployments if d.status == "canary"), key=lambda d: d.order, default=None)
    base = active.version if active is not None else fallback_version
    bucket = bucket_of(ruleset_key, line_code, shift)
    if canary is not None:
        flt = canary.canary_target_filter or {}
        pct = canary.canary_pct if canary.canary_pct is not None else (1.0 if flt else 0.0)
        admitted = _filter_admits(
            flt, line_code=line_code, shift=shift, context=context or {}, user_groups=user_groups
        )
        if admitted and bucket < pct:
            return Route(canary.version, True, bucket)
    if base is None:
        return None
    return Route(base, False, bucket)
