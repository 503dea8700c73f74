"""Benchmark of judgments as MCP tools: a hub subprocess over stdio, ``hub_status`` as the baseline.

In one run, on one stdio connection to one hub process (SQLite in a temporary directory):

* baseline: ``hub_status`` (a call through the same dispatch path with three small queries);
* rule-only ``judgment_execute`` on a new input each time (rules decide, the judgment row and the
  cache entry are written) — target: at most 2 ms slower than the baseline at the median;
* a cache hit (the same input again; the hit writes its own judgment row) — target: at most 1 ms slower;
* 1,000 distinct judgments in a row, with the hub process's RSS before and after (and after a second
  1,000, so start-up growth of caches can be told from a leak);
* once the hub has exited, its database is read: one ``judgment_executions`` row per judgment and the
  cache hits counted on the hot entry. The hub stores judgments in batches off the caller's path, so
  this checks that the writes the timings leave out of the caller's wait did happen.

Baseline and judgment calls alternate, so drift of the machine affects both alike.
Usage: ``.venv/bin/python bench/judgment.py [--n 500] [--distinct 1000]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

HUB = str(Path(sys.executable).with_name("hub"))

RULES = """
fn judge_defect_rate(metrics, context) {
  let defect_rate = metrics.defect_rate;
  let target = context.target_defect_rate ?? 0.05;
  if defect_rate > target * 1.5 {
    #{ result: "critical", confidence: 1.0, explanation: `defect rate ${defect_rate} > 150% of ${target}`,
       actions: ["alert_supervisor", "stop_line"] }
  } else if defect_rate > target * 1.2 {
    #{ result: "warning", confidence: 0.9, explanation: `defect rate ${defect_rate} > 120% of ${target}` }
  } else {
    #{ result: "normal", confidence: 1.0, explanation: "defect rate within range" }
  }
}
"""


def judgment_args(i: int) -> dict[str, Any]:
    """A distinct input per ``i`` (the defect rate varies), judged confidently by the rules."""
    return {
        "ruleset_name": "defect_rules",
        "input": {
            "line_code": f"L{i % 40:02d}",
            "shift": "day" if i % 2 else "night",
            "date": "2025-01-26",
            "metrics": {"defect_rate": 0.2 + i * 1e-6, "production_qty": 1500, "oee": 0.78},
            "context": {"target_defect_rate": 0.05},
        },
    }


def hub_pid(data_dir: Path) -> int | None:
    """The pid of the ``hub serve`` child started for ``data_dir`` (found in /proc by its environment)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != me:
                continue
            if f"HUB_DATA_DIR={data_dir}".encode() in (entry / "environ").read_bytes():
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def rss_mib(pid: int | None) -> float | None:
    """Resident set size of a process, MiB (Linux)."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def timed(client: Client, name: str, args: dict[str, Any]) -> float:
    """One call's wall time in ms; a failed call stops the benchmark."""
    start = time.perf_counter()
    result = await client.call_tool(name, args)
    elapsed = (time.perf_counter() - start) * 1000
    if result.is_error:
        raise SystemExit(f"{name} failed: {result.content}")
    return elapsed


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(label: str, values: list[float], baseline: list[float] | None = None) -> None:
    median = statistics.median(values)
    text = f"  {label:<38} median {median:7.3f} ms   p95 {pct(values, 95):7.3f} ms"
    if baseline is not None:
        text += f"   vs baseline {median - statistics.median(baseline):+7.3f} ms"
    print(text)


