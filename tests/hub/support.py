"""Helpers for tests that run the hub as a real process: free ports, env, readiness, keys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HUB = str(Path(sys.executable).with_name("hub"))
PG_ADMIN_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    """Whether this run is CI, where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hub_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """An environment for a hub process with its own data directory and no mcp.json."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(data_dir)
    env["HUB_CONFIG_FILE"] = str(data_dir / "mcp.json")
    env.update(extra)
    return env


def run_hub(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one ``hub`` command to its end."""
    return subprocess.run([HUB, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def make_key(env: dict[str, str], tenant: str = "demo", user: str = "admin") -> str:
    """A new API key, through the CLI as an operator would make it."""
    done = run_hub("keys", "create", "--tenant", tenant, "--user", user, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def http_hub(env: dict[str, str], *extra: str) -> Iterator[str]:
    """A hub serving HTTP on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [HUB, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"hub exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("hub did not become healthy within 60 s")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
