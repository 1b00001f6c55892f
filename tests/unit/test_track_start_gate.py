"""Thousands of trackers starting at once read their items through a bounded gate.

Without it, 10,000 GetItems wait for one of the HTTP pool's connections, and aiohttp counts that
wait against the connect timeout: the start-up herd failed with ConnectTimeoutError.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from poller.domain.phases import PollingIntervals
from poller.pipeline.track import ExecutionTracker, TrackerConfig
from poller.runtime.turns import TurnBudget
from poller.store.executions import ExecutionNotFound, ExecutionStore
from tests.prom import sample


class SlowStore:
    """Answers every read after a pause, and remembers how many were in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.reads = 0

    async def get(self, execution_id: str) -> Any:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        self.reads += 1
        raise ExecutionNotFound(execution_id)


async def _start(count: int, gate: asyncio.Semaphore | None) -> SlowStore:
    store = SlowStore()
    config = TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800)
    trackers = [
        ExecutionTracker(
            f"exec-{i}", cast(ExecutionStore, store), cast(Any, None), config, time.time, start_gate=gate
        )
        for i in range(count)
    ]
    await asyncio.gather(*(t.run() for t in trackers))
    return store


async def test_trackers_starting_together_read_at_most_gate_size_items_at_once() -> None:
    store = await _start(20, asyncio.Semaphore(3))
    assert store.reads == 20
    assert store.most_in_flight == 3


async def test_without_a_gate_every_tracker_reads_at_once() -> None:
    store = await _start(20, None)
    assert store.most_in_flight == 20


async def test_items_that_land_together_at_start_are_sliced_by_the_turn_budget() -> None:
    work = [0.0]

    class CostlyStore(SlowStore):
        async def get(self, execution_id: str) -> Any:
            await asyncio.sleep(0.01)  # the items land together
            work[0] += 0.004  # reading and validating one, as the budget's clock sees it
            raise ExecutionNotFound(execution_id)

    store = CostlyStore()
    budget = TurnBudget(0.010, clock=lambda: work[0])
    config = TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800)
    trackers = [
        ExecutionTracker(
            f"exec-{i}", cast(ExecutionStore, store), cast(Any, None), config, time.time, turns=budget
        )
        for i in range(10)
    ]
    before = sample("poller_turn_deferrals_total")
    await asyncio.wait_for(asyncio.gather(*(t.run() for t in trackers)), timeout=5)
    assert work[0] == pytest.approx(0.04)
    assert sample("poller_turn_deferrals_total") > before
