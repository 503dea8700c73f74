"""What only a stdio upstream does: it is the hub's own child, so the hub answers for its whole life."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from hub.errors import UpstreamProtocolError, UpstreamUnavailable
from hub.proxy import Upstream, UpstreamSpec
from tests.proxy.support import ECHO_SERVER

pytestmark = pytest.mark.anyio


def echo_spec(**options: object) -> UpstreamSpec:
    return UpstreamSpec(
        name="echo", transport="stdio", command=sys.executable, args=(str(ECHO_SERVER),), **options
    )  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def text_of(result: types.CallToolResult | types.InputRequiredResult) -> str:
    assert isinstance(result, types.CallToolResult)
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def test_closing_kills_the_childs_whole_process_group_and_leaves_no_zombie() -> None:
    async with Upstream.from_spec(echo_spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            child = up.status.pid
            grandchild = int(text_of(await up.call_tool("spawn")))
    assert child is not None
    assert not alive(child)
    # A dead grandchild may linger as a zombie until pid 1 collects it; only running ones would leak.
    assert not alive(grandchild)


async def test_a_child_killed_mid_call_fails_the_call_at_once_with_its_exit_status() -> None:
    async with Upstream.from_spec(echo_spec(), backoff_initial=60) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            pid = up.status.pid
            assert pid is not None

            async def kill_when_in_flight() -> None:
                # A round trip on the same pipe puts the hang request on the wire first.
                await up.ping()
                os.kill(pid, signal.SIGKILL)

            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_when_in_flight)
                # The call would hang for its full 60 s timeout if the exit went unnoticed.
                with anyio.fail_after(5), pytest.raises(UpstreamUnavailable):
                    await up.call_tool("hang")
            assert up.exit_code == -signal.SIGKILL
            assert not up.connected


async def test_a_child_exiting_with_a_code_reports_that_code() -> None:
    async with Upstream.from_spec(echo_spec(), backoff_initial=60) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            with pytest.raises(UpstreamUnavailable) as caught:
                await up.call_tool("crash", {"code": 7})
    assert up.exit_code == 7
    assert "code 7" in caught.value.message


async def test_garbage_on_stdout_fails_the_call_with_a_protocol_error_and_the_hub_carries_on() -> None:
    async with Upstream.from_spec(echo_spec()) as up:
        with anyio.fail_after(15):
            await up.wait_ready()
            with pytest.raises(UpstreamProtocolError):
                await up.call_tool("corrupt")
            assert isinstance(up.last_error, UpstreamProtocolError)
            assert text_of(await up.call_tool("echo", {"text": "still here"})) == "still here"


async def test_a_command_that_does_not_exist_leaves_the_upstream_unavailable_with_the_reason() -> None:
    spec = UpstreamSpec(name="ghost", transport="stdio", command="/nonexistent/mcp-server")
    down = anyio.Event()

    async def on_status(up: Upstream) -> None:
        if not up.connected:
            down.set()

    async with Upstream.from_spec(spec, backoff_initial=60, on_status=on_status) as up:
        with anyio.fail_after(5):
            await down.wait()
        assert isinstance(up.last_error, UpstreamUnavailable)
        assert up.last_error.where == "ghost"
        with pytest.raises(UpstreamUnavailable):
            await up.call_tool("echo", {"text": "x"})


async def test_a_child_that_exits_at_start_keeps_its_stderr_and_exit_code_for_diagnosis(
    tmp_path: Path,
) -> None:
    spec = UpstreamSpec(
        name="broken",
        transport="stdio",
        command="/bin/sh",
        args=("-c", "echo 'config file missing' >&2; exit 3"),
        cwd=tmp_path,
        stderr_limit=1024,
    )
    down = anyio.Event()

    async def on_status(up: Upstream) -> None:
        if not up.connected:
            down.set()

    async with Upstream.from_spec(spec, backoff_initial=60, on_status=on_status) as up:
        with anyio.fail_after(5):
            await down.wait()
        assert isinstance(up.last_error, UpstreamUnavailable)
        assert up.exit_code == 3
        assert "config file missing" in up.stderr_tail()


async def test_the_child_gets_the_configured_environment_and_working_directory(tmp_path: Path) -> None:
    script = "import os, sys; sys.stderr.write(os.environ['PROBE'] + ' ' + os.getcwd()); sys.exit(5)"
    spec = UpstreamSpec(
        name="probe",
        transport="stdio",
        command=sys.executable,
        args=("-c", script),
        env={"PROBE": "v1"},
        cwd=tmp_path,
    )
    down = anyio.Event()

    async def on_status(up: Upstream) -> None:
        if not up.connected:
            down.set()

    async with Upstream.from_spec(spec, backoff_initial=60, on_status=on_status) as up:
        with anyio.fail_after(5):
            await down.wait()
        assert up.stderr_tail() == f"v1 {tmp_path}"
        assert up.exit_code == 5


def test_the_stderr_log_keeps_only_the_newest_bytes() -> None:
    from hub.proxy.stdio import StderrLog

    log = StderrLog(8)
    log.append(b"0123456789")
    log.append(b"ab")
    assert log.text() == "456789ab"


def children_of(pid: int) -> set[int]:
    """Processes (zombies included) whose parent is ``pid``."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


@pytest.mark.slow
async def test_a_crash_loop_leaks_no_processes_and_no_file_descriptors() -> None:
    before_children = children_of(os.getpid())
    before_fds = len(os.listdir("/proc/self/fd"))
    restarts = 0
    enough = anyio.Event()

    async def on_status(up: Upstream) -> None:
        nonlocal restarts
        if not up.connected:
            restarts += 1
            if restarts >= 100:
                enough.set()

    spec = UpstreamSpec(
        name="crasher", transport="stdio", command="/bin/sh", args=("-c", "sleep 600 & exit 1")
    )
    async with Upstream.from_spec(spec, on_status=on_status, backoff_initial=0.001, backoff_max=0.005) as up:
        with anyio.fail_after(60):
            await enough.wait()
    assert up.exit_code == 1
    assert children_of(os.getpid()) == before_children
    assert len(os.listdir("/proc/self/fd")) == before_fds


async def test_reconnect_backoff_waits_on_the_injected_sleep() -> None:
    asked: list[float] = []
    first_wait, second_wait = anyio.Event(), anyio.Event()

    async def sleep(seconds: float) -> None:
        asked.append(seconds)
        (first_wait if len(asked) == 1 else second_wait).set()
        await anyio.sleep_forever()

    spec = UpstreamSpec(name="down", transport="stdio", command="/nonexistent/mcp-server")
    async with Upstream.from_spec(spec, sleep=sleep, backoff_initial=1.0, backoff_max=8.0) as up:
        with anyio.fail_after(5):
            await first_wait.wait()
            up.reconnect()  # cuts the wait short: the next attempt starts at once, and fails again
            await second_wait.wait()
    assert 0.8 <= asked[0] <= 1.2
    assert 1.6 <= asked[1] <= 2.4
