"""The 30-minute rule: past it, ask DRS for the truth instead of guessing a failure.

Servers DRS reports as finished keep their real outcome; every server that was unfinished when
the timeout fired is marked ``TimeoutDetected``; if any is still unfinished after DRS's answer,
the execution ends as TIMEOUT (left for a person to investigate), never as an arbitrary FAILED.
"""

from __future__ import annotations

from poller.domain.apply import JobsById, PollOutcome, Transition, apply_poll, finish_execution
from poller.domain.completion import server_is_finished
from poller.domain.model import Execution, Wave
from poller.domain.statuses import TERMINAL_EXECUTION, TERMINAL_WAVE, ExecutionStatus, WaveStatus

DEFAULT_TIMEOUT_SECONDS = 1800.0


def is_timed_out(execution: Execution, now: float, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> bool:
    """Older than the timeout since the last DRS launch: in a SEQUENTIAL plan each wave's jobs
    get the full timeout, not what the waves before them left over."""
    if execution.Status in TERMINAL_EXECUTION or _paused(execution):
        return False  # while a wave waits for an operator the timeout does not run
    return now - timeout_reference(execution) > timeout_seconds


def timeout_reference(execution: Execution) -> float:
    started = [w.JobStartedTime for w in execution.Waves if w.JobStartedTime is not None]
    resumed = [w.ResumedTime for w in execution.Waves if w.ResumedTime is not None]
    return max([execution.StartTime, *started, *resumed])


def _paused(execution: Execution) -> bool:
    return any(w.Status == WaveStatus.PAUSED for w in execution.Waves)


def resolve_timeout(execution: Execution, jobs: JobsById, now: float) -> PollOutcome:
    """Apply DRS's current truth, then close the execution: real outcome or TIMEOUT."""
    if execution.Status in TERMINAL_EXECUTION:
        return PollOutcome(execution)
    if _paused(execution):  # paused since the poll decided: no timeout, an ordinary poll
        return apply_poll(execution, jobs, now)
    unfinished = {
        s.SourceServerId for s in execution.servers() if not server_is_finished(s, execution.ExecutionType)
    }
    polled = apply_poll(execution, jobs, now)
    transitions = list(polled.transitions)
    waves = [_close_wave(w, unfinished, execution, transitions) for w in polled.execution.Waves]
    closed = polled.execution.model_copy(update={"Waves": waves, "TimeoutDetected": True})
    if closed.Status in TERMINAL_EXECUTION:
        final = closed
    else:
        final = finish_execution(closed, now)
        if final.Status != closed.Status:
            transitions.append(
                Transition("execution", execution.ExecutionId, "Status", closed.Status, final.Status)
            )
    if final.Status == ExecutionStatus.TIMEOUT:
        final = final.model_copy(update={"StatusReason": "timed out; DRS still reports unfinished servers"})
    return PollOutcome(final, tuple(transitions), polled.missing_job_ids, polled.unreadable_job_ids)


def _close_wave(
    wave: Wave, unfinished: set[str], execution: Execution, transitions: list[Transition]
) -> Wave:
    servers = [
        s.model_copy(update={"TimeoutDetected": True}) if s.SourceServerId in unfinished else s
        for s in wave.Servers
    ]
    still_open = [s.SourceServerId for s in servers if not server_is_finished(s, execution.ExecutionType)]
    if wave.Status in TERMINAL_WAVE or (not still_open and wave.Status != WaveStatus.PENDING):
        return wave.model_copy(update={"Servers": servers})
    transitions.append(Transition("wave", wave.WaveName, "Status", wave.Status, WaveStatus.TIMEOUT))
    reason = f"timed out with {len(still_open)} unfinished servers: {', '.join(still_open)}"
    return wave.model_copy(update={"Servers": servers, "Status": WaveStatus.TIMEOUT, "StatusReason": reason})
