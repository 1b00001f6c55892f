"""Wake: a DRS launch-result event brings a tracker's next poll forward; DRS's answer decides.

DRS publishes "DRS Source Server Launch Result" to EventBridge when a server's launch ends.
Delivery is best effort (late, duplicated or missing), so an event never changes a status: it
only ends the sleep of the tracker that waits on that job, which then asks DescribeJobs in the
region's next batch, applies the answer and writes it, exactly like a timer poll.

``WakeBoard`` knows which tracker waits on which job (trackers tell it after every poll) and
turns an event into a ``Wake`` or a reason to drop it. A ``Wake`` resolves once the poll it
triggered was written (True) or could not be (False: DRS or DynamoDB failed, the tracker was
stopped); the queue consumer deletes the message only on True, so a lost answer is retried
when the queue delivers the message again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from poller import metrics
from poller.domain.model import Execution
from poller.domain.statuses import TERMINAL_SERVER, ServerStatus, WaveStatus

# Event keys remembered after their poll was written (duplicates of them are dropped), and job
# IDs remembered after their last launch result was known (late events for them are "finished").
REMEMBERED_KEYS = 20_000

_K = TypeVar("_K")
EventKey = tuple[str, str, str]  # job ID, source server ID (or the event id), state


@dataclass
class Wake:
    """One event's request for an early poll; ``written`` resolves when that poll is settled."""

    key: EventKey
    sent_at: float  # when the event was queued (epoch seconds): detection latency starts here
    written: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Alarm:
    """A tracker's sleep that a ``Wake`` can cut short (a timer handle and a future: no task)."""

    def __init__(self) -> None:
        self._pending: list[Wake] = []
        self._sleeper: asyncio.Future[None] | None = None

    @property
    def rung(self) -> bool:
        return bool(self._pending)

    async def sleep(self, seconds: float) -> None:
        """Like ``asyncio.sleep``, but returns early when rung."""
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, sleeper)
        self._sleeper = sleeper
        try:
            await sleeper
        finally:
            handle.cancel()
            self._sleeper = None

    def ring(self, wake: Wake) -> None:
        self._pending.append(wake)
        if self._sleeper is not None:
            _resolve(self._sleeper)

    def take(self) -> list[Wake]:
        """The wakes this poll answers: only those that arrived before it asked DRS."""
        taken, self._pending = self._pending, []
        return taken

    def answered(self, execution: Execution) -> None:
        """A written poll already knows the results some pending wakes announce (they arrived
        while it was asking): they are settled, without a poll of their own."""
        waiting = awaiting_launch_result(execution)
        known, self._pending = partition(self._pending, lambda wake: _answered_by(wake.key, waiting))
        settle(known, True)

    def close(self, finished: bool = False) -> None:
        """The tracker ends. ``finished`` (the execution's terminal status is written): the wakes
        still pending have nothing left to learn, their messages go. Otherwise (stopped, lease
        lost) the queue delivers them again, to this replica's next tracker or another's."""
        settle(self.take(), finished)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _answered_by(key: EventKey, waiting: dict[str, frozenset[str]]) -> bool:
    job_id, server, _ = key
    servers = waiting.get(job_id)
    if servers is None:
        return True  # no server of that job awaits a result any more
    return not server.startswith("event:") and server not in servers


def partition(wakes: list[Wake], answered: Callable[[Wake], bool]) -> tuple[list[Wake], list[Wake]]:
    """(answered, still pending)."""
    yes = [w for w in wakes if answered(w)]
    return yes, [w for w in wakes if not answered(w)]


def settle(wakes: Iterable[Wake], written: bool) -> None:
    for wake in wakes:
        if not wake.written.done():
            wake.written.set_result(written)


def awaiting_launch_result(execution: Execution) -> dict[str, frozenset[str]]:
    """Job ID → source servers of that job whose launch result DRS has not told us yet."""
    waiting: dict[str, set[str]] = {}
    for wave in execution.Waves:
        if wave.Status != WaveStatus.LAUNCHING:
            continue
        for server in wave.Servers:
            if server.RecoveryJobId and server.Status not in TERMINAL_SERVER:
                waiting.setdefault(server.RecoveryJobId, set()).add(server.SourceServerId)
    return {job_id: frozenset(servers) for job_id, servers in waiting.items()}


