"""Coroutines start a slice per loop turn, so a restart over thousands of executions does not
hold the loop for one long turn."""

from __future__ import annotations

import asyncio
from typing import Any

from poller.pipeline.schedule import Scheduler
from poller.runtime.responsiveness import Responsiveness
from tests.unit.test_schedule_incomplete import IdleTracker


class CountingTracker(IdleTracker):
    """An idle tracker that records when it is made and when it starts running."""

    made: list[str]
    started: list[str]

    def __init__(self, execution_id: str) -> None:
        CountingTracker.made.append(execution_id)
        super().__init__(execution_id)

    async def run(self) -> None:
        CountingTracker.started.append(self.execution_id)
        await super().run()


def _scheduler() -> Scheduler:
    CountingTracker.made = []
    CountingTracker.started = []
    make: Any = CountingTracker
    return Scheduler(make)


async def test_many_new_executions_start_a_slice_per_loop_turn() -> None:
    scheduler = _scheduler()
    ids = [f"exec-{n:05d}" for n in range(Responsiveness.start_per_turn * 3 + 7)]
    report = scheduler.sync(ids)
    assert report.scheduled == len(ids) and report.running == len(ids)
    assert CountingTracker.made == [] and CountingTracker.started == []  # nothing inside sync
    per_turn = []
    while len(CountingTracker.started) < len(ids):
        before = len(CountingTracker.started)
        await asyncio.sleep(0)
        per_turn.append(len(CountingTracker.started) - before)
        assert len(per_turn) < 100, "coroutines stopped starting"
    assert max(per_turn) == Responsiveness.start_per_turn
    assert sorted(CountingTracker.started) == ids and len(set(CountingTracker.started)) == len(ids)
    await scheduler.shutdown(grace_seconds=1)


async def test_execution_stopped_before_its_coroutine_started_never_runs() -> None:
    scheduler = _scheduler()
    scheduler.sync(["a", "b"])
    report = scheduler.sync(["b"])  # "a" left POLLING before its slice came
    assert report.stopped == 1 and scheduler.running == frozenset({"b"})
    for _ in range(5):
        await asyncio.sleep(0)
    assert CountingTracker.made == ["b"] and CountingTracker.started == ["b"]
    await scheduler.shutdown(grace_seconds=1)


async def test_execution_stopped_and_found_again_before_starting_runs_once() -> None:
    scheduler = _scheduler()
    scheduler.sync(["a"])
    scheduler.sync([])
    scheduler.sync(["a"])
    for _ in range(5):
        await asyncio.sleep(0)
    assert CountingTracker.started == ["a"]
    assert scheduler.running == frozenset({"a"})
    await scheduler.shutdown(grace_seconds=1)


async def test_shutdown_before_any_coroutine_started_leaves_nothing_running() -> None:
    scheduler = _scheduler()
    scheduler.sync([f"e{n}" for n in range(10)])
    await scheduler.shutdown(grace_seconds=1)
    for _ in range(5):
        await asyncio.sleep(0)
    assert CountingTracker.started == [] and scheduler.running == frozenset()
