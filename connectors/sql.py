"""What the SQL connectors share: config, named parameters, JSON-safe values and the result.

Named parameters (``:line_code``) are rewritten to the driver's placeholders (``$1`` for
PostgreSQL, ``?`` for MySQL's server-side prepared statements) by a small lexer that skips
string literals, quoted identifiers, comments, dollar-quoted bodies and ``::`` casts. Values are
always sent to the server as bound parameters; nothing a caller passes is spliced into SQL.

Result values are made JSON-safe as follows: ``Decimal`` → string (exact; a float would round),
``date``/``datetime``/``time`` → ISO 8601 string, ``timedelta`` → seconds (float), ``UUID`` and IP
addresses → string, ``bytes`` → base64 (standard alphabet, padded), non-finite floats → the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``; lists, tuples and dicts are converted recursively.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import ipaddress
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal, TypeAlias

from pydantic import ConfigDict, Field, with_config

from hub.errors import InputError

from .base import Host, Port, PositiveSeconds

__all__ = [
    "JsonValue",
    "NamedQuery",
    "PoolConfig",
    "QueryResult",
    "SqlConfig",
    "SqlCredentials",
    "compile_named",
    "to_json",
]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
Dialect = Literal["postgres", "mysql"]


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Connection pool bounds (spec 9.1 ``connection_pool``)."""

    min_connections: Annotated[int, Field(ge=0, le=100)] = 1
    max_connections: Annotated[int, Field(ge=1, le=100)] = 10
    idle_timeout_seconds: Annotated[float, Field(gt=0)] = 300.0

    def __post_init__(self) -> None:
        if self.min_connections > self.max_connections:
            raise ValueError("min_connections is larger than max_connections")


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class SqlConfig:
    """The ``config`` of a postgres or mysql connector (spec 9.1), plus the row cap."""

    host: Host
    database: Annotated[str, Field(min_length=1, max_length=63)]
    port: Port | None = None
    ssl_enabled: bool = False
    connection_pool: PoolConfig = field(default_factory=PoolConfig)
    # Read-only unless the operator says otherwise: a judgment reading MES data must not write.
    read_only: bool = True
    query_timeout_seconds: PositiveSeconds = 30.0
    connect_timeout_seconds: PositiveSeconds = 10.0
    max_rows: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class SqlCredentials:
    """Login of a SQL connector; the password never appears in a repr."""

    user: Annotated[str, Field(min_length=1)]
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one statement, JSON-safe; ``truncated`` when the row cap cut the result."""

    columns: tuple[str, ...]
    rows: list[dict[str, JsonValue]]
    row_count: int
    truncated: bool
    elapsed_ms: float


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """SQL rewritten for one driver and the parameter name behind each placeholder."""

    text: str
    names: tuple[str, ...]

    def bind(self, params: Mapping[str, object] | None) -> list[object]:
        """Positional values for the placeholders; InputError names missing or unexpected keys."""
        given = dict(params or {})
        wanted = set(self.names)
        missing = sorted(wanted - given.keys())
        unexpected = sorted(given.keys() - wanted)
        if missing or unexpected:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(f":{n}" for n in missing))
            if unexpected:
                parts.append("unexpected " + ", ".join(f":{n}" for n in unexpected))
            raise InputError("parameters do not match the query: " + "; ".join(parts), where="params")
        return [given[name] for name in self.names]


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _skip_quoted(sql: str, i: int, quote: str, backslashes: bool) -> int:
    """Index just past the literal opened at ``i``; a doubled quote is an escaped quote."""
    n = len(sql)
    j = i + 1
    while j < n:
        ch = sql[j]
        if backslashes and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    raise InputError("unterminated quoted literal in SQL", where="sql")


def _skip_block_comment(sql: str, i: int, nested: bool) -> int:
    depth = 0
    j = i
    n = len(sql)
    while j < n:
        if sql.startswith("/*", j):
            depth = depth + 1 if nested or depth == 0 else depth
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    raise InputError("unterminated comment in SQL", where="sql")


def _dollar_tag(sql: str, i: int) -> str | None:
    """The ``$tag$`` opening a PostgreSQL dollar-quoted string at ``i``, if any."""
    j = i + 1
    while j < len(sql) and (_is_name_char(sql[j]) and not (j == i + 1 and sql[j].isdigit())):
        j += 1
    if j < len(sql) and sql[j] == "$":
        return sql[i : j + 1]
    return None


# Workflows and judgments run the same few statements again and again; the lexer is pure Python.
@functools.lru_cache(maxsize=1024)
def compile_named(sql: str, dialect: Dialect) -> NamedQuery:
    """Rewrite ``:name`` parameters into ``dialect``'s placeholders, leaving literals untouched."""
    pg = dialect == "postgres"
    out: list[str] = []
    names: list[str] = []
    numbers: dict[str, int] = {}
    i = 0
    n = len(sql)
    start = 0
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "'":
            # PostgreSQL E'...' strings and every MySQL string honour backslash escapes.
            escaped = not pg or (i > 0 and sql[i - 1] in "eE" and (i < 2 or not _is_name_char(sql[i - 2])))
            i = _skip_quoted(sql, i, "'", escaped)
        elif ch == '"':
            i = _skip_quoted(sql, i, '"', not pg)
        elif ch == "`" and not pg:
            i = _skip_quoted(sql, i, "`", False)
        elif (ch == "-" and nxt == "-" and (pg or i + 2 >= n or sql[i + 2] in " \t\r\n")) or (
            ch == "#" and not pg
        ):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and nxt == "*":
            i = _skip_block_comment(sql, i, nested=pg)
        elif ch == "$" and pg and not (i > 0 and _is_name_char(sql[i - 1])):
            if nxt.isdigit():
                raise InputError("positional $n placeholders are not accepted; use :name", where="sql")
            tag = _dollar_tag(sql, i)
            if tag is None:
                i += 1
                continue
            end = sql.find(tag, i + len(tag))
            if end < 0:
                raise InputError("unterminated dollar-quoted string in SQL", where="sql")
            i = end + len(tag)
        elif ch == "?" and not pg:
            raise InputError("positional ? placeholders are not accepted; use :name", where="sql")
        elif ch == ":" and nxt == ":":
            i += 2  # a PostgreSQL cast, never a parameter
        elif ch == ":" and _is_name_start(nxt) and (i == 0 or sql[i - 1] != ":"):
            j = i + 1
            while j < n and _is_name_char(sql[j]):
                j += 1
            name = sql[i + 1 : j]
            out.append(sql[start:i])
            if pg:
                if name not in numbers:
                    numbers[name] = len(numbers) + 1
                    names.append(name)
                out.append(f"${numbers[name]}")
            else:
                names.append(name)
                out.append("?")
            i = start = j
        else:
            i += 1
    out.append(sql[start:])
    return NamedQuery("".join(out), tuple(names))


def to_json(value: object) -> JsonValue:
    """A JSON-safe form of one database value (see the module docstring for each type)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [to_json(v) for v in value]
    return str(value)


def unique_columns(names: Sequence[str]) -> tuple[str, ...]:
    """Column names made unique (``SELECT 1, 1``) so no value is lost in a dict row."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name}_{count}")
    return tuple(out)
