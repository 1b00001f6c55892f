"""Admission control for the launcher: what is in flight per (account, region), and who is next.

Per account-region the keeper holds the active DRS jobs with their source servers, learned
two ways: the jobs this replica starts (added at once) and DescribeJobs (jobs started by other
replicas or other tools, and jobs that ended). DescribeJobs is read at most every
``capacity_refresh_seconds`` per account-region while waves ask: by ID for the jobs known
active, and by date for jobs created since the last read (the first read looks back
``capacity_lookback_seconds``). A 402 or 409 from StartRecovery forces the next read.

Waves wait in a queue ordered by when they first waited (persisted on the wave, so the order
survives restarts and is the same on every replica), then by the execution's start time.
The decision itself is :func:`poller.domain.capacity.admit`. An admitted wave holds its
capacity as a reservation until its StartRecovery answered: then the reservation becomes its
jobs (started) or is dropped (not started). A wave that stops asking (cancelled, launched by
another replica, its execution gone) leaves the queue after ``stale_seconds``.

Replicas keep separate queues; DescribeJobs makes each see the others' jobs within one refresh,
and a start that still races past the quota is refused by DRS (402) and waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics
from poller.aws.clients import DrsClientFor, UnknownRegionError
from poller.aws.drs import LISTING_PAGE_SIZE, describe_job_pages, describe_jobs
from poller.domain.capacity import Decision, Demand, Quota, Usage, Wait, active_jobs, admit
from poller.domain.targets import DrsTarget

log = structlog.get_logger("poller.pipeline.admission")

LISTING_OVERLAP_SECONDS = 300.0  # a later read by date starts this much before the previous one


@dataclass(frozen=True, order=True)
class Place:
    """A wave's place in the queue: first wait, then execution start, then identity."""

    waiting_since: float
    execution_start: float
    ticket: str


@dataclass
class _Waiter:
    place: Place
    servers: tuple[str, ...]
    asked_at: float


@dataclass
class _AccountRegion:
    jobs: dict[str, frozenset[str]] = field(default_factory=dict)  # active jobs, as known
    reserved: dict[str, frozenset[str]] = field(default_factory=dict)  # ticket -> servers being started
    queue: dict[str, _Waiter] = field(default_factory=dict)
    read_at: float | None = None  # wall time the last DescribeJobs read started
    stale: bool = True
    started_at: dict[str, float] = field(default_factory=dict)  # jobs this replica started: when
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


Key = DrsTarget  # (account, region); the daemon's own account folded into None (DrsTarget.own)


