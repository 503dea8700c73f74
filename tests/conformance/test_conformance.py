"""The official MCP conformance suite, run against real servers over loopback HTTP.

The suite needs tests/conformance/install.sh to have run: skipped without it locally, failed without it in CI.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters

from tests.conformance.run import (
    EXPECTED_FAILURES,
    FIXTURE,
    SPEC_VERSIONS,
    SuiteResult,
    installed,
    run_suite,
    serve_fixture,
)


@pytest.fixture(scope="module")
def suite_installed() -> None:
    """Skip (locally) or fail (CI=true) when the suite's node_modules are missing."""
    if installed():
        return
    reason = "conformance suite not installed: run tests/conformance/install.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def fixture_url(suite_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The everything fixture as a real subprocess on a free loopback port, shared by both spec versions."""
    log = tmp_path_factory.mktemp("everything-fixture") / "stderr.log"
    with serve_fixture(log) as url:
        yield url


def assert_conformant(
    url: str, spec_version: str, output_dir: Path, baseline: Path | None = EXPECTED_FAILURES
) -> SuiteResult:
    """Run the whole suite at `spec_version` against any server URL; fail on anything outside `baseline`.

    The same check serves the fixture and, once the hub proxies, the hub fronting the fixture.
    """
    result = run_suite(url, spec_version, output_dir=output_dir, baseline=baseline)
    assert result.ok, f"{result.summary()}\nper-check results in {result.output_dir}"
    assert result.scenarios > 0
    assert result.passed > 0
    return result


@pytest.mark.node
@pytest.mark.parametrize("spec_version", SPEC_VERSIONS)
def test_everything_fixture_passes_the_whole_conformance_suite(
    fixture_url: str, spec_version: str, tmp_path: Path
) -> None:
    result = assert_conformant(fixture_url, spec_version, tmp_path)
    assert result.unexpected == ()


async def sample(
    context: ClientRequestContext, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="Paris"), model="m"
    )


async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert isinstance(params, types.ElicitRequestFormParams)
    fields = params.requested_schema.get("properties", {})
    return types.ElicitResult(action="accept", content={name: f"my {name}" for name in fields})


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_everything_fixture_asks_for_input_in_either_era_over_stdio(mode: str) -> None:
    """The suite only speaks HTTP; the hub fronts the fixture over stdio, so prove that transport too.

    `legacy` negotiates 2025-11-25 (questions pushed mid-call); `auto` gets 2026-07-28 (input-required rounds).
    """
    server = StdioServerParameters(command=sys.executable, args=[str(FIXTURE), "--transport", "stdio"])
    with anyio.fail_after(30):
        async with Client(server, mode=mode, sampling_callback=sample, elicitation_callback=answer) as client:
            sampled = await client.call_tool("test_sampling", {"prompt": "Capital of France?"})
            two_rounds = await client.call_tool("test_input_required_result_multi_round", {})
            template = await client.read_resource("test://template/7/data")
    assert [block.text for block in sampled.content if isinstance(block, types.TextContent)] == [
        "LLM response: Paris"
    ]
    assert [block.text for block in two_rounds.content if isinstance(block, types.TextContent)] == [
        "my name likes my color"
    ]
    assert isinstance(template.contents[0], types.TextResourceContents)
    assert json.loads(template.contents[0].text) == {
        "id": "7",
        "templateTest": True,
        "data": "Data for ID: 7",
    }
