"""Turns: cap the poll work one event-loop turn does, so the loop stays responsive in bursts.

asyncio runs every callback that is ready at the start of a turn before it looks at timers or
sockets again. When hundreds of polls become ready together (one DescribeJobs answer for a
region's executions, a burst of write answers), all their apply-and-write steps run in that one
turn, and every timer (health beat, batch windows, the lag probe) fires that late (figures:
docs/performance.md#loop-responsiveness-the-knobs-and-their-figures).

So each heavy step first passes ``checkpoint()``. The first step of a slice starts its clock;
later ones go on while the slice has spent less than ``seconds``; the rest wait in line. When
the loop comes round again (a callback queued at the slice's start runs), the head of the
line is woken in order and the first of it opens the next slice. The same work gets done, in slices, and
in order: a step that waits is never overtaken by newcomers, so none is starved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from poller import metrics
from poller.runtime.responsiveness import Responsiveness


class TurnBudget:
    """A per-turn allowance of checkpointed work; one per event loop (the daemon's)."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.perf_counter,
        wake_per_turn: int = Responsiveness.wake_per_turn,
    ) -> None:
        self._seconds = seconds
        self._wake_per_turn = wake_per_turn
        self._clock = clock
        self._slice_started: float | None = None
        self._line: list[asyncio.Future[None]] = []  # waiting for the next slice, in order
        self._ahead: list[asyncio.Future[None]] = []  # woken but out of budget again: go first
        self._woken: set[asyncio.Future[None]] = set()  # released, not yet resumed
        self._boundary_queued = False

    async def checkpoint(self) -> None:
        """Return at once while this slice has budget left; otherwise wait for a later turn."""
        if self._seconds <= 0:
            return
        if not self._line and not self._ahead and not self._woken and self._within_slice():
            return
        await self._wait_in(self._line)
        while not self._within_slice():
            await self._wait_in(self._ahead)

    def _within_slice(self) -> bool:
        now = self._clock()
        if self._slice_started is None:
            self._slice_started = now
            self._queue_boundary()
            return True
        return now - self._slice_started < self._seconds

    async def _wait_in(self, queue: list[asyncio.Future[None]]) -> None:
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        self._queue_boundary()
        metrics.TURN_DEFERRALS.inc()
        try:
            await turn
        finally:  # resumed, or cancelled: a cancelled turn left in line is skipped when woken
            self._woken.discard(turn)

    def _queue_boundary(self) -> None:
        if not self._boundary_queued:
            self._boundary_queued = True
            asyncio.get_running_loop().call_soon(self._boundary)

    def _boundary(self) -> None:
        """The loop came round (timers and sockets were served): close the slice and wake the
        head of the line; the rest stays in line for the next turn."""
        self._boundary_queued = False
        self._slice_started = None
        line = self._ahead + self._line
        self._ahead, self._line = [], line[self._wake_per_turn :]
        for turn in line[: self._wake_per_turn]:
            if not turn.done():
                turn.set_result(None)
                self._woken.add(turn)
        if self._line:
            self._queue_boundary()
