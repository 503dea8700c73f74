"""``mcp.json``: upstream MCP servers and data connectors, in the format MCP clients already use.

    {"mcpServers": {"name": {"command", "args", "env", "cwd"}
                          | {"url", "transport": "sse" | "streamable_http" | "websocket", "headers"},
                    ...},
     "connectors": {"name": {"type", "config", "credentials"}, ...}}

Every entry may name its ``tenant`` (default: the seeded demo tenant). Server entries may carry
per-server settings: ``prefix``, ``timeout_seconds``, ``tool_timeouts``, ``breaker``, ``disabled``.
Values of the form ``${NAME}`` in ``env``, ``headers`` and ``credentials`` are taken from the
environment when the file is applied, so secrets need not be written into it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hub.errors import ConfigError

__all__ = ["BreakerConfig", "ConnectorEntry", "HubConfig", "ServerEntry", "load_config", "parse_config"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,32}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerConfig(_Strict):
    """Circuit-breaker settings of one upstream."""

    fail_max: int = Field(default=5, ge=1, le=1000)
    reset_timeout_seconds: float = Field(default=30.0, gt=0, le=86400)


class ServerEntry(_Strict):
    """One upstream MCP server: a command to run (stdio) or a URL to reach."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    transport: Literal["sse", "streamable_http", "websocket"] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tenant: str = "demo"
    prefix: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    connect_timeout_seconds: float | None = Field(default=None, gt=0, le=600)
    tool_timeouts: dict[str, float] = Field(default_factory=dict)
    breaker: BreakerConfig | None = None
    protocol_era: Literal["legacy", "auto", "modern"] = "auto"
    disabled: bool = False
    description: str | None = None

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, v: str | None) -> str | None:
        if v is not None and not _PREFIX.match(v):
            raise ValueError("a prefix may hold only letters, digits, '_' and '-', at most 32")
        return v

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(https?|wss?)://[^\s/]+", v):
            raise ValueError("the url must start with http://, https://, ws:// or wss:// and name a host")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> ServerEntry:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                "give exactly one of 'command' (stdio) or 'url' (sse, streamable_http, websocket)"
            )
        if self.command is not None and (self.transport not in (None,) or self.headers):
            raise ValueError("'transport' and 'headers' belong to url entries, not command entries")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("'args', 'env' and 'cwd' belong to command entries, not url entries")
        if (
            self.url is not None
            and self.url.startswith(("ws://", "wss://"))
            and self.transport
            not in (
                None,
                "websocket",
            )
        ):
            raise ValueError("a ws:// or wss:// url needs transport 'websocket'")
        return self

    @property
    def kind(self) -> str:
        """'stdio', 'sse', 'streamable_http' or 'websocket'."""
        if self.command is not None:
            return "stdio"
        if self.transport is not None:
            return self.transport
        assert self.url is not None
        return "websocket" if self.url.startswith(("ws://", "wss://")) else "streamable_http"


class ConnectorEntry(_Strict):
    """One data connector; ``config`` follows the core schema's data_connectors.config."""

    type: Literal["postgres", "mysql", "rest_api", "kafka"]
    tenant: str = "demo"
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


def _entry_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"name {name!r} must start with a letter or digit and hold only letters, digits,"
            " '_', '.' and '-' (at most 64)"
        )
    if name == "hub":
        raise ValueError("the name 'hub' is reserved for the hub's own tools")
    return name


# Keys are checked as keys, so a bad name is reported alongside any problem in its entry.
EntryName = Annotated[str, AfterValidator(_entry_name)]


class HubConfig(_Strict):
    """The whole file."""

    mcpServers: dict[EntryName, ServerEntry] = Field(default_factory=dict)
    connectors: dict[EntryName, ConnectorEntry] = Field(default_factory=dict)


def _path(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def parse_config(data: Any, *, source: str = "mcp.json") -> HubConfig:
    """Validate parsed JSON; ``ConfigError`` lists every problem with its JSON path."""
    try:
        return HubConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # Drop pydantic's internal union/validator labels from the location.
            loc = tuple(
                p
                for p in err["loc"]
                if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
            )
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_path(loc)}: {msg}")
        raise ConfigError(f"{source} is invalid ({len(problems)} problem(s))", problems=problems) from exc


def load_config(path: Path) -> HubConfig:
    """Read and validate a file; a missing file is an empty configuration."""
    if not path.exists():
        return HubConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON", problems=[f"line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from exc
    return parse_config(data, source=str(path))


def expand_env(values: dict[str, str], *, where: str) -> dict[str, str]:
    """Replace ``${NAME}`` references with environment values; a missing one is a ConfigError."""
    out = {}
    for key, value in values.items():

        def sub(m: re.Match[str], key: str = key) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(f"environment variable {name} is not set", where=f"{where}.{key}")
            return os.environ[name]

        out[key] = _ENV_REF.sub(sub, value)
    return out
