"""Schedule: one tracking coroutine per execution the finder saw in POLLING.

A crash in one coroutine is logged and counted and never touches the others; an execution
whose item is malformed is left alone for a while instead of being re-read every tick.

Coroutines start a slice per loop turn. A restart that finds 10,000 executions in POLLING
would otherwise run 10,000 first steps in one turn (114 ms measured), and every timer of the
daemon (batch windows, health beat) would fire that late.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from poller import metrics
from poller.track import ExecutionTracker

log = structlog.get_logger("poller.schedule")

TrackerFactory = Callable[[str], ExecutionTracker]

# How long a malformed item is left alone before it is read again (tracker and launcher alike):
# long enough not to re-read, re-log and re-count it every tick, short enough to see a repair.
QUARANTINE_SECONDS = 300.0

# Coroutines started per loop turn: ~11 µs of first step each, so ~3 ms a turn.
START_PER_TURN = 256


@dataclass(frozen=True)
class ScheduleReport:
    """What one finder tick changed: the plan's 'successful' and 'failed' counts, and more."""

    scheduled: int
    stopped: int
    failed: int
    running: int
    quarantined: int


class Scheduler:
    def __init__(self, make_tracker: TrackerFactory, quarantine_seconds: float = QUARANTINE_SECONDS) -> None:
        self._make_tracker = make_tracker
        self._quarantine_seconds = quarantine_seconds
        self._running: dict[str, tuple[ExecutionTracker, asyncio.Task[None] | None]] = {}
        self._starting: deque[str] = deque()  # in _running, task not created yet
        self._start_queued = False
        self._quarantine: dict[str, float] = {}
        self._failed_since_report = 0

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def sync(self, polling_ids: Iterable[str], complete: bool = True) -> ScheduleReport:
        """Start coroutines for new POLLING executions; stop those that left POLLING, but only
        when ``polling_ids`` is a complete pass (an absent id may sit on a page that failed)."""
        wanted = set(polling_ids)
        now = time.monotonic()
        self._quarantine = {
            k: t for k, t in self._quarantine.items() if t > now and (k in wanted or not complete)
        }
        scheduled = 0
        for execution_id in sorted(wanted - self._running.keys() - self._quarantine.keys()):
            self._start(execution_id)
            scheduled += 1
        stopped = 0
        for execution_id in list(self._running.keys() - wanted) if complete else []:
            self.stop(execution_id)
            stopped += 1
        failed, self._failed_since_report = self._failed_since_report, 0
        metrics.EXECUTIONS_TRACKED.set(len(self._running))
        return ScheduleReport(scheduled, stopped, failed, len(self._running), len(self._quarantine))

    def _start(self, execution_id: str) -> None:
        self._running[execution_id] = (self._make_tracker(execution_id), None)
        self._starting.append(execution_id)
        if not self._start_queued:
            self._start_queued = True
            asyncio.get_running_loop().call_soon(self._start_slice)

    def _start_slice(self) -> None:
        """Create the next ``START_PER_TURN`` tasks; their first steps run next turn, with
        the next slice's creation."""
        self._start_queued = False
        for _ in range(min(START_PER_TURN, len(self._starting))):
            execution_id = self._starting.popleft()
            entry = self._running.get(execution_id)
            if entry is None or entry[1] is not None:
                continue  # stopped before it started
            task = asyncio.create_task(entry[0].run(), name=f"track:{execution_id}")
            self._running[execution_id] = (entry[0], task)
            task.add_done_callback(functools.partial(self._done, execution_id))
        if self._starting:
            self._start_queued = True
            asyncio.get_running_loop().call_soon(self._start_slice)

    def _done(self, execution_id: str, task: asyncio.Task[None]) -> None:
        entry = self._running.get(execution_id)
        if entry is not None and entry[1] is task:
            del self._running[execution_id]
            metrics.EXECUTIONS_TRACKED.set(len(self._running))
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._failed_since_report += 1
            metrics.POLL_FAILURES.labels("crash").inc()
            log.error("tracker_crashed", execution_id=execution_id, error=repr(error))
        elif entry is not None and entry[0].malformed:
            self._quarantine[execution_id] = time.monotonic() + self._quarantine_seconds
            self._failed_since_report += 1

    def stop(self, execution_id: str) -> None:
        """Cancel a sleeping tracker at once; a busy one finishes its write first."""
        entry = self._running.get(execution_id)
        if entry is None:
            return
        tracker, task = entry
        if task is None:  # not started yet: nothing to cancel or wait for
            del self._running[execution_id]
            metrics.EXECUTIONS_TRACKED.set(len(self._running))
            return
        tracker.stopping = True
        if tracker.sleeping:
            task.cancel()

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop everything; in-flight writes get ``grace_seconds`` before being cancelled."""
        for execution_id in list(self._running):
            self.stop(execution_id)
        tasks = [task for _, task in self._running.values() if task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        metrics.EXECUTIONS_TRACKED.set(0)
