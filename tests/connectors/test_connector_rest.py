"""The REST connector against a real HTTP server on a loopback port."""

from __future__ import annotations

import logging
import random
from typing import Any

import anyio
import pytest

from connectors import RestConfig, RestConnector, RestCredentials, build_connector, open_connector
from connectors.base import parse_config
from hub.errors import ConnectorError, ConnectorTimeout, InputError, QueryError
from tests.connectors.leaks import assert_secret_absent
from tests.connectors.services import ThreadedServer, build_api, free_port

pytestmark = pytest.mark.anyio


class RecordedSleep:
    """A sleep that returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def connector(
    base_url: str, sleep: RecordedSleep | None = None, token: str | None = None, **config: Any
) -> RestConnector:
    auth = {"auth": "bearer"} if token else {}
    return RestConnector(
        parse_config(RestConfig, {"base_url": base_url, **auth, **config}, what="rest config"),
        RestCredentials(token=token),
        sleep=sleep or RecordedSleep(),
        rng=random.Random(7),
    )


async def test_a_get_sends_query_parameters_and_parses_json(api: ThreadedServer) -> None:
    async with open_connector("rest_api", {"base_url": api.url + "/api"}, {}) as rest:
        assert isinstance(rest, RestConnector)
        response = await rest.request("GET", "/items", query={"line": "L1", "n": [1, 2], "flag": True})
    assert response.status == 200
    assert response.body_encoding == "json"
    assert response.body == {
        "items": [1, 2, 3],
        "query": [["flag", "true"], ["line", "L1"], ["n", "1"], ["n", "2"]],
    }


async def test_a_post_sends_a_json_body(api: ThreadedServer) -> None:
    async with open_connector("rest_api", {"base_url": api.url + "/api/"}, {}) as rest:
        assert isinstance(rest, RestConnector)
        response = await rest.request("post", "echo", json={"qty": 3, "tags": ["a"]})
    assert response.body == {"method": "POST", "body": {"qty": 3, "tags": ["a"]}, "path": "/api/echo"}


@pytest.mark.parametrize(
    ("path", "encoding", "body", "content_type"),
    [
        ("/text", "text", "plain words", "text/plain; charset=utf-8"),
        ("/html", "text", "<p>hi</p>", "text/html; charset=utf-8"),
        ("/lying-json", "text", "not json at all", "application/json"),
        ("/binary", "base64", None, "application/octet-stream"),
    ],
)
async def test_non_json_answers_come_back_as_text_or_base64_with_their_content_type(
    api: ThreadedServer, path: str, encoding: str, body: str | None, content_type: str
) -> None:
    async with open_connector("rest_api", {"base_url": api.url + "/api"}, {}) as rest:
        assert isinstance(rest, RestConnector)
        response = await rest.request("GET", path)
    assert (response.body_encoding, response.content_type) == (encoding, content_type)
    if body is not None:
        assert response.body == body


@pytest.mark.parametrize(
    "path",
    [
        "http://127.0.0.1:1/x",
        "https://evil.example/x",
        "//evil.example/x",
        "../health",
        "items/../../health",
        "%2e%2e/health",
        "%252e%252e/health",
        "..%2fhealth",
        "./items",
        "items\\..\\..\\health",
        "items?x=1",
        "items#frag",
        "items\r\nHost: evil",
        "mailto:x@example.com",
    ],
)
async def test_no_path_reaches_outside_the_base_url(api: ThreadedServer, path: str) -> None:
    rest = connector(api.url + "/api")
    try:
        with pytest.raises(InputError):
            await rest.request("GET", path)
    finally:
        await rest.aclose()


async def test_a_redirect_to_another_host_is_returned_not_followed(api: ThreadedServer) -> None:
    async with open_connector("rest_api", {"base_url": api.url + "/api"}, {}) as rest:
        assert isinstance(rest, RestConnector)
        response = await rest.request("GET", "/redirect")
    assert response.status == 302


async def test_busy_answers_are_retried_with_growing_jittered_backoff(api: ThreadedServer) -> None:
    sleep = RecordedSleep()
    rest = connector(api.url + "/api", sleep, backoff_base_seconds=0.5, max_retries=3)
    try:
        response = await rest.request("GET", "/flaky/backoff", query={"fail": 3, "status": 503})
    finally:
        await rest.aclose()
    assert (response.status, response.attempts, response.body) == (200, 4, {"ok": True, "calls": 4})
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays, start=1):
        step = 0.5 * 2 ** (attempt - 1)
        assert step / 2 <= delay <= step


async def test_retry_after_is_honoured(api: ThreadedServer) -> None:
    sleep = RecordedSleep()
    rest = connector(api.url + "/api", sleep)
    try:
        response = await rest.request(
            "GET", "/flaky/after", query={"fail": 1, "status": 429, "retry_after": 2}
        )
    finally:
        await rest.aclose()
    assert response.status == 200
    assert sleep.delays == [2.0]


async def test_a_retry_after_beyond_the_backoff_ceiling_is_not_waited_for(api: ThreadedServer) -> None:
    sleep = RecordedSleep()
    rest = connector(api.url + "/api", sleep, backoff_max_seconds=5)
    try:
        with pytest.raises(ConnectorError):
            await rest.request("GET", "/flaky/long", query={"fail": 1, "status": 503, "retry_after": 3600})
    finally:
        await rest.aclose()
    assert sleep.delays == []


async def test_retries_stop_after_the_limit_and_other_errors_are_not_retried(api: ThreadedServer) -> None:
    sleep = RecordedSleep()
    rest = connector(api.url + "/api", sleep, max_retries=2)
    try:
        with pytest.raises(ConnectorError) as busy:
            await rest.request("GET", "/flaky/limit", query={"fail": 10, "status": 502})
        assert len(sleep.delays) == 2
        with pytest.raises(ConnectorError):
            await rest.request("GET", "/flaky/server", query={"fail": 1, "status": 500})
        assert len(sleep.delays) == 2
        with pytest.raises(QueryError):
            await rest.request("GET", "/status/404")
    finally:
        await rest.aclose()
    assert "502" in busy.value.message


async def test_a_slow_answer_times_out(api: ThreadedServer) -> None:
    rest = connector(api.url + "/api", timeout_seconds=0.3)
    try:
        with anyio.fail_after(3), pytest.raises(ConnectorTimeout):
            await rest.request("GET", "/slow", query={"seconds": 5})
    finally:
        await rest.aclose()


async def test_an_oversized_answer_is_refused(api: ThreadedServer) -> None:
    rest = connector(api.url + "/api", max_response_bytes=100_000)
    try:
        with pytest.raises(ConnectorError):
            await rest.request("GET", "/big", query={"size": 2_000_000})
        small = await rest.request("GET", "/big", query={"size": 1000})
    finally:
        await rest.aclose()
    assert small.body == "x" * 1000


async def test_a_bearer_token_authenticates_and_never_shows(
    api: ThreadedServer, api_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = connector(api.url + "/api", token=api_token, health_path="/secure")
    bad_token = api_token[::-1]
    bad = connector(api.url + "/api", token=bad_token, health_path="/secure")
    try:
        ok = await good.request("GET", "/secure")
        ok_health = await good.health_check(timeout=5)
        with pytest.raises(QueryError) as denied:
            await bad.request("GET", "/secure")
        bad_health = await bad.health_check(timeout=5)
        with pytest.raises(InputError) as escaped:
            await good.request("GET", "https://evil.example/steal")
    finally:
        await good.aclose()
        await bad.aclose()
    assert ok.body == {"secure": True}
    assert ok_health.ok
    assert not bad_health.ok
    for secret in (api_token, bad_token):
        assert_secret_absent(secret, good, bad, ok, ok_health, denied.value, bad_health, escaped.value)
        assert secret not in caplog.text


async def test_an_unreachable_service_is_retried_then_a_connector_error(api: ThreadedServer) -> None:
    sleep = RecordedSleep()
    rest = connector(f"http://127.0.0.1:{free_port()}/api", sleep, max_retries=2)
    try:
        with pytest.raises(ConnectorError):
            await rest.request("POST", "/echo", json={})
        health = await rest.health_check(timeout=2)
    finally:
        await rest.aclose()
    assert len(sleep.delays) == 2
    assert not health.ok


async def test_health_follows_a_service_that_stops_and_starts_again() -> None:
    server = ThreadedServer(build_api())
    server.start()
    rest = build_connector("rest_api", {"base_url": server.url, "health_path": "/health"}, {})
    try:
        assert (await rest.health_check(timeout=2)).ok
        await anyio.to_thread.run_sync(server.stop)
        down = await rest.health_check(timeout=2)
        assert not down.ok
        await anyio.to_thread.run_sync(server.start)
        # start() returns once the server listens, so the very next check must see it.
        assert (await rest.health_check(timeout=2)).ok
    finally:
        await rest.aclose()
        server.stop()
