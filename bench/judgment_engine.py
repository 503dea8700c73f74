"""Benchmark of the judgment engine alone (no MCP): rule-only judgments, cache hits, memory.

Prints medians against a baseline measured in the same run, on the same database: inserting one
``judgment_executions`` row and committing, which is what a recorded judgment cost when it wrote its
own row. The engine runs its writer in the background as the hub does (rows stored in batches; the
figures include that work, which shares the event loop); ``--write-through`` makes each judgment
write its row before returning instead. At the end every row is checked to be stored.
Usage: ``python bench/judgment_engine.py [--n 1000] [--database-url URL] [--write-through]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.identity import Caller
from hub.judgment import JudgmentEngine, JudgmentInput, JudgmentPolicy, JudgmentRequest, RulesetSelector
from hub.settings import Settings
from hub.store.db import create_engine
from hub.store.models import Base, JudgmentExecution, RuleScript, Ruleset, Tenant

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


def make_input(i: int) -> JudgmentInput:
    return JudgmentInput(
        line_code=f"L{i % 50:02}",
        shift=("day", "night")[i % 2],
        date="2026-01-26",
        metrics={"defect_rate": 0.02 + (i % 1000) / 10000, "production_qty": 1500 + i},
        context={"target_defect_rate": 0.05},
    )


async def timed(n: int, fn: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def main(n: int, url: str | None, write_through: bool) -> None:
    tmp = tempfile.mkdtemp()
    url = url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
    db = create_engine(url)
    async with db.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(db, expire_on_commit=False)
    tenant_id = uuid.uuid4()
    async with sessions() as s:
        s.add(Tenant(id=tenant_id, name=f"bench-{tenant_id.hex[:8]}", display_name="bench", settings={}))
        await s.flush()
        ruleset_id = uuid.uuid4()
        s.add(
            Ruleset(
                id=ruleset_id, tenant_id=tenant_id, name="defects", target_kpi="defect_rate", is_active=True
            )
        )
        await s.flush()
        s.add(
            RuleScript(
                ruleset_id=ruleset_id, version=1, script=RULES, script_hash="h1", compile_status="compiled"
            )
        )
        await s.commit()
    caller = Caller.of(
        tenant_id=tenant_id, tenant_name="bench", user_id=None, username="bench", role="operator"
    )
    engine = JudgmentEngine(sessions, Settings(llm_base_url=None))
    writer_task = None if write_through else asyncio.create_task(engine.run())
    await asyncio.sleep(0)  # let the writer start
    selector = RulesetSelector(name="defects")

    async def baseline(i: int) -> None:
        async with sessions() as s:
            s.add(
                JudgmentExecution(
                    tenant_id=tenant_id,
                    source="api",
                    input_data=make_input(i).as_dict(),
                    result="normal",
                    method_used="rule_only",
                    trace_id="t",
                )
            )
            await s.commit()

    async def rule_only(i: int) -> None:
        await engine.execute(
            caller, JudgmentRequest(make_input(i), selector, JudgmentPolicy(method="rule_only"))
        )

    async def cache_hit(i: int) -> None:
        j = await engine.execute(
            caller, JudgmentRequest(make_input(0), selector, JudgmentPolicy(method="rule_only"))
        )
        assert j.cache_hit

    await timed(50, baseline)  # warm up connections, compiled statements and the script cache
    await timed(50, lambda i: rule_only(100_000 + i))
    base = await timed(n, baseline)
    rules = await timed(n, lambda i: rule_only(200_000 + i))
    await rule_only(0)
    hits = await timed(n, cache_hit)

    gc.collect()
    tracemalloc.start()
    # More than the engine's bounded caches hold (1,024 cache entries), all traced: what those caches
    # evict later was then allocated under tracemalloc too, so their churn does not read as growth.
    await timed(1200, lambda i: rule_only(300_000 + i))
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    await timed(1000, lambda i: rule_only(400_000 + i))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    def med(v: list[float]) -> float:
        return statistics.median(v)

    print(f"database: {db.dialect.name}, n={n}")
    print(f"baseline insert+commit   median {med(base):7.3f} ms")
    print(
        f"rule_only judgment       median {med(rules):7.3f} ms  (+{med(rules) - med(base):.3f} ms, x{med(rules) / med(base):.2f})"
    )
    print(
        f"cache hit                median {med(hits):7.3f} ms  (+{med(hits) - med(base):.3f} ms, x{med(hits) / med(base):.2f})"
    )
    print(f"memory over 1000 distinct judgments: {(after - before) / 1024:+.1f} KiB")
    await engine.aclose()
    if writer_task is not None:
        await writer_task
    async with sessions() as s:
        rows = await s.scalar(
            sa.select(sa.func.count())
            .select_from(JudgmentExecution)
            .where(JudgmentExecution.tenant_id == tenant_id)
        )
    print(
        f"writer: {'write-through' if write_through else 'background'}, {engine.writer.written} judgments"
        f" written, {rows} judgment rows of the tenant, {engine.writer.dropped} refused"
    )
    await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--write-through", action="store_true", help="no background writer")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.database_url, args.write_through))
