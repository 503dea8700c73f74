"""Data connectors: PostgreSQL, MySQL, REST and Kafka behind one small protocol.

This package knows nothing of the hub's database or of MCP: it takes a config dict and a
credentials dict and gives back a connector. ``hub/connectors_service.py`` stores and caches
them; ``hub/tools/connectors.py`` exposes them as MCP tools.
"""

from __future__ import annotations

from .base import Connector, Health, check_health
from .catalog import AnyConnector, ConnectorType, build_connector, open_connector
from .kafka import KafkaConfig, KafkaConnector, KafkaCredentials, KafkaMessage, PublishResult, TopicInfo
from .mysql import MySQLConnector
from .postgres import PostgresConnector
from .rest import RestConfig, RestConnector, RestCredentials, RestResponse
from .sql import JsonValue, PoolConfig, QueryResult, SqlConfig, SqlCredentials

__all__ = [
    "AnyConnector",
    "Connector",
    "ConnectorType",
    "Health",
    "JsonValue",
    "KafkaConfig",
    "KafkaConnector",
    "KafkaCredentials",
    "KafkaMessage",
    "MySQLConnector",
    "PoolConfig",
    "PostgresConnector",
    "PublishResult",
    "QueryResult",
    "RestConfig",
    "RestConnector",
    "RestCredentials",
    "RestResponse",
    "SqlConfig",
    "SqlCredentials",
    "TopicInfo",
    "build_connector",
    "check_health",
    "open_connector",
]
