"""An MCP integration hub: one endpoint for judgments, rules, connectors and upstream MCP servers."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
