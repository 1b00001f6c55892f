"""The demo's last act, after the drill: clean up the drill's instances and write its report.

Through the poller API, as a user would: ``POST /executions/{id}/cleanup`` (the plan's
``CleanupAfterSeconds`` would also do it), wait until the cleanup is COMPLETED or FAILED, then
``GET /executions/{id}/report`` rendered as one self-contained HTML file whose path is printed.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from poller.report import render

FINISHED = ("COMPLETED", "FAILED")


async def after_the_drill(
    session: aiohttp.ClientSession, base: str, execution_id: str, budget: float, out: Any
) -> int:
    """Clean up one finished DRILL and write its report; returns an exit code (0: all done)."""
    async with session.post(f"{base}/executions/{execution_id}/cleanup") as resp:
        if resp.status != 202:
            out.write(f"Cleanup of drill {execution_id} refused ({resp.status}): {await resp.text()}\n")
            return 1
    deadline = time.monotonic() + budget
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        async with session.get(f"{base}/executions/{execution_id}") as resp:
            item = await resp.json()
        if item.get("CleanupStatus") in FINISHED:
            break
        await asyncio.sleep(0.2)
    servers = [s for w in item.get("Waves", []) for s in w.get("Servers", [])]
    terminated = sum(1 for s in servers if s.get("TerminatedTime"))
    launched = sum(1 for s in servers if s.get("InstanceId"))
    status = item.get("CleanupStatus", "NOT_REQUESTED")
    out.write(
        f"Drill {execution_id} cleanup {status}: {terminated} of {launched} recovery instances terminated\n"
    )
    async with session.get(f"{base}/executions/{execution_id}/report") as resp:
        report = await resp.json()
    folder = Path(tempfile.gettempdir()) / "drs-poller-demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"drill-report-{execution_id}.html"
    path.write_text(render(report, "html"), encoding="utf-8")
    out.write(f"Drill report: {path}\n")
    out.flush()
    return 0 if status == "COMPLETED" else 1
