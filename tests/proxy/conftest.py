"""Real upstream servers for the proxy tests: ``tests/servers/echo_server.py`` on each of four transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.proxy.support import TRANSPORTS, EchoServer


@pytest.fixture
def anyio_backend() -> str:
    """The hub runs on asyncio."""
    return "asyncio"


@pytest.fixture(params=TRANSPORTS)
def echo_server(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    """The echo server on each upstream transport in turn."""
    server = EchoServer(request.param, many=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=TRANSPORTS)
def paged_server(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    """The echo server with 250 extra tools, listed 100 per page."""
    server = EchoServer(request.param, many=250)
    server.start()
    yield server
    server.stop()
