"""The hub's own database: the core schema as models, the engine and session factory, migrations."""

from __future__ import annotations

from hub.store.models import Base

__all__ = ["Base"]
