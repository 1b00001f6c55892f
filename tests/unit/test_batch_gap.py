"""A region's DescribeJobs clock: with ``min_gap``, asks made soon after a call wait for the next
one together (a poll an event woke rides the timer polls' call) instead of each opening a call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from poller.domain.targets import DrsTarget
from poller.pipeline.batch import JobStatusBatcher
from tests.fakes import PaginatedDrs, drs_for

EAST = DrsTarget(None, "us-east-1")
WEST = DrsTarget(None, "us-west-2")


class _Drs(PaginatedDrs):
    """Answers every asked job as STARTED; records each call's job IDs."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def describe_jobs(self, filters: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(sorted(filters["jobIDs"]))
        return {"items": [{"jobID": j, "status": "STARTED"} for j in filters["jobIDs"]]}


def job(i: int) -> str:
    return f"drsjob-{i:017d}"


async def _ask_twice_after_a_call(batcher: JobStatusBatcher) -> None:
    """One call, then two asks a moment apart (well under a gap of seconds, over the window)."""
    await batcher.describe(EAST, [job(1)])
    first = asyncio.ensure_future(batcher.describe(EAST, [job(2)]))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(batcher.describe(EAST, [job(3)]))
    assert await first == {job(2): {"jobID": job(2), "status": "STARTED"}}
    assert await second == {job(3): {"jobID": job(3), "status": "STARTED"}}


@pytest.mark.asyncio
async def test_asks_soon_after_a_call_share_the_next_one() -> None:
    drs = _Drs()
    await _ask_twice_after_a_call(JobStatusBatcher(drs_for(drs), window=0.01, min_gap=2.0))
    assert drs.calls == [[job(1)], [job(2), job(3)]]


@pytest.mark.asyncio
async def test_without_a_gap_each_window_makes_its_own_call() -> None:
    drs = _Drs()
    await _ask_twice_after_a_call(JobStatusBatcher(drs_for(drs), window=0.01))
    assert drs.calls == [[job(1)], [job(2)], [job(3)]]


@pytest.mark.asyncio
async def test_the_gap_is_kept_per_account_region() -> None:
    drs = _Drs()
    batcher = JobStatusBatcher(drs_for(drs), window=0.01, min_gap=30.0)
    await batcher.describe(EAST, [job(1)])
    # another region's first call does not wait for us-east-1's gap (30 s would time the test out)
    answer = await asyncio.wait_for(batcher.describe(WEST, [job(2)]), timeout=10)
    assert answer == {job(2): {"jobID": job(2), "status": "STARTED"}}
    assert drs.calls == [[job(1)], [job(2)]]
