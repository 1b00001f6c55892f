"""When the store falls behind, due polls wait before asking DRS, not after.

Each tracker asks DRS, applies the answer and writes it. A slow store queues the writes; the
poll gate bounds how many answers sit in that queue, so memory does not grow with the backlog
and each answer is fetched when a slot frees, i.e. fresh when it lands.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from poller.domain.model import Execution
from poller.domain.phases import PollingIntervals
from poller.domain.statuses import ExecutionStatus, ServerStatus
from poller.pipeline.batch import JobStatusBatcher
from poller.pipeline.track import ExecutionTracker, TrackerConfig
from poller.store.executions import ExecutionStore
from tests.unit.builders import START, drs_job, execution, participant, server, wave


def _execution(n: int) -> Execution:
    pending = execution([wave([server(n, ServerStatus.PENDING)])], start=START)
    return pending.model_copy(update={"ExecutionId": f"exec-{n}"})


class Pipeline:
    """A DRS that answers LAUNCHED at once and a store that writes slowly; counts answers in flight."""

    def __init__(self) -> None:
        self.answers_in_flight = 0
        self.most_in_flight = 0
        self.saved: dict[str, Execution] = {}
        self.events: list[str] = []

    async def ask(self, region: str, job_ids: list[str]) -> dict[str, Any]:
        self.answers_in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.answers_in_flight)
        self.events.append("fetch")
        n = int(job_ids[0].removeprefix("drsjob-"))
        return {job_ids[0]: drs_job(n, "COMPLETED", [participant(n, "LAUNCHED", instance=True)])}

    async def get(self, execution_id: str) -> Execution:
        return _execution(int(execution_id.removeprefix("exec-")))

    async def save(self, updated: Execution, expected_version: int, lease: Any = None) -> Execution:
        await asyncio.sleep(0.005)
        self.answers_in_flight -= 1
        self.events.append("save")
        self.saved[updated.ExecutionId] = updated
        return updated.model_copy(update={"Version": expected_version + 1})


async def _track(count: int, gate: asyncio.Semaphore | None) -> Pipeline:
    pipeline = Pipeline()
    config = TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800)
    trackers = [
        ExecutionTracker(
            f"exec-{i}",
            cast(ExecutionStore, pipeline),
            cast(JobStatusBatcher, pipeline),
            config,
            lambda: START + 60,
            poll_gate=gate,
        )
        for i in range(1, count + 1)
    ]
    await asyncio.wait_for(asyncio.gather(*(t.run() for t in trackers)), timeout=10)
    return pipeline


async def test_a_slow_store_holds_at_most_gate_size_answers() -> None:
    pipeline = await _track(20, asyncio.Semaphore(3))
    assert len(pipeline.saved) == 20
    assert all(e.Status == ExecutionStatus.COMPLETED for e in pipeline.saved.values())
    assert pipeline.most_in_flight == 3


async def test_with_one_slot_each_answer_is_fetched_after_the_previous_write_landed() -> None:
    pipeline = await _track(5, asyncio.Semaphore(1))
    assert pipeline.events == ["fetch", "save"] * 5


async def test_without_a_gate_every_answer_waits_in_the_write_queue() -> None:
    pipeline = await _track(20, None)
    assert pipeline.most_in_flight == 20
