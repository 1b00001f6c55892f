"""Which phase an execution is in, and how long to wait before asking DRS again.

The interval follows the most urgent unfinished server: STARTED is the critical, short
transition between DRS accepting a job and launching it, so it outranks everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from poller.domain.completion import server_is_finished
from poller.domain.model import Execution, Wave
from poller.domain.statuses import ExecutionType, ServerStatus

PHASE_COMPLETED = "COMPLETED"
PHASE_POST_LAUNCH = "POST_LAUNCH"

# Most urgent first: the execution's phase is the first one any unfinished server is in.
PHASE_PRIORITY: tuple[str, ...] = (
    ServerStatus.STARTED,
    ServerStatus.IN_PROGRESS,
    PHASE_POST_LAUNCH,
    ServerStatus.LAUNCHING,
    ServerStatus.PENDING,
)


@dataclass(frozen=True)
class PollingIntervals:
    """Seconds between polls per phase; the defaults follow measured DRS phase lengths."""

    pending: float = 45.0
    started: float = 15.0
    in_progress: float = 30.0
    launching: float = 15.0
    post_launch: float = 30.0
    default: float = 30.0

    def for_phase(self, phase: str) -> float:
        table = {
            ServerStatus.PENDING: self.pending,
            ServerStatus.STARTED: self.started,
            ServerStatus.IN_PROGRESS: self.in_progress,
            ServerStatus.LAUNCHING: self.launching,
            PHASE_POST_LAUNCH: self.post_launch,
        }
        return table.get(phase, self.default)


DEFAULT_INTERVALS = PollingIntervals()


def detect_execution_phase(waves: Iterable[Wave], execution_type: ExecutionType = ExecutionType.DRILL) -> str:
    """The most urgent phase of any unfinished server, or COMPLETED when none is left."""
    present: set[str] = set()
    for wave in waves:
        for server in wave.Servers:
            if server_is_finished(server, execution_type):
                continue
            if server.Status == ServerStatus.LAUNCHED:
                present.add(PHASE_POST_LAUNCH)
            else:
                present.add(server.Status)
    for phase in PHASE_PRIORITY:
        if phase in present:
            return str(phase)
    return PHASE_COMPLETED


def poll_interval(execution: Execution, intervals: PollingIntervals = DEFAULT_INTERVALS) -> float:
    return intervals.for_phase(detect_execution_phase(execution.Waves, execution.ExecutionType))


def seconds_until_next_poll(
    execution: Execution, now: float, intervals: PollingIntervals = DEFAULT_INTERVALS, lead: float = 0.0
) -> float:
    """Zero when a poll is due; an execution never polled is due at once.

    ``LastPolledTime`` is when DRS's answer arrived, and a question waits up to the batch
    window before it is sent. Asking ``lead`` (the window) early keeps answers one interval
    apart instead of up to interval + window: without it a change could wait a whole window
    longer than its phase's interval to be seen. The lead is capped at half the interval.
    """
    if execution.LastPolledTime is None:
        return 0.0
    interval = poll_interval(execution, intervals)
    due = execution.LastPolledTime + interval - min(lead, interval / 2)
    return max(0.0, due - now)


def should_poll_now(
    execution: Execution, now: float, intervals: PollingIntervals = DEFAULT_INTERVALS
) -> bool:
    return seconds_until_next_poll(execution, now, intervals) == 0.0
