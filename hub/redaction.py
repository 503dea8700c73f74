"""Keeping secrets and bulk out of the call log: key-based redaction and size caps."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["REDACTED", "cap_json", "redact"]

REDACTED = "***"


def redact(value: Any, keys: Iterable[str]) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced, at any depth."""
    needles = tuple(k.lower() for k in keys)
    return _redact(value, needles)


def _redact(value: Any, needles: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            out[key] = REDACTED if _is_secret(key, needles) else _redact(v, needles)
        return out
    if isinstance(value, list):
        return [_redact(v, needles) for v in value]
    return value


@functools.lru_cache(maxsize=4096)
def _is_secret(key: str, needles: tuple[str, ...]) -> bool:
    # Every call's arguments are redacted and the same few keys recur: each is judged once.
    lowered = key.lower()
    return any(n in lowered for n in needles)


def cap_json(value: Any, max_bytes: int) -> Any:
    """``value`` itself when its JSON is small enough, else a marker with its size and head."""
    try:
        encoded = orjson.dumps(value, default=str)
    except TypeError:
        encoded = orjson.dumps(str(value))
    if len(encoded) <= max_bytes:
        return orjson.loads(encoded)
    head = encoded[: max(0, max_bytes - 256)].decode("utf-8", errors="ignore")
    return {"truncated": True, "bytes": len(encoded), "head": head}