def launch_results_learned(before: Execution, after: Execution) -> int:
    """Servers whose launch result (LAUNCHED or FAILED) the poll from ``before`` to ``after`` wrote."""
    known = {
        (w.WaveName, s.SourceServerId)
        for w in before.Waves
        for s in w.Servers
        if s.Status in (ServerStatus.LAUNCHED, ServerStatus.FAILED)
    }
    return sum(
        1
        for w in after.Waves
        for s in w.Servers
        if s.Status in (ServerStatus.LAUNCHED, ServerStatus.FAILED)
        and (w.WaveName, s.SourceServerId) not in known
    )


def observe_detection(before: Execution, after: Execution, wakes: list[Wake], now: float) -> None:
    """Detection latency of the launch results a written poll learned, by what triggered it.

    Event: from the earliest event's queueing to the write. Timer: from the previous poll to
    the write (the result appeared somewhere in between, so this bounds it from above).
    """
    learned = launch_results_learned(before, after)
    if not learned:
        return
    if wakes:
        trigger, since = "event", min(w.sent_at for w in wakes)
    elif before.LastPolledTime is not None:
        trigger, since = "timer", before.LastPolledTime
    else:
        return
    for _ in range(learned):
        metrics.LAUNCH_DETECTION.labels(trigger).observe(max(0.0, now - since))


class WakeBoard:
    """Which tracker waits on which job, and what to do with an event for it."""

    def __init__(self, remembered: int = REMEMBERED_KEYS) -> None:
        self._waiting: dict[str, tuple[Alarm, frozenset[str]]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._applied: OrderedDict[EventKey, None] = OrderedDict()
        self._in_flight: set[EventKey] = set()
        self._remembered = remembered

    def watch(self, alarm: Alarm, execution: Execution, watched: frozenset[str]) -> frozenset[str]:
        """Record what ``execution``'s tracker waits on now; returns the job IDs to pass next time."""
        waiting = awaiting_launch_result(execution)
        for job_id in watched - waiting.keys():
            self._drop(alarm, job_id, finished=True)
        for job_id, servers in waiting.items():
            self._waiting[job_id] = (alarm, servers)
        return frozenset(waiting)

    def forget(self, alarm: Alarm, watched: frozenset[str], finished: bool) -> None:
        """The tracker ends (``finished``: its execution is terminal)."""
        for job_id in watched:
            self._drop(alarm, job_id, finished)

    def _drop(self, alarm: Alarm, job_id: str, finished: bool) -> None:
        entry = self._waiting.get(job_id)
        if entry is not None and entry[0] is alarm:  # a newer tracker may have taken the job over
            del self._waiting[job_id]
        if finished:
            _remember(self._finished, job_id, self._remembered)

    def offer(
        self, job_id: str, source_server_id: str | None, state: str, sent_at: float, event_id: str = ""
    ) -> Wake | str:
        """A ``Wake`` handed to the waiting tracker, or why the event is dropped:
        ``duplicate``, ``finished`` (its result is already known) or ``unknown_job``.

        Duplicates are recognised by job, server and state, or by the event's id when it names
        no server (then only EventBridge's own redeliveries of it match)."""
        key = (job_id, source_server_id or f"event:{event_id}", state)
        if key in self._in_flight or key in self._applied:
            return "duplicate"
        entry = self._waiting.get(job_id)
        if entry is None:
            return "finished" if job_id in self._finished else "unknown_job"
        alarm, servers = entry
        if source_server_id is not None and source_server_id not in servers:
            return "finished"
        wake = Wake(key, sent_at)
        self._in_flight.add(key)
        wake.written.add_done_callback(lambda done: self._settled(key, done))
        alarm.ring(wake)
        return wake

    def _settled(self, key: EventKey, done: asyncio.Future[bool]) -> None:
        self._in_flight.discard(key)
        if not done.cancelled() and done.result():
            _remember(self._applied, key, self._remembered)


def _remember(memory: OrderedDict[_K, None], key: _K, limit: int) -> None:
    memory[key] = None
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)
