"""Search everything a caller could see for a secret."""

from __future__ import annotations

import dataclasses
import traceback


def rendered(*things: object) -> str:
    """str and repr of each thing; for exceptions also their formatted chain and attributes."""
    parts: list[str] = []
    for thing in things:
        parts += [str(thing), repr(thing)]
        if isinstance(thing, BaseException):
            parts.append("".join(traceback.format_exception(thing)))
            parts += [repr(v) for v in vars(thing).values()]
        elif dataclasses.is_dataclass(thing) and not isinstance(thing, type):
            parts += [repr(v) for v in dataclasses.asdict(thing).values()]
    return "\n".join(parts)


def assert_secret_absent(secret: str, *things: object) -> None:
    """Fail when ``secret`` appears in anything a caller or a log line could show."""
    text = rendered(*things)
    assert secret not in text, f"secret found in: {text[:500]}"
