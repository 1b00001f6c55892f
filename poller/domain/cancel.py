"""Cancel: the transition a client's cancel request makes, as a pure function over the model.

Only a PENDING or POLLING execution can be cancelled. Its unfinished waves become CANCELLED with
the reason; finished waves keep their outcome (what DRS did stays on record). Writing it is the
caller's: the result is saved on the Version it was computed from, like any other transition.
"""

from __future__ import annotations

from poller.domain.model import Execution
from poller.domain.statuses import (
    TERMINAL_EXECUTION,
    TERMINAL_WAVE,
    ExecutionStatus,
    ExecutionType,
    WaveStatus,
)

CANCEL_REASON = "cancelled by request"


class CancelRefused(ValueError):
    """The execution cannot be cancelled as asked; the message says why."""


class AlreadyFinished(CancelRefused):
    """The execution is already terminal: there is nothing left to cancel."""


class TerminateNotAllowed(CancelRefused):
    """Terminating recovery instances is only for drills: a RECOVERY's instances are the workload."""


def cancel_execution(execution: Execution, now: float, terminate: bool = False) -> Execution:
    """The cancelled execution, or CancelRefused when it cannot be cancelled as asked."""
    if execution.Status in TERMINAL_EXECUTION:
        raise AlreadyFinished(
            f"execution is already {execution.Status}; only PENDING or POLLING can be cancelled"
        )
    if terminate and execution.ExecutionType != ExecutionType.DRILL:
        raise TerminateNotAllowed("terminateRecoveryInstances is only for DRILL executions")
    waves = [
        w
        if w.Status in TERMINAL_WAVE
        else w.model_copy(update={"Status": WaveStatus.CANCELLED, "StatusReason": CANCEL_REASON})
        for w in execution.Waves
    ]
    return execution.model_copy(
        update={
            "Waves": waves,
            "Status": ExecutionStatus.CANCELLED,
            "EndTime": now,
            "StatusReason": CANCEL_REASON,
        }
    )
