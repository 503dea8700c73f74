"""The hub's one error tree.

Every error the hub raises on purpose derives from ``HubError``. Foreign errors (drivers, sockets,
the MCP SDK) are translated once, at the boundary where they occur, with ``raise ... from exc``.
MCP error codes are chosen only at the server face, from ``HubError.code``.

    HubError
    ├── ConfigError              mcp.json or settings are invalid (exit status 2 in the CLI)
    ├── InputError               a caller's arguments are wrong (JSON-RPC -32602)
    │   └── PayloadTooLarge
    ├── AuthError                no or unknown credentials (HTTP 401)
    ├── PermissionDenied         the caller lacks a permission (RBAC)
    ├── NotFound                 no such tool, server, connector, rule set ... in the caller's tenant
    ├── Conflict                 a name is taken, a state change is not allowed
    ├── StoreError               the hub's own database failed            retriable
    ├── UpstreamError            an upstream MCP server failed            retriable
    │   ├── UpstreamTimeout                                               retriable
    │   ├── UpstreamUnavailable  not connected / exited / breaker open    retriable
    │   └── UpstreamProtocolError garbage or a JSON-RPC error from upstream
    ├── ConnectorError           a data connector's service failed        retriable
    │   ├── ConnectorTimeout                                              retriable
    │   └── QueryError           the service rejected the operation (bad SQL, no topic)
    ├── RuleError                a rule script failed to compile or run
    └── LLMError                 an LLM provider failed or answered invalidly  retriable
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthError",
    "ConfigError",
    "Conflict",
    "ConnectorError",
    "ConnectorTimeout",
    "HubError",
    "InputError",
    "LLMError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "QueryError",
    "RuleError",
    "StoreError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]

# JSON-RPC codes: -32602 invalid params, -32601 method/tool not found, -32603 internal.
# The -320xx range is the implementation-defined server-error range of JSON-RPC 2.0. MCP itself
# takes -32000..-32002, -32020..-32022 and -32042 from it; the hub's own codes stay clear of those
# so that a caller never reads a hub timeout as, say, a missing client capability.


class HubError(Exception):
    """Base of every error the hub raises on purpose."""

    code: ClassVar[int] = -32603
    retriable: ClassVar[bool] = False

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ConfigError(HubError):
    """Configuration (mcp.json, settings) is invalid; ``problems`` lists each with its JSON path."""

    def __init__(self, message: str, *, problems: list[str] | None = None, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.problems = problems or []


class InputError(HubError):
    """A caller's input is malformed or does not match a schema."""

    code = -32602


class PayloadTooLarge(InputError):
    """A request exceeds the configured size limit."""


class AuthError(HubError):
    """Credentials are missing, unknown or revoked."""

    code = -32011


class PermissionDenied(HubError):
    """The caller is authenticated but lacks a permission."""

    code = -32003


class NotFound(HubError):
    """The named thing does not exist in the caller's tenant."""

    code = -32004


class Conflict(HubError):
    """A name is already taken or a state transition is not allowed."""

    code = -32009


class StoreError(HubError):
    """The hub's own database failed."""

    code = -32010
    retriable = True


class UpstreamError(HubError):
    """An upstream MCP server failed."""

    code = -32070
    retriable = True


class UpstreamTimeout(UpstreamError):
    """An upstream did not answer in time."""

    code = -32071


class UpstreamUnavailable(UpstreamError):
    """An upstream is not connected, has exited, or its circuit breaker is open."""

    code = -32072


class UpstreamProtocolError(UpstreamError):
    """An upstream sent something that is not valid MCP."""

    code = -32073
    retriable = False


class ConnectorError(HubError):
    """A data connector's service failed."""

    code = -32030
    retriable = True


class ConnectorTimeout(ConnectorError):
    """A data connector's operation took longer than its timeout."""

    code = -32031


class QueryError(ConnectorError):
    """The service rejected the operation itself (invalid SQL, unknown topic, ...)."""

    code = -32032
    retriable = False


class RuleError(HubError):
    """A rule script failed to compile or to run."""

    code = -32040


class LLMError(HubError):
    """An LLM provider failed, timed out or answered with something invalid."""

    code = -32050
    retriable = True
