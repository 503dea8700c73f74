"""Shared helpers for the Rhai interpreter tests."""

from __future__ import annotations

from typing import Any

import pytest

from hub.rules.rhai import Engine, RhaiError


@pytest.fixture
def engine() -> Engine:
    """A default engine (release-build limits, no sandbox)."""
    return Engine()


def error_of(script: str, **options: Any) -> RhaiError:
    """Evaluate a script that must fail and return its error."""
    with pytest.raises(RhaiError) as info:
        Engine(**options).eval(script)
    return info.value
