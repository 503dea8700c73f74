"""Connector types by name (``data_connectors.type``): config validation and construction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Literal, TypeAlias, get_args

from hub.errors import InputError

from .base import parse_config
from .kafka import KafkaConfig, KafkaConnector, KafkaCredentials
from .mysql import MySQLConnector
from .postgres import PostgresConnector
from .rest import RestConfig, RestConnector, RestCredentials
from .sql import SqlConfig, SqlCredentials

__all__ = ["CONNECTOR_TYPES", "AnyConnector", "ConnectorType", "build_connector", "open_connector"]

ConnectorType = Literal["postgres", "mysql", "rest_api", "kafka"]
CONNECTOR_TYPES: tuple[str, ...] = get_args(ConnectorType)
AnyConnector: TypeAlias = PostgresConnector | MySQLConnector | RestConnector | KafkaConnector


def build_connector(
    type_name: str, config: Mapping[str, object], credentials: Mapping[str, object] | None = None
) -> AnyConnector:
    """An unopened connector of ``type_name``; ConfigError pinpoints every bad config key."""
    creds = dict(credentials or {})
    if type_name in ("postgres", "mysql"):
        sql_config = parse_config(SqlConfig, config, what=f"{type_name} config", where="config")
        sql_creds = parse_config(SqlCredentials, creds, what=f"{type_name} credentials", where="credentials")
        if type_name == "postgres":
            return PostgresConnector(sql_config, sql_creds)
        return MySQLConnector(sql_config, sql_creds)
    if type_name == "rest_api":
        return RestConnector(
            parse_config(RestConfig, config, what="rest_api config", where="config"),
            parse_config(RestCredentials, creds, what="rest_api credentials", where="credentials"),
        )
    if type_name == "kafka":
        return KafkaConnector(
            parse_config(KafkaConfig, config, what="kafka config", where="config"),
            parse_config(KafkaCredentials, creds, what="kafka credentials", where="credentials"),
        )
    raise InputError(
        f"unknown connector type {type_name!r}; known: {', '.join(CONNECTOR_TYPES)}", where="type"
    )


@asynccontextmanager
async def open_connector(
    type_name: str, config: Mapping[str, object], credentials: Mapping[str, object] | None = None
) -> AsyncIterator[AnyConnector]:
    """An opened connector of ``type_name``, closed on exit."""
    connector = build_connector(type_name, config, credentials)
    try:
        await connector.open()
        yield connector
    finally:
        await connector.aclose()
