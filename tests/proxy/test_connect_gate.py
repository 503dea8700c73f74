"""The connect gate: upstreams start a few at a time, and a place is given back whatever happens."""

from __future__ import annotations

import sys

import anyio
import pytest

from hub.proxy import Upstream, UpstreamSpec
from tests.proxy.support import EchoServer

pytestmark = pytest.mark.anyio


async def test_a_server_that_never_answers_gives_its_place_back_when_its_deadline_passes() -> None:
    gate = anyio.Semaphore(1)
    # Reads stdin forever and never answers the handshake.
    mute = UpstreamSpec(
        name="mute",
        transport="stdio",
        command=sys.executable,
        args=("-c", "import sys\nfor _ in sys.stdin: pass"),
        connect_timeout=1.0,
    )
    echo = EchoServer("stdio", many=0).spec("echo")
    async with (
        Upstream.from_spec(mute, connect_gate=gate, backoff_initial=60.0) as first,
        Upstream.from_spec(echo, connect_gate=gate) as second,
    ):
        # The echo server waits behind the mute one, then connects once the mute one's second is up.
        with anyio.fail_after(20):
            snap = await second.wait_ready(20)
        assert "echo" in {t.name for t in snap.tools}
        assert first.snapshot is None


async def test_with_one_place_several_upstreams_all_connect_in_turn() -> None:
    gate = anyio.Semaphore(1)
    specs = [EchoServer("stdio", many=0).spec(f"e{i}") for i in range(3)]
    ups = [Upstream.from_spec(s, connect_gate=gate) for s in specs]
    async with ups[0], ups[1], ups[2]:
        with anyio.fail_after(60):
            for up in ups:
                await up.wait_ready(60)
        # Every place was given back once its holder had connected.
        assert gate.value == 1
