"""The official MCP conformance suite, run against real servers over loopback HTTP.

Needs tests/conformance/install.sh to have run: skipped without it locally, failed without it in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from run import EXPECTED_FAILURES, SPEC_VERSIONS, SuiteResult, installed, run_suite, serve_fixture

pytestmark = pytest.mark.node


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


@pytest.mark.parametrize("spec_version", SPEC_VERSIONS)
def test_everything_fixture_passes_the_whole_conformance_suite(
    fixture_url: str, spec_version: str, tmp_path: Path
) -> None:
    result = assert_conformant(fixture_url, spec_version, tmp_path)
    assert result.unexpected == ()
