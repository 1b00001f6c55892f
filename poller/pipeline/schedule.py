"""Schedule: one tracking coroutine per execution the finder saw in POLLING.

A crash in one coroutine is logged and counted and never touches the others; an execution
whose item is malformed, or whose data crashed its tracker (a retry would crash it again), is
left alone for a while instead of being re-read every tick.

Trackers start a slice per loop turn (``Responsiveness.start_per_turn``). A restart that finds
every execution in POLLING would otherwise make all their trackers in one turn and run their
first steps in the next, and every timer of the daemon (batch windows, health beat) would fire
that late (``bench/micro_start.py``; figures: docs/performance.md#loop-responsiveness-the-knobs-and-their-figures).
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
from poller.domain.trackable import DATA_ERRORS
from poller.pipeline.quarantine import QUARANTINE_SECONDS
from poller.pipeline.track import ExecutionTracker
from poller.runtime.responsiveness import Responsiveness

log = structlog.get_logger("poller.pipeline.schedule")

TrackerFactory = Callable[[str], ExecutionTracker]


@dataclass(frozen=True)
class ScheduleReport:
    """What one finder tick changed: the plan's 'successful' and 'failed' counts, and more."""

    scheduled: int
    stopped: int
    failed: int
    running: int
    quarantined: int


class Scheduler:
    def __init__(
        self,
        make_tracker: TrackerFactory,
        quarantine_seconds: float = QUARANTINE_SECONDS,
        start_per_turn: int = Responsiveness.start_per_turn,
    ) -> None:
        self._make_tracker = make_tracker
        self._quarantine_seconds = quarantine_seconds
        self._start_per_turn = start_per_turn
        self._running: dict[str, tuple[ExecutionTracker, asyncio.Task[None]]] = {}
        self._pending: set[str] = set()  # scheduled, not started yet
        self._starting: deque[str] = deque()  # the order they start in (may hold stopped ids)
        self._start_queued = False
        self._quarantine: dict[str, float] = {}
        self._failed_since_report = 0

    @property
    def running(self) -> frozenset[str]:
        """Executions being tracked, started or about to be."""
        return frozenset(self._running.keys() | self._pending)

    def sync(self, polling_ids: Iterable[str], complete: bool = True) -> ScheduleReport:
        """Start coroutines for new POLLING executions; stop those that left POLLING, but only
        when ``polling_ids`` is a complete pass (an absent id may sit on a page that failed)."""
        wanted = set(polling_ids)
        now = time.monotonic()
        self._quarantine = {
            k: t for k, t in self._quarantine.items() if t > now and (k in wanted or not complete)
        }
        new = sorted(wanted - self._running.keys() - self._pending - self._quarantine.keys())
        self._pending.update(new)
        self._starting.extend(new)
        self._queue_start_slice()
        stopped = 0
        for execution_id in list(self.running - wanted) if complete else []:
            self.stop(execution_id)
            stopped += 1
        failed, self._failed_since_report = self._failed_since_report, 0
        tracked = self._count_tracked()
        return ScheduleReport(len(new), stopped, failed, tracked, len(self._quarantine))

    def _count_tracked(self) -> int:
        tracked = len(self._running) + len(self._pending)
        metrics.EXECUTIONS_TRACKED.set(tracked)
        return tracked

    def _queue_start_slice(self) -> None:
        if self._starting and not self._start_queued:
            self._start_queued = True
            asyncio.get_running_loop().call_soon(self._start_slice)

    def _start_slice(self) -> None:
        """Start the next ``start_per_turn`` trackers; their first steps run next turn, with
        the next slice."""
        self._start_queued = False
        for _ in range(min(self._start_per_turn, len(self._starting))):
            execution_id = self._starting.popleft()
            if execution_id in self._pending:  # else stopped before it started
                self._pending.discard(execution_id)
                self._start(execution_id)
        self._queue_start_slice()

    def _start(self, execution_id: str) -> None:
        tracker = self._make_tracker(execution_id)
        task = asyncio.create_task(tracker.run(), name=f"track:{execution_id}")
        self._running[execution_id] = (tracker, task)
        task.add_done_callback(functools.partial(self._done, execution_id))

    def _done(self, execution_id: str, task: asyncio.Task[None]) -> None:
        entry = self._running.get(execution_id)
        if entry is not None and entry[1] is task:
            del self._running[execution_id]
            self._count_tracked()
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._failed_since_report += 1
            if isinstance(error, DATA_ERRORS):  # its data: a retry would crash the same way
                self._quarantine[execution_id] = time.monotonic() + self._quarantine_seconds
                metrics.MALFORMED_ITEMS.inc()
                log.error(
                    "malformed_item",
                    key=execution_id,
                    field="<item>",
                    reason=f"tracker crashed: {error!r}"[:500],
                )
                return
            metrics.POLL_FAILURES.labels("crash").inc()
            log.error("tracker_crashed", execution_id=execution_id, error=repr(error))
        elif entry is not None and entry[0].malformed:
            self._quarantine[execution_id] = time.monotonic() + self._quarantine_seconds
            self._failed_since_report += 1

    def stop(self, execution_id: str) -> None:
        """Cancel a sleeping tracker at once; a busy one finishes its write first; one not
        started yet never starts."""
        if execution_id in self._pending:
            self._pending.discard(execution_id)
            self._count_tracked()
            return
        entry = self._running.get(execution_id)
        if entry is None:
            return
        tracker, task = entry
        tracker.stopping = True
        if tracker.sleeping:
            task.cancel()

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop everything; in-flight writes get ``grace_seconds`` before being cancelled."""
        for execution_id in self.running:
            self.stop(execution_id)
        tasks = [task for _, task in self._running.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        metrics.EXECUTIONS_TRACKED.set(0)