def _from_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CapacityKeeper:
    """One per launcher; every method but :meth:`ask` is synchronous (no await between check and
    reservation, so two waves of one replica can never both take the last slot)."""

    def __init__(
        self,
        quota: Quota,
        read_drs: DrsClientFor,
        refresh_seconds: float,
        lookback_seconds: float,
        stale_seconds: float,
        clock: Callable[[], float] = time.time,
        own_account: str | None = None,
    ) -> None:
        self.quota = quota
        self._read_drs = read_drs
        self._refresh = refresh_seconds
        self._lookback = lookback_seconds
        self._stale = stale_seconds
        self._clock = clock
        self._own = own_account  # names the daemon's own account in reasons and metrics
        self._state: dict[Key, _AccountRegion] = {}

    def where(self, key: Key) -> str:
        return key.where(self._own)

    def _of(self, key: Key) -> _AccountRegion:
        state = self._state.get(key)
        if state is None:
            state = self._state[key] = _AccountRegion()
        return state

    async def ask(self, key: Key, place: Place, servers: Iterable[str]) -> Wait | None:
        """None: admitted (capacity reserved; call :meth:`started` or :meth:`release`); else why
        the wave waits. Reads DescribeJobs first when the view is older than the refresh period."""
        state = self._of(key)
        now = self._clock()
        state.queue[place.ticket] = _Waiter(place, tuple(servers), now)
        await self._maybe_refresh(key, state)
        now = self._clock()
        state.queue = {t: w for t, w in state.queue.items() if now - w.asked_at <= self._stale}
        if place.ticket not in state.queue:  # the read took longer than the stale period
            state.queue[place.ticket] = _Waiter(place, tuple(servers), now)
        decision = self._decide(key, state)
        wait = decision.waiting.get(place.ticket)
        if wait is None and place.ticket in decision.admitted:
            state.reserved[place.ticket] = frozenset(state.queue.pop(place.ticket).servers)
        self._publish(key, state)
        return wait

    def _decide(self, key: Key, state: _AccountRegion) -> Decision:
        usage = Usage({**state.jobs, **{f"ticket:{t}": s for t, s in state.reserved.items()}})
        queue = sorted(state.queue.values(), key=lambda w: w.place)
        return admit(self.quota, usage, [Demand(w.place.ticket, w.servers) for w in queue], self.where(key))

    def started(self, key: Key, ticket: str, jobs: dict[str, frozenset[str]]) -> None:
        """The reservation became these DRS jobs."""
        state = self._of(key)
        state.reserved.pop(ticket, None)
        state.jobs.update(jobs)
        state.started_at.update(dict.fromkeys(jobs, self._clock()))
        self._publish(key, state)

    def release(self, key: Key, ticket: str, refused: bool = False) -> None:
        """Nothing was started; ``refused`` (402/409): DRS knows of jobs we do not, read it next."""
        state = self._of(key)
        state.reserved.pop(ticket, None)
        if refused:
            state.stale = True
        self._publish(key, state)

    def forget(self, key: Key, ticket: str) -> None:
        """The wave no longer waits (failed, cancelled): leave the queue now."""
        state = self._of(key)
        state.queue.pop(ticket, None)
        self._publish(key, state)

    def usage(self, key: Key) -> Usage:
        state = self._of(key)
        return Usage({**state.jobs, **{f"ticket:{t}": s for t, s in state.reserved.items()}})

    async def _maybe_refresh(self, key: Key, state: _AccountRegion) -> None:
        async with state.lock:  # one read per account-region at a time; the others wait for it
            now = self._clock()
            if not state.stale and state.read_at is not None and now - state.read_at < self._refresh:
                return
            try:
                jobs = await self._read(key, state, now)
            except (ClientError, BotoCoreError, UnknownRegionError) as err:
                # keep the old view: a start past the real quota is refused by DRS and waits
                log.warning("capacity_read_failed", where=self.where(key), error=str(err))
                state.read_at, state.stale = now, False
                return
            # jobs started while the read was under way may be missing from it: keep them
            state.started_at = {j: t for j, t in state.started_at.items() if t >= now}
            local = {j: s for j, s in state.jobs.items() if j in state.started_at}
            state.jobs = {**jobs, **local}
            state.read_at, state.stale = now, False

    async def _read(self, key: Key, state: _AccountRegion, now: float) -> dict[str, frozenset[str]]:
        client = await self._read_drs(key)
        known = await describe_jobs(client, key.region, list(state.jobs)) if state.jobs else {}
        since = now - self._lookback if state.read_at is None else state.read_at - LISTING_OVERLAP_SECONDS
        listed: list[dict[str, Any]] = []
        async with aclosing(
            describe_job_pages(client, key.region, {"fromDate": _from_date(since)}, LISTING_PAGE_SIZE)
        ) as pages:
            async for items in pages:
                listed.extend(items)
        return active_jobs([*known.values(), *listed])

    def _publish(self, key: Key, state: _AccountRegion) -> None:
        usage = self.usage(key)
        account, region = key.account_label(self._own), key.region
        metrics.WAVES_WAITING_FOR_CAPACITY.labels(account, region).set(len(state.queue))
        metrics.DRS_CAPACITY_IN_USE.labels(account, region, "jobs").set(usage.job_count)
        metrics.DRS_CAPACITY_IN_USE.labels(account, region, "servers").set(usage.server_count)
