"""A sandboxed interpreter for Rhai 1.26 scripts, written in pure Python.

``Engine(**options)`` compiles and runs scripts; values map to Python as int, float, bool, str,
``Char`` (char), list (array), dict (object map), bytearray (blob) and None (unit).
"""

from __future__ import annotations

from .engine import AST, Engine, Scope, sandboxed_engine
from .errors import RhaiError
from .values import Char, FnPtr, Range, Timestamp, type_of

__all__ = [
    "AST",
    "Char",
    "Engine",
    "FnPtr",
    "Range",
    "RhaiError",
    "Scope",
    "Timestamp",
    "sandboxed_engine",
    "type_of",
]
