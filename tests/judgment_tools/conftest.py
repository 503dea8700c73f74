"""Fixtures of the judgment-tool tests: the loopback OpenAI-compatible server of the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.judgment.llm_server import LLMServer


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    """An OpenAI-compatible HTTP server on a loopback port."""
    server = LLMServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
