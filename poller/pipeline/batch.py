"""Batch: coalesce every coroutine's job-status question into one DescribeJobs per account-region.

Requests that arrive within ``window`` seconds of the first one for a
:class:`~poller.domain.targets.DrsTarget` (account, region) share a call
(deduplicated IDs, chunks of at most 1,000 — DRS's limit — with nextToken followed:
``poller.aws.drs.describe_jobs``). The number of DRS calls therefore grows with account-regions
and time, not with executions.

Each account-region also keeps a clock: its calls start at least ``min_gap`` seconds apart
(default: the window, which the window alone already ensures). Every request joins the next call,
so a poll a launch-result event brings forward rides the timer polls' call when one is due, and
what such polls can add is bounded: one call per ``min_gap`` per account-region. A longer gap trades
how soon a woken poll is answered for fewer calls.

One bad ID must not cost the others their answer: DRS refuses a whole call for one ID that is not
``^drsjob-[0-9a-zA-Z]{17}$`` (ValidationException). IDs of that shape are never sent; if DRS still
refuses a call, it is split in halves and retried until the refused IDs stand alone, so every
other ID is answered in the same window. Refused IDs are remembered (:meth:`JobStatusBatcher.refused`)
and never sent again: the tracker that asked quarantines its item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics
from poller.aws.drs import MAX_JOB_IDS_PER_CALL, DrsError, Job
from poller.aws.drs import describe_jobs as describe_all_pages
from poller.domain.targets import DrsTarget
from poller.domain.trackable import is_job_id
from poller.runtime.responsiveness import Responsiveness

log = structlog.get_logger("poller.pipeline.batch")

#: Job IDs DRS refused that a batcher remembers (oldest forgotten first): a bound, not a budget
MAX_REMEMBERED_REFUSALS = 10_000

DrsClientFor = Callable[[DrsTarget], Awaitable[Any]]


@dataclass
class _Batch:
    job_ids: set[str] = field(default_factory=set)
    waiters: list[asyncio.Future[dict[str, Job]]] = field(default_factory=list)


class JobStatusBatcher:
    """One shared DescribeJobs per account-region and window; callers get only the jobs they asked for."""

    def __init__(
        self,
        drs_client_for: DrsClientFor,
        window: float = 1.0,
        wake_slice: int = Responsiveness.wake_slice,
        min_gap: float | None = None,
    ) -> None:
        self._client_for = drs_client_for
        self._window = window
        self._min_gap = window if min_gap is None else min_gap
        self._wake_slice = wake_slice
        self._open: dict[DrsTarget, _Batch] = {}
        self._last_call: dict[DrsTarget, float] = {}  # loop time an account-region's latest call started
        self._flushes: set[asyncio.Task[None]] = set()
        self._refused: dict[str, None] = {}  # insertion-ordered, so the oldest is dropped first

    def refused(self, job_ids: Iterable[str]) -> list[str]:
        """The IDs among ``job_ids`` that are never sent: malformed, or refused by DRS before."""
        return [i for i in job_ids if i in self._refused or not is_job_id(i)]

    async def describe(self, target: DrsTarget, job_ids: Iterable[str]) -> dict[str, Job]:
        """Job ID → DRS job item; IDs DRS does not know are absent (as DRS answers)."""
        wanted = set(job_ids)
        return asked_jobs(await self.ask(target, wanted), wanted)

    def ask(self, target: DrsTarget, job_ids: Iterable[str]) -> asyncio.Future[dict[str, Job]]:
        """The future of the account-region's next answer (every job of the batch, not only these).

        A plain future, not a coroutine: gathering coroutines wraps each in a Task, and with many
        executions the two tasks per poll are garbage for the collector to walk.
        """
        answer: asyncio.Future[dict[str, Job]] = asyncio.get_running_loop().create_future()
        wanted = set(job_ids)
        excluded = self.refused(wanted)
        if excluded:  # answered as absent: their servers stay untouched
            metrics.REFUSED_JOB_IDS.labels("not_sent").inc(len(excluded))
            wanted.difference_update(excluded)
        if not wanted:
            answer.set_result({})
            return answer
        batch = self._open.get(target)
        if batch is None:
            batch = self._open[target] = _Batch()
            task = asyncio.create_task(self._flush_later(target, batch, self._delay(target)))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        batch.job_ids |= wanted
        batch.waiters.append(answer)
        return answer

    async def aclose(self) -> None:
        """Let in-flight flushes finish so no waiter is left hanging at shutdown."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)

    def _delay(self, target: DrsTarget) -> float:
        """Seconds until a batch opened now for ``target`` goes out: the window, or longer when
        its previous call started less than ``min_gap`` ago."""
        last = self._last_call.get(target)
        if last is None:
            return self._window
        return max(self._window, last + self._min_gap - asyncio.get_running_loop().time())

    async def _flush_later(self, target: DrsTarget, batch: _Batch, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._open.get(target) is batch:
            del self._open[target]
        self._last_call[target] = asyncio.get_running_loop().time()
        try:
            refused: set[str] = set()
            jobs = await describe_jobs(await self._client_for(target), target, batch.job_ids, refused)
            self._remember(refused)
        except Exception as err:  # every waiter must hear about the failure, whatever it is
            failure = err
            await _wake(batch.waiters, self._wake_slice, lambda answer: answer.set_exception(failure))
        else:
            await _wake(batch.waiters, self._wake_slice, lambda answer: answer.set_result(jobs))

    def _remember(self, refused: set[str]) -> None:
        for job_id in sorted(refused):
            self._refused[job_id] = None
        while len(self._refused) > MAX_REMEMBERED_REFUSALS:
            del self._refused[next(iter(self._refused))]


def asked_jobs(answer: dict[str, Job], job_ids: Iterable[str]) -> dict[str, Job]:
    """The jobs of an account-region's answer that one caller asked for; IDs DRS does not know are absent."""
    return {job_id: answer[job_id] for job_id in job_ids if job_id in answer}


async def _wake(
    waiters: list[asyncio.Future[dict[str, Job]]],
    per_turn: int,
    settle: Callable[[asyncio.Future[dict[str, Job]]], None],
) -> None:
    """Settle every waiter, ``per_turn`` per loop turn; a cancelled waiter is skipped."""
    try:
        for start in range(0, len(waiters), per_turn):
            if start:
                await asyncio.sleep(0)
            for answer in waiters[start : start + per_turn]:
                if not answer.done():
                    settle(answer)
    finally:  # cancelled mid-way (shutdown): nobody may be left waiting
        for answer in waiters:
            if not answer.done():
                settle(answer)


async def describe_jobs(
    drs: Any, target: DrsTarget, job_ids: Iterable[str], refused: set[str] | None = None
) -> dict[str, Job]:
    """All jobs for ``job_ids`` in as few calls as DRS allows.

    IDs that are not DRS job IDs are not sent. A call DRS refuses as invalid (ValidationException)
    is split in halves and retried, down to single IDs: the ones still refused are added to
    ``refused`` and left out of the answer, every other ID is answered.
    """
    refused = set() if refused is None else refused
    ids = sorted(set(job_ids))
    malformed = [i for i in ids if not is_job_id(i)]
    if malformed:
        refused.update(malformed)
        metrics.REFUSED_JOB_IDS.labels("not_sent").inc(len(malformed))
        ids = [i for i in ids if is_job_id(i)]
    found: dict[str, Job] = {}
    for start in range(0, len(ids), MAX_JOB_IDS_PER_CALL):
        await _describe_isolating(drs, target, ids[start : start + MAX_JOB_IDS_PER_CALL], found, refused)
    return found


async def _describe_isolating(
    drs: Any, target: DrsTarget, chunk: list[str], found: dict[str, Job], refused: set[str]
) -> None:
    try:
        found.update(await _describe_pages(drs, target, chunk))
    except DrsError as err:
        if err.code != "ValidationException":
            raise
        if len(chunk) == 1:
            refused.add(chunk[0])
            metrics.REFUSED_JOB_IDS.labels("refused_by_drs").inc()
            log.warning("drs_refused_job_id", target=str(target), job_id=chunk[0][:64], error=str(err)[:300])
            return
        half = len(chunk) // 2
        await asyncio.gather(
            _describe_isolating(drs, target, chunk[:half], found, refused),
            _describe_isolating(drs, target, chunk[half:], found, refused),
        )


async def _describe_pages(drs: Any, target: DrsTarget, chunk: list[str]) -> dict[str, Job]:
    try:
        return await describe_all_pages(drs, target.region, chunk)
    except (ClientError, BotoCoreError) as err:
        raise DrsError(str(target), err) from err
