"""REST connector on an httpx client bound to one base URL.

Every request stays under the base URL: a path that is absolute, protocol-relative, carries
``..``/``.`` segments (also percent-encoded), backslashes or control characters is refused, the
joined URL is checked again after httpx normalises it, and redirects are not followed (a redirect
is returned as the response). Answers 429/502/503 and connection failures are retried with
exponential backoff and jitter, honouring ``Retry-After`` up to ``backoff_max_seconds``.
"""

from __future__ import annotations

import base64
import email.utils
import json as jsonlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

import anyio
import httpx
from pydantic import AfterValidator, ConfigDict, Field, with_config

from hub.errors import ConfigError, ConnectorError, ConnectorTimeout, HubError, InputError, QueryError

from .base import Health, PositiveSeconds, one_line, scrub
from .sql import JsonValue

__all__ = ["RestConfig", "RestConnector", "RestCredentials", "RestResponse", "open"]

RETRY_STATUSES = frozenset({429, 502, 503})
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
QueryValue = str | int | float | bool | None
Sleep = Callable[[float], Awaitable[None]]


def _check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; put them in the connector's credentials")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value.rstrip("/")


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class RestConfig:
    """The ``config`` of a rest_api connector."""

    base_url: Annotated[str, AfterValidator(_check_base_url)]
    auth: Literal["none", "bearer", "basic", "header"] = "none"
    auth_header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = "X-API-Key"
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: PositiveSeconds = 30.0
    connect_timeout_seconds: PositiveSeconds = 10.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff_base_seconds: Annotated[float, Field(ge=0, le=60)] = 0.2
    backoff_max_seconds: Annotated[float, Field(ge=0, le=300)] = 10.0
    verify_tls: bool = True
    health_path: str = ""
    max_response_bytes: Annotated[int, Field(ge=1, le=100 * 1024 * 1024)] = 10 * 1024 * 1024


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class RestCredentials:
    """``token`` for bearer and header auth, ``username``/``password`` for basic auth."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RestResponse:
    """One answer: JsonValue parsed when the content type says JSON, else text (or base64 for binary)."""

    status: int
    content_type: str
    body: JsonValue
    body_encoding: Literal["json", "text", "base64"]
    elapsed_ms: float
    attempts: int


class RestConnector:
    """An HTTP API under one base URL."""

    kind = "rest_api"

    def __init__(
        self,
        config: RestConfig,
        credentials: RestCredentials | None = None,
        *,
        sleep: Sleep = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._credentials = credentials or RestCredentials()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._base = httpx.URL(config.base_url + "/")
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        self._secrets = [s for s in (self._credentials.token, self._credentials.password) if s]
        headers = dict(config.headers)
        cred = self._credentials
        auth: httpx.BasicAuth | None = None
        if config.auth in ("bearer", "header"):
            if not cred.token:
                raise ConfigError(f"auth {config.auth!r} needs a token", where="credentials")
            if config.auth == "bearer":
                headers["Authorization"] = f"Bearer {cred.token}"
            else:
                headers[config.auth_header] = cred.token
        elif config.auth == "basic":
            if not cred.username or cred.password is None:
                raise ConfigError("auth 'basic' needs username and password", where="credentials")
            auth = httpx.BasicAuth(cred.username, cred.password)
            raw = f"{cred.username}:{cred.password}".encode()
            self._secrets.append(base64.b64encode(raw).decode("ascii"))
        self._headers = headers
        self._auth = auth

    def __repr__(self) -> str:
        return f"RestConnector({self.config.base_url})"

    def _error(self, exc: BaseException | str) -> str:
        return one_line(scrub(str(exc) or type(exc).__name__, self._secrets))

    async def open(self) -> None:
        """Create the HTTP client; no request is sent (``health_check`` probes the service)."""
        self._ensure_client()

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._closed:
            raise ConnectorError("connector is closed", where=repr(self))
        if self._client is None:
            cfg = self.config
            self._client = httpx.AsyncClient(
                headers=self._headers,
                auth=self._auth,
                timeout=httpx.Timeout(cfg.timeout_seconds, connect=cfg.connect_timeout_seconds),
                verify=cfg.verify_tls,
                follow_redirects=False,
                trust_env=False,  # proxies from the environment would see every request
            )
        return self._client

    def url_for(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` under the base URL; InputError for anything that escapes it."""
        if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
            raise InputError("path contains a backslash or a control character", where="path")
        parts = urlsplit(path)
        if parts.scheme or parts.netloc or path.startswith("//"):
            raise InputError("path must be relative to the connector's base URL", where="path")
        if parts.query or parts.fragment or "?" in path or "#" in path:
            raise InputError("path must not carry a query or fragment; pass query separately", where="path")
        decoded = unquote(unquote(parts.path))
        if any(segment in (".", "..") for segment in decoded.replace("\\", "/").split("/")):
            raise InputError("path must not contain '.' or '..' segments", where="path")
        url = self._base.join(path.lstrip("/")) if path.strip("/") else httpx.URL(self.config.base_url)
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port) or not (
            url.path + "/"
        ).startswith(base.path):
            raise InputError("path leaves the connector's base URL", where="path")
        return url

    async def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, QueryValue | list[QueryValue]] | None = None,
        json: JsonValue = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> RestResponse:
        """Send one request under the base URL, with retries; 4xx → QueryError, 5xx → ConnectorError."""
        verb = method.upper()
        if verb not in METHODS:
            raise InputError(f"unsupported method {method!r}", where="method")
        url = self.url_for(path)
        client = self._ensure_client()
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                status, content_type, body, retry_after = await self._send(
                    client, verb, url, query, json, headers
                )
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and attempt <= self.config.max_retries:
                    await self._sleep(self._jittered(attempt))
                    continue
                raise ConnectorTimeout(f"{verb} {url.path}: {self._error(exc)}", where=repr(self)) from None
            except httpx.ConnectError as exc:
                # Nothing reached the server, so retrying is safe for every method.
                if attempt <= self.config.max_retries:
                    await self._sleep(self._jittered(attempt))
                    continue
                raise ConnectorError(f"{verb} {url.path}: {self._error(exc)}", where=repr(self)) from None
            except httpx.HTTPError as exc:
                raise ConnectorError(f"{verb} {url.path}: {self._error(exc)}", where=repr(self)) from None
            if status in RETRY_STATUSES and attempt <= self.config.max_retries:
                delay = self._backoff(attempt, retry_after)
                if delay is not None:
                    await self._sleep(delay)
                    continue
            break
        elapsed = (time.perf_counter() - started) * 1000
        response = _decode(status, content_type, body, elapsed, attempt)
        if status >= 400:
            snippet = self._error(body[:200].decode("utf-8", "replace"))
            kind = QueryError if status < 500 and status != 429 else ConnectorError
            raise kind(f"{verb} {url.path}: HTTP {status}: {snippet}", where=repr(self))
        return response

    async def _send(
        self,
        client: httpx.AsyncClient,
        verb: str,
        url: httpx.URL,
        query: Mapping[str, QueryValue | list[QueryValue]] | None,
        json_body: JsonValue,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, str, bytes, str | None]:
        cap = self.config.max_response_bytes
        content = None if json_body is None else jsonlib.dumps(json_body).encode("utf-8")
        extra = dict(headers or {})
        if content is not None:
            extra.setdefault("Content-Type", "application/json")
        async with client.stream(
            verb, url, params=_params(query), content=content, headers=extra
        ) as response:
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise ConnectorError(f"response larger than {cap} bytes", where=repr(self))
                chunks.append(chunk)
            return (
                response.status_code,
                response.headers.get("content-type", ""),
                b"".join(chunks),
                response.headers.get("retry-after"),
            )

    def _backoff(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; None when the server asks for too long."""
        cfg = self.config
        wanted = None if retry_after is None else _parse_retry_after(retry_after)
        if wanted is not None:
            return wanted if wanted <= cfg.backoff_max_seconds else None
        return self._jittered(attempt)

    def _jittered(self, attempt: int) -> float:
        cfg = self.config
        ceiling = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * 2.0 ** (attempt - 1))
        # "Equal jitter": at least half the exponential step, so retries of many callers spread out.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def health_check(self, timeout: float) -> Health:  # noqa: ASYNC109 - the timeout is reported in Health
        """One GET of ``health_path``; healthy when answered below 500 and not 401/403."""
        started = time.perf_counter()
        try:
            client = self._ensure_client()
            url = self.url_for(self.config.health_path)
            with anyio.fail_after(timeout):
                response = await client.get(url)
        except TimeoutError:
            return Health(False, (time.perf_counter() - started) * 1000, f"no answer within {timeout:g} s")
        except HubError as exc:
            return Health(False, (time.perf_counter() - started) * 1000, one_line(exc.message))
        except httpx.HTTPError as exc:
            return Health(
                False, (time.perf_counter() - started) * 1000, self._error(exc) or type(exc).__name__
            )
        latency = (time.perf_counter() - started) * 1000
        ok = response.status_code < 500 and response.status_code not in (401, 403)
        return Health(ok, latency, f"HTTP {response.status_code} in {latency:.1f} ms")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _params(
    query: Mapping[str, QueryValue | list[QueryValue]] | None,
) -> list[tuple[str, QueryValue]]:
    out: list[tuple[str, QueryValue]] = []
    for key, value in (query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            out.append((key, text))
    return out


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _decode(status: int, content_type: str, body: bytes, elapsed: float, attempts: int) -> RestResponse:
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    is_json = mime == "application/json" or mime.endswith("+json")
    if is_json:
        try:
            return RestResponse(
                status, content_type, jsonlib.loads(body or b"null"), "json", elapsed, attempts
            )
        except ValueError:
            pass  # a server that lies about JSON still gets its text returned
    textual = (
        mime.startswith("text/") or mime.endswith(("+xml", "/xml", "/javascript")) or is_json or not mime
    )
    if textual:
        charset = "utf-8"
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                charset = value.strip().strip('"') or charset
        try:
            return RestResponse(status, content_type, body.decode(charset), "text", elapsed, attempts)
        except (UnicodeDecodeError, LookupError):
            pass
    return RestResponse(
        status, content_type, base64.b64encode(body).decode("ascii"), "base64", elapsed, attempts
    )


@asynccontextmanager
async def open(
    config: RestConfig, credentials: RestCredentials | None = None
) -> AsyncIterator[RestConnector]:
    """An opened REST connector, closed on exit."""
    connector = RestConnector(config, credentials)
    try:
        await connector.open()
        yield connector
    finally:
        await connector.aclose()
