"""Status vocabularies, with the order in which a status may only move forward."""

from enum import StrEnum


class ExecutionType(StrEnum):
    DRILL = "DRILL"
    RECOVERY = "RECOVERY"


class ServerStatus(StrEnum):
    """Our view of one source server's launch, derived from DRS job and launch status."""

    LAUNCHING = "LAUNCHING"  # job requested, DRS not yet asked
    PENDING = "PENDING"
    STARTED = "STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    LAUNCHED = "LAUNCHED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"


class PostLaunchStatus(StrEnum):
    """Post-launch actions (SSM) of a launched server; only RECOVERY waits for them."""

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    NONE = "NONE"  # the job finished and DRS reported no post-launch action runs


class WaveStatus(StrEnum):
    PENDING = "PENDING"  # not launched yet (sequential plans)
    LAUNCHING = "LAUNCHING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"  # PauseBefore: waits for an operator's resume before it is launched
    SKIPPED = "SKIPPED"  # an operator skipped it (failed or paused); its dependents go on


class ExecutionStatus(StrEnum):
    PENDING = "PENDING"  # accepted, DRS jobs not started yet
    POLLING = "POLLING"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


SERVER_RANK: dict[ServerStatus, int] = {
    ServerStatus.LAUNCHING: 0,
    ServerStatus.PENDING: 1,
    ServerStatus.STARTED: 2,
    ServerStatus.IN_PROGRESS: 3,
    ServerStatus.LAUNCHED: 4,
    ServerStatus.FAILED: 4,
    ServerStatus.TERMINATED: 4,
}
TERMINAL_SERVER = frozenset({ServerStatus.LAUNCHED, ServerStatus.FAILED, ServerStatus.TERMINATED})

POST_LAUNCH_RANK: dict[PostLaunchStatus, int] = {
    PostLaunchStatus.NOT_STARTED: 0,
    PostLaunchStatus.IN_PROGRESS: 1,
    PostLaunchStatus.COMPLETED: 2,
    PostLaunchStatus.FAILED: 2,
    PostLaunchStatus.NONE: 2,
}
TERMINAL_POST_LAUNCH = frozenset({PostLaunchStatus.COMPLETED, PostLaunchStatus.FAILED, PostLaunchStatus.NONE})
SUCCESSFUL_POST_LAUNCH = frozenset({PostLaunchStatus.COMPLETED, PostLaunchStatus.NONE})

TERMINAL_WAVE = frozenset(
    {
        WaveStatus.COMPLETED,
        WaveStatus.PARTIAL,
        WaveStatus.FAILED,
        WaveStatus.TIMEOUT,
        WaveStatus.CANCELLED,
        WaveStatus.SKIPPED,
    }
)
TERMINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.PARTIAL,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMEOUT,
        ExecutionStatus.CANCELLED,
    }
)


class CleanupStatus(StrEnum):
    """Termination of the recovery instances an execution launched (absent on an item = NOT_REQUESTED)."""

    NOT_REQUESTED = "NOT_REQUESTED"
    PENDING = "PENDING"  # requested (or due by CleanupAfterSeconds); no TERMINATE job yet
    IN_PROGRESS = "IN_PROGRESS"  # TerminateRecoveryInstances called; its jobs are being tracked
    COMPLETED = "COMPLETED"  # every launched instance terminated
    FAILED = "FAILED"  # finished, at least one instance not terminated (CleanupFailureReason says why)
