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
    if wave.Status in TERMINAL_WAVE or wave.Status in (WaveStatus.PENDING, WaveStatus.PAUSED):
        return wave
    if not all(server_is_finished(s, execution_type) for s in wave.Servers):
        return wave
    failed = [s.SourceServerId for s in wave.Servers if not server_succeeded(s, execution_type)]
    if not failed:
        return wave.model_copy(update={"Status": WaveStatus.COMPLETED, "FailedServerIds": []})
    optional = set(wave.OptionalServerIds or ())
    if all(f in optional for f in failed):  # only optional servers failed: the wave did its job
        reason = f"{len(failed)} optional servers did not recover: {', '.join(failed)}"
        return wave.model_copy(
            update={"Status": WaveStatus.COMPLETED, "FailedServerIds": failed, "StatusReason": reason}
        )
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
    ran = [s for s in statuses if s != WaveStatus.SKIPPED]  # a skipped wave is not recovered
    if ran and all(s == WaveStatus.FAILED for s in ran):
        return ExecutionStatus.FAILED
    if all(s == WaveStatus.CANCELLED for s in statuses):
        return ExecutionStatus.CANCELLED
    return ExecutionStatus.PARTIAL


def outcome_reason(execution: Execution) -> str | None:
    """Why a finished execution ended as it did, where its waves' statuses alone do not say it:
    failed optional servers of a COMPLETED execution, waves an operator skipped."""
    parts = []
    skipped = [w.WaveName for w in execution.Waves if w.Status == WaveStatus.SKIPPED]
    if skipped:
        parts.append(f"waves skipped by an operator: {', '.join(skipped)}")
    optional = [f for w in execution.Waves if w.Status == WaveStatus.COMPLETED for f in w.FailedServerIds]
    if optional:
        parts.append(f"{len(optional)} optional servers did not recover: {', '.join(optional)}")
    from poller.domain.trackable import MAX_REASON_CHARS  # here: trackable imports this module

    reason = "; ".join(parts)
    # bounded like every reason the item holds (poller.domain.itemsize counts it at that size)
    return (reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "...") or None
