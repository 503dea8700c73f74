"""The official MCP conformance suite against the hub fronting our fixture server (stdio, empty prefix).

The fixture on its own passes every check of the suite (tests/conformance): 84 at 2025-11-25, 152 at
2026-07-28. The hub fronting it must pass the same checks, each of them: the test holds the exact count
and names, with the reason, the one check no proxy can pass over a stdio upstream (UNREACHABLE). A check
that fails or warns, or one that quietly stops counting as passed (skipped, informational), fails here.

The fixture is registered with ``protocol_era: auto``, so the hub's one link to it speaks 2026-07-28 (the
fixture speaks both eras) and callers of both eras share it: a 2026-era caller's input-required round
trips are relayed, a 2025-era caller has them answered through it mid-call (hub/proxy/upstream.py).
Over a handshake-era link the hub instead parks a 2026-era caller's call (hub/proxy/parking.py, tested in
tests/proxy/test_input_required.py), which cannot carry what the 2026 input-required scenarios check: a
question's key (a pushed request has none; the suite looks for ``user_name``), the caller's own
capabilities (a handshake session declares the hub's once, at ``initialize``), and on stdio which of
several calls in flight a pushed question belongs to (the suite runs its scenarios in parallel).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conformance.run import installed, read_checks, run_suite
from tests.hub.support import http_hub, hub_env, in_ci, run_hub

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "servers" / "everything_server.py"

# What the fixture passes on its own: every check the suite has for that version.
FIXTURE_PASSES = {"2025-11-25": 84, "2026-07-28": 152}

# Checks the fixture passes that the hub provably cannot pass while fronting it over stdio.
UNREACHABLE: dict[str, dict[str, str]] = {
    "2025-11-25": {
        # SEP-1699 polling: the check wants the tools/call POST's SSE stream closed before the result
        # arrives, then the result on a GET resumed with Last-Event-ID. test_reconnection earns that by
        # closing its own HTTP response stream mid-call; over stdio the fixture has no such stream
        # (``ctx.close_sse_stream`` is None, so ``reconnection`` in tests/servers/everything_server.py
        # returns at once) and nothing reaches the hub that says a stream was cut: the tool's reply is
        # an ordinary result. The hub could only cut streams on its own, with nothing to tell this call
        # from any other. What resumption needs of the hub itself is checked and passes: the priming
        # event and the retry field (hub/server/events.py).
        "server-sse-polling:server-sse-disconnect-resume": "the upstream's stream cut is not visible over stdio",
    },
    "2026-07-28": {},
}


@pytest.mark.node
@pytest.mark.parametrize("spec_version", list(FIXTURE_PASSES))
def test_the_hub_fronting_the_fixture_passes_every_check_the_fixture_passes(
    tmp_path: Path, spec_version: str
) -> None:
    if not installed():
        reason = "conformance suite not installed: run tests/conformance/install.sh"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    env = hub_env(tmp_path)
    config = {
        "mcpServers": {
            "everything": {
                "command": sys.executable,
                "args": [str(FIXTURE), "--transport", "stdio"],
                "prefix": "",
                "protocol_era": "auto",
            }
        }
    }
    (tmp_path / "mcp.json").write_text(json.dumps(config))
    assert run_hub("db", "upgrade", env=env).returncode == 0
    with http_hub(env, "--no-auth") as url:
        # Wait until the upstream's tools are in the hub's list before the suite starts.
        async def ready() -> None:
            with anyio.fail_after(30):
                async with Client(f"{url}/mcp", mode="legacy") as client:
                    while "test_simple_text" not in {t.name for t in (await client.list_tools()).tools}:
                        await anyio.sleep(0.1)

        anyio.run(ready)
        result = run_suite(f"{url}/mcp", spec_version, output_dir=tmp_path / "out", baseline=None)

    statuses: dict[str, set[str]] = {}
    for scenario, checks in read_checks(result.output_dir).items():
        for check, status in checks:
            statuses.setdefault(f"{scenario}:{check}", set()).add(status)
    unreachable = UNREACHABLE[spec_version]
    failing = sorted(entry for entry, seen in statuses.items() if seen & {"FAILURE", "WARNING"})
    assert [entry for entry in failing if entry not in unreachable] == [], result.summary()
    # An entry that passes now, or that the suite no longer has, must leave the list.
    stale = sorted(entry for entry in unreachable if statuses.get(entry, {"SUCCESS"}) == {"SUCCESS"})
    assert stale == [], f"UNREACHABLE entries that pass now or are gone: {stale}"
    assert result.passed == FIXTURE_PASSES[spec_version] - len(unreachable), result.summary()
