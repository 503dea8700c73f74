"""A process that logs calls as fast as it can until it is killed, for the spool-replay test.

    python tests/resilience/calllog_writer.py DATABASE_URL SPOOL_DIR TOOL_ID

Row ``i`` has trace id ``str(i)``; after recording it the process prints ``i`` on stdout, so the
test knows how far it got when it sends SIGKILL.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.identity import DEMO_TENANT_ID
from hub.store.calllog import CallLog, CallRecord
from hub.store.db import create_engine, create_sessionmaker


async def main(url: str, spool: Path, tool_id: uuid.UUID) -> None:
    engine = create_engine(url)
    log = CallLog(create_sessionmaker(engine), spool_dir=spool)
    async with anyio.create_task_group() as tg:
        tg.start_soon(log.run)
        i = 0
        while True:
            log.record(
                CallRecord(
                    tenant_id=DEMO_TENANT_ID,
                    tool_id=tool_id,
                    input_data={"i": i},
                    output_data={"ok": True},
                    success=True,
                    error_message=None,
                    latency_ms=1,
                    trace_id=str(i),
                    created_at=datetime.now(UTC),
                )
            )
            sys.stdout.write(f"{i}\n")
            sys.stdout.flush()
            i += 1
            await anyio.sleep(0.001)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), uuid.UUID(sys.argv[3]))
