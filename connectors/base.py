"""The connector seam: one small protocol, the health value, config validation and the scrubber.

Configs are frozen dataclasses validated by pydantic at the edge (``parse_config``), so a bad
config dict is reported with the JSON path of each problem and no input value is ever echoed
(a value might be a password typed into the wrong field).
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import anyio
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from hub.errors import ConfigError

__all__ = [
    "Connector",
    "Health",
    "Host",
    "Port",
    "PositiveSeconds",
    "check_health",
    "check_host",
    "one_line",
    "parse_config",
    "scrub",
]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def check_host(value: str) -> str:
    """``value`` when it is a host name or an IP address; ValueError otherwise."""
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        if not _HOSTNAME.match(value):
            raise ValueError("not a host name or IP address") from None
    return value


Host = Annotated[str, AfterValidator(check_host)]
Port = Annotated[int, Field(ge=1, le=65535)]
PositiveSeconds = Annotated[float, Field(gt=0, le=3600)]


@dataclass(frozen=True, slots=True)
class Health:
    """The outcome of one health check: ``detail`` is one line, the error's when not ``ok``."""

    ok: bool
    latency_ms: float
    detail: str


class Connector(Protocol):
    """What every data connector does; each type adds its own typed operations."""

    async def open(self) -> None:
        """Connect (create the pool or client); raises ConnectorError when the service is down."""
        ...

    async def health_check(self, timeout: float) -> Health:  # noqa: ASYNC109 - the timeout is reported in Health
        """Probe the service within ``timeout`` seconds; never raises for a service failure."""
        ...

    async def aclose(self) -> None:
        """Release every connection; the connector cannot be used afterwards."""
        ...


async def check_health(
    connectors: Sequence[Connector],
    *,
    timeout: float,  # noqa: ASYNC109 - each check reports its own timeout in Health
    concurrency: int,
) -> list[Health]:
    """Health of each connector, checked concurrently (at most ``concurrency`` at once).

    Each check is bounded by ``timeout`` on its own, so silent hosts cost one timeout in total,
    not one each, as long as there are fewer of them than ``concurrency``.
    """
    results: list[Health | None] = [None] * len(connectors)
    limiter = anyio.Semaphore(max(1, concurrency))

    async def check(index: int, connector: Connector) -> None:
        async with limiter:
            started = time.perf_counter()
            with anyio.move_on_after(timeout + 1) as scope:
                results[index] = await connector.health_check(timeout)
            if scope.cancelled_caught:  # a connector that ignores its own timeout
                elapsed = (time.perf_counter() - started) * 1000
                results[index] = Health(False, elapsed, f"no answer within {timeout:g} s")

    async with anyio.create_task_group() as tg:
        for index, connector in enumerate(connectors):
            tg.start_soon(check, index, connector)
    return [r for r in results if r is not None]


T = TypeVar("T")


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type[T]) -> TypeAdapter[T]:
    # Building an adapter compiles a validator; configs are parsed on every registration.
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def parse_config(kind: type[T], data: object, *, what: str, where: str | None = None) -> T:
    """Validate ``data`` into the frozen config ``kind``; ConfigError lists each problem's path."""
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigError(f"invalid {what}: " + "; ".join(problems), problems=problems, where=where) from None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``; drivers sometimes echo what they were given."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def one_line(text: str, limit: int = 300) -> str:
    """The first line of an error message, shortened, for ``last_health_status`` and logs."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
