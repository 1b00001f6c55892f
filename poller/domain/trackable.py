"""Whether an execution item can be tracked at all: what a retry can never fix.

An item can be well-formed (it reads into an Execution) and still be impossible to poll or to
write back: a job ID DRS would refuse (``^drsjob-[0-9a-zA-Z]{17}$``, which makes DRS refuse the
whole shared DescribeJobs of the region), a wave in a region this poller does not serve, a
counter DynamoDB cannot store once incremented, a lease field of the wrong type. Such an item is
quarantined like an unreadable one (logged once with its key, counted, left untouched) instead
of failing every poll, or every batch it joins.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from poller.domain.apply import jobs_to_request
from poller.domain.model import Execution, MalformedItemError
from poller.domain.statuses import TERMINAL_WAVE, ExecutionStatus, WaveStatus

#: DRS's JobID shape (botocore's drs model); matched in full, so a trailing newline is refused too
JOB_ID_PATTERN = re.compile(r"drsjob-[0-9a-zA-Z]{17}")
#: DynamoDB keeps 38 significant digits: a counter above this cannot be incremented exactly
MAX_COUNTER = 10**38 - 2
#: Reasons written into an item are cut to this length, so its worst-case size stays known
MAX_REASON_CHARS = 256
#: A server's FailureReason is shorter: a wave's reason is copied onto each of its (up to 200) servers
MAX_SERVER_REASON_CHARS = 96

#: What code raises on data it cannot handle (decimal.Rounded is an ArithmeticError, an unserved
#: region a LookupError, ...): an item that crashes its tracker or launch with one of these will
#: crash it again on every retry, so it is quarantined instead of retried.
DATA_ERRORS: tuple[type[Exception], ...] = (
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
)


def is_job_id(value: object) -> bool:
    """True for a string DRS accepts as a job ID (full match, no trailing newline)."""
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(value) is not None


def untrackable(execution: Execution, regions: Collection[str] | None = None) -> MalformedItemError | None:
    """Why this execution can never be polled or written, or None when it can.

    ``regions`` are the regions whose DRS this poller serves (None: any). Only the jobs the
    tracker would ask about are checked: a finished server's job ID is never sent again.
    """
    key = execution.ExecutionId
    if execution.Version > MAX_COUNTER:
        return MalformedItemError(key, "Version", f"{execution.Version:.3e} cannot be incremented exactly")
    for w, wave in enumerate(execution.Waves):
        for s, server in enumerate(wave.Servers):
            if server.PollAttempts > MAX_COUNTER:
                return MalformedItemError(
                    key, f"Waves.{w}.Servers.{s}.PollAttempts", "too large to be incremented exactly"
                )
    wanted = jobs_to_request(execution)
    for w, wave in enumerate(execution.Waves):
        if wave.target() not in wanted:
            continue
        if regions is not None and wave.Region not in regions:
            return MalformedItemError(
                key, f"Waves.{w}.Region", f"region {wave.Region!r} is not served by this poller"
            )
        for s, server in enumerate(wave.Servers):
            job_id = server.RecoveryJobId
            if job_id is not None and job_id in wanted[wave.target()] and not is_job_id(job_id):
                return MalformedItemError(
                    key,
                    f"Waves.{w}.Servers.{s}.RecoveryJobId",
                    f"{_preview(job_id)} is not a DRS job ID ({JOB_ID_PATTERN.pattern})",
                )
    # LeaseOwner and LeaseExpiry of the wrong type never get here: the model refuses them
    # (MalformedItemError when the item is read).
    return None


def abandoned(execution: Execution, reason: str, now: float) -> Execution:
    """The execution FAILED because its item can never be written (DynamoDB refuses it as invalid):
    ending it is the only way it does not stay PENDING or POLLING forever."""
    waves = [
        w if w.Status in TERMINAL_WAVE else w.model_copy(update={"Status": WaveStatus.FAILED})
        for w in execution.Waves
    ]
    return execution.model_copy(
        update={
            "Waves": waves,
            "Status": ExecutionStatus.FAILED,
            "EndTime": now,
            "StatusReason": reason[:MAX_REASON_CHARS],
        }
    )


def _preview(value: str, limit: int = 40) -> str:
    """A bad value as it can be logged: repr (newlines visible), cut short (IDs can be any length)."""
    text = repr(value[:limit])
    return text if len(value) <= limit else f"{text}… ({len(value)} characters)"
