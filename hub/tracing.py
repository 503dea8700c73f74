"""Trace ids: taken from a caller's W3C ``traceparent`` when present, else made up."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["trace_id_from_meta"]

# version-traceid-parentid-flags; an all-zero trace id is invalid by the W3C spec.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id_from_meta(meta: Mapping[str, Any] | None) -> str:
    """The trace id of a request: from ``_meta.traceparent`` when valid, else a new random one."""
    if meta:
        parent = meta.get("traceparent")
        if isinstance(parent, str):
            m = _TRACEPARENT.match(parent.strip().lower())
            if m and m.group(1) != "0" * 32:
                return m.group(1)
    # A trace id only has to be unique, not unguessable: the PRNG costs no system call, unlike uuid4.
    # (The module's generator is reseeded after a fork, so forked processes do not repeat ids.)
    return f"{random.getrandbits(128) or 1:032x}"
