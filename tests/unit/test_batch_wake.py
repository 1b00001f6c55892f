"""One DescribeJobs answer wakes its many waiters a slice per loop turn, never all in one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from poller.domain.targets import DrsTarget
from poller.pipeline.batch import DrsError, JobStatusBatcher
from poller.runtime.responsiveness import Responsiveness
from tests.fakes import TARGET, PaginatedDrs, drs_for


class _Drs(PaginatedDrs):
    """Answers every asked job as STARTED after a loop turn; counts calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def describe_jobs(self, filters: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://drs.invalid")
        return {"items": [{"jobID": j, "status": "STARTED"} for j in filters["jobIDs"]]}


async def _ask_many(batcher: JobStatusBatcher, n: int, resumed: list[int]) -> list[Any]:
    async def ask(i: int) -> Any:
        try:
            return await batcher.describe(TARGET, [f"drsjob-{i:017d}"])
        except DrsError as err:
            return err
        finally:
            resumed.append(i)

    return await asyncio.gather(*(ask(i) for i in range(n)))


async def _max_resumed_per_turn(resumed: list[int], n: int) -> int:
    """Watch from another task: how many waiters resumed between two of our turns."""
    worst, seen = 0, 0
    while seen < n:
        await asyncio.sleep(0)
        worst = max(worst, len(resumed) - seen)
        seen = len(resumed)
    return worst


@pytest.mark.asyncio
async def test_answer_wakes_at_most_a_slice_of_waiters_per_loop_turn() -> None:
    drs = _Drs()
    batcher = JobStatusBatcher(drs_for(drs), window=0.01)
    resumed: list[int] = []
    n = Responsiveness.wake_slice * 10
    answers, worst = await asyncio.gather(_ask_many(batcher, n, resumed), _max_resumed_per_turn(resumed, n))
    assert drs.calls == 1
    assert [a for a in answers] == [
        {f"drsjob-{i:017d}": {"jobID": f"drsjob-{i:017d}", "status": "STARTED"}} for i in range(n)
    ]
    assert 0 < worst <= Responsiveness.wake_slice


@pytest.mark.asyncio
async def test_failure_reaches_every_waiter_in_slices() -> None:
    drs = _Drs(fail=True)
    batcher = JobStatusBatcher(drs_for(drs), window=0.01)
    resumed: list[int] = []
    n = Responsiveness.wake_slice * 3 + 1
    answers, worst = await asyncio.gather(_ask_many(batcher, n, resumed), _max_resumed_per_turn(resumed, n))
    assert all(isinstance(a, DrsError) for a in answers)
    assert worst <= Responsiveness.wake_slice


@pytest.mark.asyncio
async def test_cancelled_waiter_does_not_stop_the_others() -> None:
    drs = _Drs()
    batcher = JobStatusBatcher(drs_for(drs), window=0.01)
    doomed = asyncio.create_task(batcher.describe(TARGET, ["drsjob-x" + "0" * 16]))
    others = [asyncio.create_task(batcher.describe(TARGET, [f"drsjob-{i:017d}"])) for i in range(40)]
    await asyncio.sleep(0)
    doomed.cancel()
    results = await asyncio.gather(*others)
    assert all(len(r) == 1 for r in results)
    assert doomed.cancelled()
    await batcher.aclose()


async def test_asking_creates_no_task_per_question_only_one_flush_per_region_and_window() -> None:
    loop = asyncio.get_running_loop()
    created: list[Any] = []
    default_factory = loop.get_task_factory()

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        created.append(coro)
        if default_factory is not None:
            return default_factory(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    batcher = JobStatusBatcher(drs_for(_Drs()), window=0.01)
    loop.set_task_factory(counting_factory)
    try:
        asked = [
            batcher.ask(DrsTarget(None, region), [f"drsjob-{i:017d}"])
            for i in range(100)
            for region in ("us-east-1", "us-west-2")
        ]
        answers = await asyncio.gather(*asked)
    finally:
        loop.set_task_factory(default_factory)
    assert len(created) == 2  # one flush per region, whatever the number of questions
    assert all(len(answer) == 100 for answer in answers)  # each hears the whole batch of its region


async def test_an_empty_question_is_answered_at_once_without_a_call() -> None:
    drs = _Drs()
    batcher = JobStatusBatcher(drs_for(drs), window=0.01)
    assert await batcher.ask(TARGET, []) == {}
    assert drs.calls == 0
