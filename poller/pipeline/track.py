"""One coroutine per execution: wait for its phase's interval, ask DRS, apply, write.

The coroutine owns its execution's in-memory copy and version. It never dies of a bad poll:
DRS or DynamoDB trouble is logged, counted and retried with jittered backoff; an unreadable
item, or one no retry can help (:mod:`poller.domain.trackable`: a job ID DRS refuses, an unserved
region, ...), is logged with its key, counted, and left untouched. An item DynamoDB refuses to
store (ValidationException, e.g. over 400 KB) ends the execution FAILED with DynamoDB's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import structlog

from poller import metrics
from poller.aws.drs import DrsError
from poller.domain.apply import JobsById, PollOutcome, apply_poll, jobs_to_request
from poller.domain.model import Execution, MalformedItemError
from poller.domain.phases import PollingIntervals, detect_execution_phase, seconds_until_next_poll
from poller.domain.statuses import TERMINAL_EXECUTION, ExecutionStatus
from poller.domain.timeout import is_timed_out, resolve_timeout
from poller.domain.trackable import abandoned, untrackable
from poller.pipeline.batch import JobStatusBatcher, asked_jobs
from poller.pipeline.wake import Alarm, Wake, WakeBoard, observe_detection, settle
from poller.runtime.turns import TurnBudget
from poller.store.dynamodb import DynamoDBError
from poller.store.executions import ExecutionNotFound, ExecutionStore, InvalidWrite, WriteConflict
from poller.store.lease import LEASE_EXPIRY, LEASE_OWNER, LeaseKeeper

log = structlog.get_logger("poller.pipeline.track")

MAX_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class TrackerConfig:
    intervals: PollingIntervals
    timeout_seconds: float
    idle_write_seconds: float = 300.0  # a poll without transitions is written at most this often
    max_backoff_seconds: float = 60.0
    batch_lead_seconds: float = 0.0  # ask this early: the batch window, so answers keep the interval
    regions: Collection[str] | None = None  # regions whose DRS is served (None: any)


class ExecutionTracker:
    """Tracks one execution until it is terminal, leaves POLLING, or is asked to stop."""

    def __init__(
        self,
        execution_id: str,
        store: ExecutionStore,
        batcher: JobStatusBatcher,
        config: TrackerConfig,
        clock: Callable[[], float],
        on_terminal: Callable[[Execution], None] | None = None,
        leases: LeaseKeeper | None = None,
        start_gate: asyncio.Semaphore | None = None,
        poll_gate: asyncio.Semaphore | None = None,
        turns: TurnBudget | None = None,
        wakes: WakeBoard | None = None,
    ) -> None:
        self.execution_id = execution_id
        self._store = store
        self._batcher = batcher
        self._config = config
        self._clock = clock
        self._on_terminal = on_terminal
        self._leases = leases
        self._start_gate = start_gate
        self._poll_gate = poll_gate
        self._turns = turns or TurnBudget(0.0)
        self._failures = 0
        self._retry_at: float | None = None
        self._last_write = 0.0
        self.stopping = False
        self.sleeping = False
        self.malformed = False
        # launch-result events (poller.pipeline.wake): they end a sleep early, nothing more
        self.alarm = Alarm()
        self._wakes = wakes
        self._watched: frozenset[str] = frozenset()
        self._last_status: ExecutionStatus | None = None
        self._timer_due: float | None = None  # the timer poll an event-woken poll came before

    async def run(self) -> None:
        structlog.contextvars.bind_contextvars(execution_id=self.execution_id)
        try:
            async with self._start_gate or contextlib.nullcontext():  # a restart's trackers starting
                execution = await self._load()  # at once queue here, not in the HTTP pool (timeouts)
                await self._turns.checkpoint()  # and their items land together
                if execution is not None and not await self._claim(execution):
                    return
            await self._track(execution)
        except DynamoDBError as err:
            # reading or claiming failed: not a crash; the next finder tick starts us again
            metrics.POLL_FAILURES.labels("dynamodb_error").inc()
            log.warning("tracker_start_failed", error=str(err))
        finally:
            self._stop_watching()
            if self._leases is not None:
                await self._leases.release(self.execution_id)

    async def _claim(self, execution: Execution) -> bool:
        if self._leases is None:
            return True
        held = {LEASE_OWNER: execution.LeaseOwner, LEASE_EXPIRY: execution.LeaseExpiry}
        if await self._leases.claim(self.execution_id, self._clock(), held):
            return True
        log.info("lease_held_elsewhere")
        return False

    async def _track(self, execution: Execution | None) -> None:
        self._watch(execution)
        while execution is not None and not self.stopping:
            if execution.Status != ExecutionStatus.POLLING:
                return
            delay = self._delay(execution)
            if delay > 0 and self.alarm.rung and self._retry_at is None:
                # a launch-result event: ask now (a backoff after failures still holds), and keep
                # the timer's poll where it was, in the batches it shares with other executions
                self._timer_due = self._clock() + delay
                delay = 0.0
            if delay > 0:
                await self._sleep(delay)
                continue
            wakes = self.alarm.take()
            before = execution
            execution = await self.poll_once(execution)
            self._answered(before, execution, wakes)

    # ---- launch-result events (poller.pipeline.wake) -------------------------------------------
    def _watch(self, execution: Execution | None) -> None:
        if execution is not None:
            self._last_status = execution.Status
        if self._wakes is not None and execution is not None:
            self._watched = self._wakes.watch(self.alarm, execution, self._watched)

    def _answered(self, before: Execution, after: Execution | None, wakes: list[Wake]) -> None:
        """The poll is settled: written (no backoff pending, still ours) or to be retried."""
        written = after is not None and self._retry_at is None
        if written and after is not None:
            observe_detection(before, after, wakes, self._clock())
            if self.alarm.rung:  # events that came in while it asked: no poll of their own
                self.alarm.answered(after)
        settle(wakes, written)
        self._watch(after)

    def _stop_watching(self) -> None:
        finished = self._last_status in TERMINAL_EXECUTION
        self.alarm.close(finished)
        if self._wakes is not None:
            self._wakes.forget(self.alarm, self._watched, finished)
            self._watched = frozenset()

    async def _load(self) -> Execution | None:
        try:
            execution = await self._store.get(self.execution_id)
        except MalformedItemError as err:
            self._quarantine(err)
        except ExecutionNotFound:
            log.warning("execution_vanished")
        else:
            problem = untrackable(execution, self._config.regions)
            if problem is None:
                return execution
            self._quarantine(problem)
        return None

    def _quarantine(self, err: MalformedItemError) -> None:
        """Once per item and quarantine: the scheduler leaves it alone for a while."""
        self.malformed = True
        metrics.MALFORMED_ITEMS.inc()
        log.error("malformed_item", key=err.key, field=err.field, reason=err.reason)

    def _delay(self, execution: Execution) -> float:
        now = self._clock()
        if self._retry_at is not None:
            return max(0.0, self._retry_at - now)
        if is_timed_out(execution, now, self._config.timeout_seconds):
            return 0.0
        delay = seconds_until_next_poll(
            execution, now, self._config.intervals, self._config.batch_lead_seconds
        )
        if self._timer_due is not None:  # after an event-woken poll: the timer's slot, if sooner
            if self._timer_due <= now + delay:
                delay = max(0.0, self._timer_due - now)
            if delay == 0.0 or self._timer_due <= now:
                self._timer_due = None
        return delay

    async def _sleep(self, seconds: float) -> None:
        self.sleeping = True
        try:
            await self.alarm.sleep(seconds)
        finally:
            self.sleeping = False

    async def poll_once(self, execution: Execution) -> Execution | None:
        """One step of the tracking loop, due or not: ask DRS for ``execution``'s jobs, apply the
        answer, write it. Returns the execution as it stands after the step (unchanged when the
        poll failed and waits for its backoff), or None when it is no longer this tracker's.

        Asks DRS only when the answer can be written soon.

        When the store falls behind, writes queue. Without the gate every due tracker would
        still ask DRS and then hold its answer (two copies of its execution plus the jobs) in
        that queue: memory grows with the backlog, and the answer is tens of seconds old when
        it lands, so a change made meanwhile waits a whole further cycle. Gated, a tracker
        waits holding nothing new, and asks DRS once a slot frees, so what it writes is fresh.
        """
        if self._poll_gate is None:
            return await self._poll(execution)
        start = time.monotonic()
        async with self._poll_gate:
            metrics.POLL_GATE_WAIT.observe(time.monotonic() - start)
            return await self._poll(execution)

    async def _poll(self, execution: Execution) -> Execution | None:
        timed_out = is_timed_out(execution, self._clock(), self._config.timeout_seconds)
        try:
            jobs = await self._fetch(execution)
        except DrsError as err:
            return self._failed(execution, "drs_throttled" if err.throttled else "drs_error", err)
        await self._turns.checkpoint()  # one answer wakes hundreds of polls: slice their work
        now = self._clock()
        outcome = resolve_timeout(execution, jobs, now) if timed_out else apply_poll(execution, jobs, now)
        phase = detect_execution_phase(execution.Waves, execution.ExecutionType)
        metrics.POLLS.labels(phase).inc()
        self._report_gaps(outcome)
        try:
            written = await self._write(execution, outcome, jobs, timed_out)
        except InvalidWrite as err:
            return await self._give_up(execution, err)
        except DynamoDBError as err:
            return self._failed(execution, "dynamodb_error", err)
        self._failures = 0
        self._retry_at = None
        if written is not None and written.Status in TERMINAL_EXECUTION:
            self._finished(written, timed_out)
        return written

    async def _fetch(self, execution: Execution) -> dict[str, dict[str, object]]:
        wanted = jobs_to_request(execution)
        answers = await asyncio.gather(*(self._batcher.ask(r, ids) for r, ids in wanted.items()))
        jobs: dict[str, dict[str, object]] = {}
        for ids, answer in zip(wanted.values(), answers, strict=True):
            jobs.update(asked_jobs(answer, ids))
        return jobs

    async def _give_up(self, execution: Execution, err: InvalidWrite) -> Execution | None:
        """DynamoDB refuses this item for good: end it FAILED with DynamoDB's reason (the store
        writes a terminal status even when the whole item cannot be written)."""
        metrics.POLL_FAILURES.labels("invalid_write").inc()
        log.error("execution_unwritable", reason=err.reason)
        reason = f"DynamoDB refused the execution item: {err.reason}"
        current = execution
        try:
            for _ in range(MAX_WRITE_ATTEMPTS):
                lease = self._leases.lease(self._clock()) if self._leases is not None else None
                try:
                    saved = await self._store.save(
                        abandoned(current, reason, self._clock()), current.Version, lease
                    )
                except WriteConflict:
                    fresh = await self._load()
                    if fresh is None or self._lease_lost(fresh):
                        return None
                    if fresh.Status != ExecutionStatus.POLLING:
                        return fresh
                    current = fresh
                    continue
                self._finished(saved, False)
                return saved
        except DynamoDBError as failure:
            return self._failed(current, "dynamodb_error", failure)
        return await self._load()

    def _failed(self, execution: Execution, reason: str, err: Exception) -> Execution:
        """Back off with full jitter, capped, so an outage slows us down instead of spinning."""
        self._failures += 1
        backoff = min(self._config.max_backoff_seconds, 2.0 ** min(self._failures, 6))
        self._retry_at = self._clock() + random.uniform(backoff / 2, backoff)
        metrics.POLL_FAILURES.labels(reason).inc()
        log.warning("poll_failed", reason=reason, error=str(err), consecutive=self._failures)
        return execution

    def _report_gaps(self, outcome: PollOutcome) -> None:
        if outcome.missing_job_ids:
            metrics.MISSING_JOBS.inc(len(outcome.missing_job_ids))
            log.warning("jobs_missing_from_drs", job_ids=list(outcome.missing_job_ids))
        if outcome.unreadable_job_ids:
            log.error("unreadable_drs_jobs", job_ids=list(outcome.unreadable_job_ids))

    async def _write(
        self, current: Execution, outcome: PollOutcome, jobs: JobsById, timed_out: bool
    ) -> Execution | None:
        """Conditional write; on conflict re-read and re-apply the same DRS answer."""
        if not outcome.changed and self._clock() - self._last_write < self._config.idle_write_seconds:
            return outcome.execution
        for _ in range(MAX_WRITE_ATTEMPTS):
            try:
                lease = self._leases.lease(self._clock()) if self._leases is not None else None
                saved = await self._store.save(outcome.execution, current.Version, lease)
            except WriteConflict:
                metrics.WRITE_CONFLICTS.inc()
                fresh = await self._load()
                if fresh is None or fresh.Status != ExecutionStatus.POLLING:
                    return fresh
                if self._lease_lost(fresh):
                    return None
                current = fresh
                now = self._clock()
                outcome = resolve_timeout(fresh, jobs, now) if timed_out else apply_poll(fresh, jobs, now)
                continue
            self._last_write = self._clock()
            await self._turns.checkpoint()  # write answers land together too
            self._count_transitions(outcome, current.LastPolledTime)
            return saved
        log.error("write_conflicts_exhausted", attempts=MAX_WRITE_ATTEMPTS)
        return await self._load()

    def _lease_lost(self, fresh: Execution) -> bool:
        """Another replica took the execution over (it judged us dead): stop, write nothing."""
        if self._leases is None or fresh.LeaseOwner == self._leases.owner:
            return False
        self._leases.lost(self.execution_id)
        log.warning("lease_lost", owner=fresh.LeaseOwner)
        return True

    def _count_transitions(self, outcome: PollOutcome, previous_poll: float | None) -> None:
        """One ``transitions`` line per written poll: a line costs the loop about the same whatever
        it holds, and a wave's servers tend to change together."""
        if not outcome.transitions:
            return
        if previous_poll is not None:
            metrics.DETECTION_LAG.observe(max(0.0, self._clock() - previous_poll))
        for t in outcome.transitions:
            metrics.TRANSITIONS.labels(t.level, t.new).inc()
        log.info("transitions", changes=[t.log_fields() for t in outcome.transitions])

    def _finished(self, execution: Execution, timed_out: bool) -> None:
        duration = (execution.EndTime or self._clock()) - execution.StartTime
        metrics.EXECUTION_DURATION.labels(execution.ExecutionType, execution.Status).observe(duration)
        if timed_out:
            metrics.TIMEOUTS.labels(execution.Status).inc()
        log.info("execution_finished", status=execution.Status, duration_s=round(duration, 3))
        if self._on_terminal is not None:
            self._on_terminal(execution)
