"""The standard library of native functions, registered by area on import."""

from __future__ import annotations

from . import arrays, blobs, maps, misc, numbers, strings
from .registry import NATIVES

__all__ = ["NATIVES", "arrays", "blobs", "maps", "misc", "numbers", "strings"]
