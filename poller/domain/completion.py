"""When a server, a wave and an execution are finished, and with which outcome.

DRILL: a server is done once DRS launched it (or failed it). RECOVERY: a launched server is
done only when its post-launch actions finished too; a failed post-launch action counts
against the wave, so the outcome says which servers did not recover cleanly.
"""

from __future__ import annotations

from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import (
    SUCCESSFUL_POST_LAUNCH,
    TERMINAL_POST_LAUNCH,
    TERMINAL_SERVER,
    TERMINAL_WAVE,
    ExecutionStatus,
    ExecutionType,
    ServerStatus,
    WaveStatus,
)


def server_is_finished(server: Server, execution_type: ExecutionType) -> bool:
    if server.Status not in TERMINAL_SERVER:
        return False
    if server.Status != ServerStatus.LAUNCHED or execution_type == ExecutionType.DRILL:
        return True
    return server.PostLaunchActionsStatus in TERMINAL_POST_LAUNCH


def server_succeeded(server: Server, execution_type: ExecutionType) -> bool:
    if server.Status != ServerStatus.LAUNCHED:
        return False
    return execution_type == ExecutionType.DRILL or server.PostLaunchActionsStatus in SUCCESSFUL_POST_LAUNCH


def settle_wave(wave: Wave, execution_type: ExecutionType) -> Wave:
    """The wave's status from its servers; terminal and not-yet-launched waves stay as they are."""
    if wave.Status in TERMINAL_WAVE or wave.Status == WaveStatus.PENDING:
        return wave
    if not all(server_is_finished(s, execution_type) for s in wave.Servers):
        return wave
    failed = [s.SourceServerId for s in wave.Servers if not server_succeeded(s, execution_type)]
    if not failed:
        return wave.model_copy(update={"Status": WaveStatus.COMPLETED, "FailedServerIds": []})
    status = WaveStatus.FAILED if len(failed) == len(wave.Servers) else WaveStatus.PARTIAL
    reason = f"{len(failed)} of {len(wave.Servers)} servers did not recover: {', '.join(failed)}"
    return wave.model_copy(update={"Status": status, "FailedServerIds": failed, "StatusReason": reason})


def execution_outcome(execution: Execution) -> ExecutionStatus:
    """POLLING while a wave is unfinished; otherwise the combined outcome of the waves."""
    statuses = [w.Status for w in execution.Waves]
    if not statuses or any(s not in TERMINAL_WAVE for s in statuses):
        return ExecutionStatus.POLLING
    if WaveStatus.TIMEOUT in statuses:
        return ExecutionStatus.TIMEOUT
    if all(s == WaveStatus.COMPLETED for s in statuses):
        return ExecutionStatus.COMPLETED
    if all(s == WaveStatus.FAILED for s in statuses):
        return ExecutionStatus.FAILED
    if all(s == WaveStatus.CANCELLED for s in statuses):
        return ExecutionStatus.CANCELLED
    return ExecutionStatus.PARTIAL
