"""Settings of one hub process, read from ``HUB_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything a hub process is configured with; built once by the composition root."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(".hub"), description="where the embedded SQLite file and spools live")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default SQLite in data_dir"
    )
    config_file: Path = Field(default=Path("mcp.json"), description="the mcp.json to apply at start")
    api_key: SecretStr | None = Field(
        default=None, description="identity of stdio callers and --no-auth HTTP"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key(s), comma-separated, newest first"
    )
    redis_url: str | None = Field(default=None, description="shares circuit-breaker state between processes")

    # Upstream defaults; each server may override them in mcp.json.
    # On SIGTERM: how long calls in flight may take to finish before they are cut off.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    call_timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 30.0
    # Upstreams starting at once: a few at a time keep each within its connect timeout when a hub
    # with a hundred of them starts on a small machine.
    connect_concurrency: int = Field(default=8, ge=1)
    breaker_fail_max: int = 5
    breaker_reset_timeout_seconds: float = 30.0
    max_payload_bytes: int = 10 * 1024 * 1024
    log_output_max_bytes: int = 64 * 1024
    redact_keys: tuple[str, ...] = (
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
    )

    otel: bool = Field(default=False, description="wrap each MCP request in an OpenTelemetry span")

    # Periodic health checks of upstreams and connectors.
    health_interval_seconds: float = 60.0
    health_timeout_seconds: float = 5.0
    health_jitter_seconds: float = 5.0
    health_concurrency: int = 16

    # LLM over an OpenAI-compatible HTTP API (MCP sampling through the caller needs none of this).
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = 30.0

    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hub.sqlite3').resolve()}"