async def run(n: int, distinct: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-judgment-") as tmp:
        judged, hits = await measure(Path(tmp), n, distinct)
        check_records(Path(tmp), judged, hits)


def check_records(data: Path, judged: int, hits: int) -> None:
    """What the hub stored, read from its SQLite file after it exited."""
    with contextlib.closing(sqlite3.connect(data / "hub.sqlite3")) as db:
        rows = db.execute("SELECT count(*) FROM judgment_executions").fetchone()[0]
        cached = db.execute("SELECT count(*) FROM judgment_executions WHERE cache_hit").fetchone()[0]
        counted = db.execute("SELECT max(hit_count) FROM judgment_cache").fetchone()[0]
    print("records, read after the hub exited:")
    print(f"  judgment_executions rows   {rows} of {judged} judgments ({cached} cache hits of {hits})")
    print(f"  hit_count of the hot entry {counted} of {hits}")


async def measure(data: Path, n: int, distinct: int) -> tuple[int, int]:
    """Run the benchmark; how many judgments were made, and how many of them hit the hot entry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_DATA_DIR=str(data), HUB_CONFIG_FILE=str(data / "mcp.json"))
    subprocess.run([HUB, "db", "upgrade"], env=env, check=True, capture_output=True)
    load = os.getloadavg()[0]
    print(
        f"CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f}; SQLite in {data}"
    )
    params = StdioServerParameters(command=HUB, args=["serve"], env=env)
    async with Client(params, mode="legacy") as client:
        pid = hub_pid(data)
        await timed(client, "rule_create_ruleset", {"name": "defect_rules", "target_kpi": "defect_rate"})
        await timed(client, "rule_add_version", {"ruleset": "defect_rules", "script": RULES})
        await timed(client, "rule_deploy", {"ruleset": "defect_rules", "version": 1, "mode": "full"})
        first = await client.call_tool("judgment_execute", judgment_args(-1))
        assert first.structured_content is not None
        print(f"  a rule-only judgment: method_used={first.structured_content['method_used']}")

        # Warm-up: compiled script, prepared statements, tool-row ids, the caller's cache.
        seq = 0
        for _ in range(50):
            await timed(client, "hub_status", {})
            await timed(client, "judgment_execute", judgment_args(seq))
            seq += 1
        hot = judgment_args(10**6)
        await timed(client, "judgment_execute", hot)

        baseline: list[float] = []
        rule_only: list[float] = []
        cache_hit: list[float] = []
        for _ in range(n):
            baseline.append(await timed(client, "hub_status", {}))
            rule_only.append(await timed(client, "judgment_execute", judgment_args(seq)))
            seq += 1
            cache_hit.append(await timed(client, "judgment_execute", hot))
        print(f"{n} calls each, interleaved, over stdio:")
        line("hub_status (baseline)", baseline)
        line("judgment_execute, rule-only (target +2)", rule_only, baseline)
        line("judgment_execute, cache hit (target +1)", cache_hit, baseline)

        rounds: list[tuple[float | None, float]] = []
        before = rss_mib(pid)
        for _ in range(2):
            start = time.perf_counter()
            for _ in range(distinct):
                await timed(client, "judgment_execute", judgment_args(seq))
                seq += 1
            rounds.append((rss_mib(pid), time.perf_counter() - start))
        print(f"{distinct} distinct judgments in a row, twice (hub pid {pid}):")
        print(f"  RSS before                 {before if before is None else f'{before:.1f} MiB'}")
        for i, (rss, seconds) in enumerate(rounds, 1):
            shown = "n/a" if rss is None else f"{rss:.1f} MiB"
            print(f"  RSS after round {i}          {shown}   ({seconds:.2f} s, {distinct / seconds:.0f}/s)")
        if before is not None and rounds[0][0] is not None and rounds[1][0] is not None:
            print(
                f"  growth: round 1 {rounds[0][0] - before:+.1f} MiB, round 2 {rounds[1][0] - rounds[0][0]:+.1f} MiB"
            )
    # The first judgment, the warm-up's, the hot entry's first, the measured ones and the rounds.
    return 1 + seq + 1 + n, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=500, help="calls per measured kind")
    parser.add_argument("--distinct", type=int, default=1000, help="judgments per memory round")
    args = parser.parse_args()
    anyio.run(run, args.n, args.distinct)


if __name__ == "__main__":
    main()
