"""The ``hub`` command with bad input: one clear line, a non-zero status, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config import parse_config
from hub.errors import ConfigError
from tests.hub.support import hub_env, run_hub


def test_config_check_lists_every_problem_with_its_json_path_and_exits_2(tmp_path: Path) -> None:
    bad = {
        "mcpServers": {
            "a": {"command": "x", "url": "http://y"},
            "b": {"args": 3},
            "bad name!": {"command": "z"},
            "w": {"url": "ws://127.0.0.1:1/ws", "transport": "sse"},
        },
        "connectors": {"c": {"type": "oracle"}},
        "extra": 1,
    }
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(bad))
    done = run_hub("config", "check", str(path), env=hub_env(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert any(line.strip().startswith("$.mcpServers.a:") for line in lines)
    assert any(line.strip().startswith("$.mcpServers.b.args:") for line in lines)
    assert any("bad name!" in line for line in lines)
    assert any(line.strip().startswith("$.mcpServers.w:") for line in lines)
    assert any(line.strip().startswith("$.connectors.c.type:") for line in lines)
    assert any(line.strip().startswith("$.extra:") for line in lines)


def test_config_check_reports_malformed_json_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": ')
    done = run_hub("config", "check", str(path), env=hub_env(tmp_path))
    assert done.returncode == 2
    assert "line 1 column 16" in done.stderr


def test_a_valid_config_passes_the_check(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"t": {"command": "mcp-server-time", "tenant": "demo"}}}))
    done = run_hub("config", "check", str(path), env=hub_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "1 server(s)" in done.stdout


def test_serve_refuses_to_start_on_an_invalid_config(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {"x": {}}}))
    done = run_hub("serve", env=env, timeout=60)
    assert done.returncode == 2
    assert "$.mcpServers.x" in done.stderr


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    env = hub_env(tmp_path, HUB_DATABASE_URL="postgresql+asyncpg://postgres:s3cr3tpw@127.0.0.1:1/x")
    done = run_hub("db", "upgrade", env=env)
    assert done.returncode == 1
    assert "s3cr3tpw" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_second_upgrade_says_it_is_already_at_head(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    first = run_hub("db", "upgrade", env=env)
    second = run_hub("db", "upgrade", env=env)
    assert first.returncode == second.returncode == 0
    assert "already at head" in second.stdout


def test_keys_for_an_unknown_tenant_or_user_are_refused(tmp_path: Path) -> None:
    env = hub_env(tmp_path)
    done = run_hub("keys", "create", "--tenant", "nope", env=env)
    assert done.returncode == 1
    assert "no tenant named 'nope'" in done.stderr
    done = run_hub("keys", "create", "--user", "ghost", env=env)
    assert done.returncode == 1
    assert "no user 'ghost'" in done.stderr


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    done = run_hub("serve", "--transport", "http", "--host", "0.0.0.0", "--no-auth", env=hub_env(tmp_path))
    assert done.returncode == 2
    assert "loopback" in done.stderr


@pytest.mark.parametrize(
    "entry",
    [{"command": "x", "prefix": "a b"}, {"url": "ftp://x"}, {"command": "x", "headers": {"a": "b"}}],
)
def test_entries_that_mix_or_misshape_fields_are_rejected(entry: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"mcpServers": {"s": entry}})
    assert caught.value.problems
    assert all(p.startswith("$.mcpServers.s") for p in caught.value.problems)
