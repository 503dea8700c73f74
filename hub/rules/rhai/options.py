"""Engine options, named as Rhai's ``Engine::set_*`` settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["Options"]


@dataclass(slots=True)
class Options:
    """Limits and language switches of one engine; 0 means unlimited, as in Rhai."""

    max_operations: int = 0
    max_call_levels: int = 64
    max_expr_depth: int = 64
    max_function_expr_depth: int = 32
    max_string_size: int = 0
    max_array_size: int = 0
    max_map_size: int = 0
    max_variables: int = 0
    max_functions: int = 0
    max_seconds: float = 0.0
    check_every: int = 1000
    strict_variables: bool = False
    fail_on_invalid_map_property: bool = False
    allow_if_expression: bool = True
    allow_switch_expression: bool = True
    allow_loop_expressions: bool = True
    allow_statement_expression: bool = True
    allow_anonymous_fn: bool = True
    allow_looping: bool = True
    allow_shadowing: bool = True
    allow_eval: bool = True
    optimization_level: str = "Simple"
    fast_operators: bool = True
    raw: bool = False

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Options:
        """Build options from Rhai-named keyword arguments, rejecting unknown names."""
        opts = cls()
        known = {f.name for f in fields(cls)}
        for key, value in kwargs.items():
            if key == "max_expr_depths":
                depths = list(value)
                opts.max_expr_depth = int(depths[0])
                opts.max_function_expr_depth = int(depths[1])
            elif key in known:
                setattr(opts, key, value)
            else:
                raise TypeError(f"Engine() got an unknown option {key!r}")
        return opts
