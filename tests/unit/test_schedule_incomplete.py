"""An incomplete finder pass starts what it found but stops nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from poller.pipeline.schedule import Scheduler


class IdleTracker:
    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.stopping = False
        self.sleeping = True
        self.malformed = False

    async def run(self) -> None:
        await asyncio.sleep(3600)


def _scheduler() -> Scheduler:
    make: Any = IdleTracker
    return Scheduler(make)


async def test_incomplete_pass_starts_new_executions_and_stops_none() -> None:
    scheduler = _scheduler()
    scheduler.sync(["a", "b"])
    report = scheduler.sync(["c"], complete=False)
    assert report.scheduled == 1 and report.stopped == 0
    assert scheduler.running == frozenset({"a", "b", "c"})
    await scheduler.shutdown(grace_seconds=1)


async def test_complete_pass_stops_executions_that_left_polling() -> None:
    scheduler = _scheduler()
    scheduler.sync(["a", "b"])
    report = scheduler.sync(["b"])
    assert report.stopped == 1
    for _ in range(100):  # the cancelled task's done-callback runs a few loop turns later
        if scheduler.running == frozenset({"b"}):
            break
        await asyncio.sleep(0.01)
    assert scheduler.running == frozenset({"b"})
    await scheduler.shutdown(grace_seconds=1)
