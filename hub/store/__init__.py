"""The hub's own database: the core schema as models, the engine and session factory, migrations."""

from __future__ import annotations

from hub.store.db import check_connection, create_engine, create_sessionmaker, map_connect_errors, mask_url
from hub.store.models import Base

__all__ = [
    "Base",
    "check_connection",
    "create_engine",
    "create_sessionmaker",
    "map_connect_errors",
    "mask_url",
]
