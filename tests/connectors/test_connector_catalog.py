"""Connector types are chosen by name and their configs are checked with precise paths."""

from __future__ import annotations

import pytest

import connectors
from connectors import build_connector
from hub.errors import ConfigError, InputError
from tests.connectors.leaks import assert_secret_absent


def test_the_public_surface_is_sorted_and_complete() -> None:
    assert connectors.__all__ == sorted(connectors.__all__)
    for name in connectors.__all__:
        assert hasattr(connectors, name), name


def test_an_unknown_connector_type_is_an_input_error_naming_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        build_connector("oracle", {}, {})
    assert "postgres" in info.value.message
    assert info.value.where == "type"


def test_each_bad_config_key_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as info:
        build_connector(
            "postgres",
            {"host": "db", "port": 99999, "connection_pool": {"max_connections": 0, "typo": 1}},
            {"user": "u"},
        )
    paths = sorted(p.split(":")[0] for p in info.value.problems)
    assert paths == ["connection_pool.max_connections", "connection_pool.typo", "database", "port"]


@pytest.mark.parametrize("host", ["bad host", "db;drop", "-lead.example", "a..b", ""])
def test_a_malformed_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_connector("mysql", {"host": host, "database": "x"}, {"user": "u"})
    assert any(p.startswith("host") for p in info.value.problems)


def test_pool_bounds_must_be_ordered() -> None:
    with pytest.raises(ConfigError):
        build_connector(
            "postgres",
            {"host": "db", "database": "x", "connection_pool": {"min_connections": 5, "max_connections": 2}},
            {"user": "u"},
        )


def test_a_config_error_never_echoes_the_values_it_rejects() -> None:
    secret = "hunter2-in-the-wrong-field"
    with pytest.raises(ConfigError) as info:
        build_connector("postgres", {"host": "db", "database": "x", "password": secret}, {"user": "u"})
    assert_secret_absent(secret, info.value)


def test_credentials_never_show_in_a_connector_or_config_repr() -> None:
    secret = "pw-7f0d-never-printed"
    pg = build_connector("postgres", {"host": "db", "database": "x"}, {"user": "u", "password": secret})
    rest = build_connector(
        "rest_api", {"base_url": "https://api.example.com/v1", "auth": "bearer"}, {"token": secret}
    )
    kafka = build_connector(
        "kafka",
        {"bootstrap_servers": ["k:9092"], "sasl_mechanism": "PLAIN"},
        {"username": "u", "password": secret},
    )
    for connector in (pg, rest, kafka):
        assert_secret_absent(secret, connector, vars(connector).get("config"), connector.config)
    for credentials in (pg._credentials, rest._credentials, kafka._credentials):
        assert secret not in f"{credentials!r} {credentials!s}"


@pytest.mark.parametrize(
    "base_url",
    ["ftp://host/x", "https://user:pw@host/x", "https://host/x?y=1", "not a url", "https:///nohost"],
)
def test_a_rest_base_url_must_be_plain_http(base_url: str) -> None:
    with pytest.raises(ConfigError):
        build_connector("rest_api", {"base_url": base_url}, {})


def test_rest_auth_without_its_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        build_connector("rest_api", {"base_url": "https://h/x", "auth": "basic"}, {"username": "u"})


@pytest.mark.parametrize("server", ["k", "k:0", "k:x", "bad host:9092"])
def test_kafka_bootstrap_servers_must_be_host_and_port(server: str) -> None:
    with pytest.raises(ConfigError):
        build_connector("kafka", {"bootstrap_servers": [server]}, {})
