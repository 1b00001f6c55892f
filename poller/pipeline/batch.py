"""Batch: coalesce every coroutine's job-status question into one DescribeJobs per region.

Requests that arrive within ``window`` seconds of the first one in a region share a call
(deduplicated IDs, chunks of at most 1,000 — DRS's limit — with nextToken followed:
``poller.aws.drs.describe_jobs``). The number of DRS calls therefore grows with regions and
time, not with executions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from poller.aws.drs import DrsError, Job, describe_jobs

# Waiters woken per loop turn. One answer serves hundreds of executions, and each spends ~1.5 ms
# applying it and building its write: waking them all in one turn stalled the loop for tenths of
# a second at 10,000 executions (timers, health and HTTP waited). Slices keep a turn ~10 ms.
WAKE_SLICE = 8

DrsClientFor = Callable[[str], Any]


@dataclass
class _Batch:
    job_ids: set[str] = field(default_factory=set)
    waiters: list[asyncio.Future[dict[str, Job]]] = field(default_factory=list)


class JobStatusBatcher:
    """One shared DescribeJobs per region and window; callers get only the jobs they asked for."""

    def __init__(self, drs_client_for: DrsClientFor, window: float = 1.0) -> None:
        self._client_for = drs_client_for
        self._window = window
        self._open: dict[str, _Batch] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    async def describe(self, region: str, job_ids: Iterable[str]) -> dict[str, Job]:
        """Job ID → DRS job item; IDs DRS does not know are absent (as DRS answers)."""
        wanted = set(job_ids)
        return asked_jobs(await self.ask(region, wanted), wanted)

    def ask(self, region: str, job_ids: Iterable[str]) -> asyncio.Future[dict[str, Job]]:
        """The future of the region's next answer (every job of the batch, not only these).

        A plain future, not a coroutine: gathering coroutines wraps each in a Task, and at
        10,000 executions the two tasks per poll were garbage for the collector to walk.
        """
        answer: asyncio.Future[dict[str, Job]] = asyncio.get_running_loop().create_future()
        wanted = set(job_ids)
        if not wanted:
            answer.set_result({})
            return answer
        batch = self._open.get(region)
        if batch is None:
            batch = self._open[region] = _Batch()
            task = asyncio.create_task(self._flush_later(region, batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        batch.job_ids |= wanted
        batch.waiters.append(answer)
        return answer

    async def aclose(self) -> None:
        """Let in-flight flushes finish so no waiter is left hanging at shutdown."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)

    async def _flush_later(self, region: str, batch: _Batch) -> None:
        await asyncio.sleep(self._window)
        if self._open.get(region) is batch:
            del self._open[region]
        try:
            jobs = await _describe(self._client_for(region), region, batch.job_ids)
        except Exception as err:  # every waiter must hear about the failure, whatever it is
            failure = err
            await _wake(batch.waiters, lambda answer: answer.set_exception(failure))
        else:
            await _wake(batch.waiters, lambda answer: answer.set_result(jobs))


def asked_jobs(answer: dict[str, Job], job_ids: Iterable[str]) -> dict[str, Job]:
    """The jobs of a region's answer that one caller asked for; IDs DRS does not know are absent."""
    return {job_id: answer[job_id] for job_id in job_ids if job_id in answer}


async def _wake(
    waiters: list[asyncio.Future[dict[str, Job]]], settle: Callable[[asyncio.Future[dict[str, Job]]], None]
) -> None:
    """Settle every waiter, WAKE_SLICE per loop turn; a cancelled waiter is skipped."""
    try:
        for start in range(0, len(waiters), WAKE_SLICE):
            if start:
                await asyncio.sleep(0)
            for answer in waiters[start : start + WAKE_SLICE]:
                if not answer.done():
                    settle(answer)
    finally:  # cancelled mid-way (shutdown): nobody may be left waiting
        for answer in waiters:
            if not answer.done():
                settle(answer)


async def _describe(drs: Any, region: str, job_ids: Iterable[str]) -> dict[str, Job]:
    try:
        return await describe_jobs(drs, region, job_ids)
    except (ClientError, BotoCoreError) as err:
        raise DrsError(region, err) from err
