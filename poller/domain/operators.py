"""Operators in control between waves: pause before a wave, resume, retry or skip a failed wave.

Pure rules over the models; the launcher and the API only call them and write the result with
their usual Version-conditional update, so two replicas (or a retried HTTP request) applying
the same action race on one write and the loser re-reads and re-decides.

- **Which waves may start** (:func:`launch_gate`): a PENDING wave waits while a dependency is
  unfinished; a dependency that ended other than COMPLETED or SKIPPED blocks it (it is FAILED,
  never launched); a wave with ``PauseBefore`` that was not resumed yet goes PAUSED instead of
  being launched; anything else starts.
- **Resume** (:func:`resume`): PAUSED → PENDING with ``ResumedTime``; the launcher starts it.
- **Retry** (:func:`retry_wave`): a PARTIAL or FAILED wave goes back to PENDING with only its
  failed servers reset (no job ID; the old jobs are kept in the wave's ``PreviousRecoveryJobIds``):
  the launcher starts one new DRS job for exactly the servers without one; launched servers keep
  theirs. At most ``MAX_WAVE_RETRIES`` per wave, so the item's worst-case size stays known.
- **Skip** (:func:`skip_wave`): a PARTIAL, FAILED or PAUSED wave becomes SKIPPED, which
  satisfies its dependents.
- After a retry or a skip, the dependents that had been failed unlaunched because of that wave
  go back to PENDING, and a finished execution is reopened (POLLING) when a wave has work again.

Every action is idempotent: asked again once its effect is in place it changes nothing and
says so (``changed`` False); asked when the state does not allow it, it is refused with the
reason (``refusal``), which the API answers as 409.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from poller.domain.completion import execution_outcome, outcome_reason, server_succeeded
from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import (
    TERMINAL_EXECUTION,
    TERMINAL_WAVE,
    ExecutionStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.trackable import MAX_REASON_CHARS

#: A dependency in one of these lets its dependents start.
SATISFIED_DEPENDENCY = frozenset({WaveStatus.COMPLETED, WaveStatus.SKIPPED})
RETRYABLE_WAVE = frozenset({WaveStatus.PARTIAL, WaveStatus.FAILED})
SKIPPABLE_WAVE = frozenset({WaveStatus.PARTIAL, WaveStatus.FAILED, WaveStatus.PAUSED})
#: Executions an operator may retry or skip a wave of (CANCELLED was ended by a person; in
#: TIMEOUT DRS may still be launching, so a new job could launch a server twice).
OPERABLE_EXECUTION = frozenset({ExecutionStatus.POLLING, ExecutionStatus.PARTIAL, ExecutionStatus.FAILED})
#: Retries per wave: each keeps one more job ID in the item, whose worst case is checked when the
#: plan is created (poller.domain.itemsize).
MAX_WAVE_RETRIES = 5

# The launcher's claim bookkeeping; a retried wave starts a fresh claim history, so a claim of
# an earlier attempt can never adopt that attempt's job for the retried servers.
_LAUNCH_STATE_RESET: dict[str, Any] = {
    "LaunchToken": None,
    "LaunchTokens": None,
    "LaunchClaimedAt": None,
    "LaunchFirstClaimedAt": None,
    "LaunchAttempts": None,
}


class UnknownWave(LookupError):
    def __init__(self, execution_id: str, wave_name: str) -> None:
        super().__init__(f"execution {execution_id!r} has no wave {wave_name!r}")
        self.wave_name = wave_name


class Gate(StrEnum):
    WAIT = "WAIT"  # a dependency is unfinished (or paused)
    BLOCKED = "BLOCKED"  # a dependency ended neither COMPLETED nor SKIPPED
    PAUSE = "PAUSE"  # PauseBefore and not resumed yet
    GO = "GO"


@dataclass(frozen=True)
class LaunchGate:
    gate: Gate
    dependency: str | None = None  # BLOCKED: the first dependency at fault
    dependency_status: WaveStatus | None = None


@dataclass(frozen=True)
class OperatorDecision:
    """The execution after an operator's action; unchanged (the same object) when refused."""

    execution: Execution
    changed: bool
    waves: tuple[str, ...] = ()  # the waves the action applied to
    refusal: str | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def dependencies(wave: Wave) -> list[str]:
    """The names of the waves this wave waits for (``DependsOn``; SEQUENTIAL plans chain them)."""
    return wave.depends_on()


def must_pause(wave: Wave) -> bool:
    return wave.PauseBefore is True and wave.ResumedTime is None


def launch_gate(wave: Wave, statuses: Mapping[str, WaveStatus]) -> LaunchGate:
    """What a PENDING wave may do now, given every wave's status by name (unknown names ignored)."""
    deps = [d for d in dependencies(wave) if d in statuses]
    if any(statuses[d] not in TERMINAL_WAVE for d in deps):
        return LaunchGate(Gate.WAIT)
    for d in deps:
        if statuses[d] not in SATISFIED_DEPENDENCY:
            return LaunchGate(Gate.BLOCKED, d, statuses[d])
    if must_pause(wave):
        return LaunchGate(Gate.PAUSE)
    return LaunchGate(Gate.GO)


def servers_to_launch(wave: Wave) -> list[Server]:
    """The servers the wave's next StartRecovery names: those without a job, which is every server
    of a wave not launched yet and, after a retry, exactly the retried ones."""
    return [s for s in wave.Servers if s.RecoveryJobId is None]


def pause_reason(execution: Execution) -> str | None:
    paused = [w.WaveName for w in execution.Waves if w.Status == WaveStatus.PAUSED]
    if not paused:
        return None
    reason = (
        f"paused before wave {', '.join(paused)}: waiting for an operator "
        f"(POST /executions/{execution.ExecutionId}/resume, or .../waves/{{name}}/skip, or cancel)"
    )
    return _capped(reason)


def pause_waves(execution: Execution, indexes: Sequence[int], now: float) -> Execution:
    """The launcher's PAUSE: the waves wait, the execution says so in its StatusReason."""
    if not indexes:
        return execution
    waves = list(execution.Waves)
    for i in indexes:
        waves[i] = waves[i].model_copy(
            update={
                "Status": WaveStatus.PAUSED,
                "PausedTime": now,
                "StatusReason": "paused before launch: waiting for an operator to resume or skip it",
            }
        )
    paused = execution.model_copy(update={"Waves": waves})
    return paused.model_copy(update={"StatusReason": pause_reason(paused)})


def is_paused(execution: Execution) -> bool:
    return any(w.Status == WaveStatus.PAUSED for w in execution.Waves)


def resume(execution: Execution, wave_name: str | None, now: float) -> OperatorDecision:
    """Every PAUSED wave (or the named one) back to PENDING, marked resumed, for the launcher."""
    targets = [w for w in execution.Waves if wave_name is None or w.WaveName == wave_name]
    if wave_name is not None and not targets:
        raise UnknownWave(execution.ExecutionId, wave_name)
    paused = {w.WaveName for w in targets if w.Status == WaveStatus.PAUSED}
    if not paused:
        if any(w.ResumedTime is not None for w in targets):
            return OperatorDecision(execution, changed=False, waves=_resumed_names(targets))
        if execution.Status in TERMINAL_EXECUTION:
            return _refuse(execution, f"execution is already {execution.Status}; nothing is paused")
        if wave_name is not None:
            return _refuse(execution, f"wave {wave_name!r} is {targets[0].Status}, not PAUSED")
        return _refuse(execution, "no wave is PAUSED")
    waves = [
        w.model_copy(update={"Status": WaveStatus.PENDING, "ResumedTime": now, "StatusReason": None})
        if w.WaveName in paused
        else w
        for w in execution.Waves
    ]
    resumed = execution.model_copy(update={"Waves": waves})
    resumed = resumed.model_copy(update={"StatusReason": pause_reason(resumed)})
    return OperatorDecision(resumed, changed=True, waves=tuple(sorted(paused)))


def retry_wave(execution: Execution, wave_name: str, now: float) -> OperatorDecision:
    """A failed wave back to PENDING with only its failed servers to launch again."""
    wave = _wave(execution, wave_name)
    if wave.RetryCount and wave.Status in (WaveStatus.PENDING, WaveStatus.LAUNCHING):
        return OperatorDecision(execution, changed=False, waves=(wave_name,))  # under way
    refusal = _operable(execution, "retried") or _retryable(execution, wave)
    if refusal:
        return _refuse(execution, refusal)
    failed = [s.SourceServerId for s in wave.Servers if not server_succeeded(s, execution.ExecutionType)]
    if not failed:
        return _refuse(execution, f"wave {wave_name!r} has no failed server to retry")
    if (wave.RetryCount or 0) >= MAX_WAVE_RETRIES:
        return _refuse(
            execution,
            f"wave {wave_name!r} was retried {wave.RetryCount} times, the most an execution keeps "
            "(its item's size is bounded); skip the wave or start a new execution",
        )
    retried = set(failed)
    servers = [_fresh_server(s) if s.SourceServerId in retried else s for s in wave.Servers]
    old_jobs = [s.RecoveryJobId for s in wave.Servers if s.SourceServerId in retried and s.RecoveryJobId]
    # one job per attempt, so at most one per retry; capped all the same, as the worst case counts
    previous = list(dict.fromkeys([*(wave.PreviousRecoveryJobIds or []), *old_jobs]))[-MAX_WAVE_RETRIES:]
    attempt = (wave.RetryCount or 0) + 1
    reason = f"retry {attempt}: {len(failed)} failed servers to launch again: {', '.join(failed)}"
    new_wave = wave.model_copy(
        update={
            **_LAUNCH_STATE_RESET,
            "Servers": servers,
            "Status": WaveStatus.PENDING,
            "FailedServerIds": [],
            "RetryCount": attempt,
            "PreviousRecoveryJobIds": previous or None,
            "StatusReason": _capped(reason),
        }
    )
    return _decided(execution, wave, new_wave, now)


def skip_wave(execution: Execution, wave_name: str, now: float) -> OperatorDecision:
    """A failed or paused wave SKIPPED: its dependents may start."""
    wave = _wave(execution, wave_name)
    if wave.Status == WaveStatus.SKIPPED:
        return OperatorDecision(execution, changed=False, waves=(wave_name,))
    refusal = _operable(execution, "skipped")
    if refusal is None and wave.Status not in SKIPPABLE_WAVE:
        refusal = f"wave {wave_name!r} is {wave.Status}; only a PARTIAL, FAILED or PAUSED wave can be skipped"
    if refusal:
        return _refuse(execution, refusal)
    was = f"was {wave.Status}" + (f": {wave.StatusReason}" if wave.StatusReason else "")
    new_wave = wave.model_copy(
        update={"Status": WaveStatus.SKIPPED, "StatusReason": _capped(f"skipped by an operator ({was})")}
    )
    return _decided(execution, wave, new_wave, now)


def reopen_blocked(before: Execution, waves: Sequence[Wave], wave_name: str) -> list[Wave]:
    """``waves`` with those that ``before`` shows failed unlaunched because of ``wave_name``
    (directly or through another such wave) back to PENDING, as if never touched."""
    statuses = {w.WaveName: w.Status for w in before.Waves}
    downstream = {wave_name}
    changed = True
    while changed:  # dependents of dependents: to the fixpoint
        changed = False
        for w in before.Waves:
            if w.WaveName not in downstream and downstream & set(dependencies(w)):
                downstream.add(w.WaveName)
                changed = True
    blocked = {
        w.WaveName
        for w in before.Waves
        if w.WaveName != wave_name and w.WaveName in downstream and _never_launched(w, statuses)
    }
    return [_reopened(w) if w.WaveName in blocked else w for w in waves]


def settle_after_operator(execution: Execution, before: Execution, now: float) -> Execution:
    """The execution's status from its waves after an operator's action: POLLING again (EndTime
    cleared) while a wave has work, else the terminal outcome."""
    status = execution_outcome(execution)
    update: dict[str, Any] = {"Status": status}
    if status == ExecutionStatus.POLLING:
        update.update(EndTime=None, StatusReason=pause_reason(execution))
    else:
        reason = outcome_reason(execution)
        update.update(EndTime=before.EndTime or now, StatusReason=reason and _capped(reason))
    return execution.model_copy(update=update)


# ---- helpers --------------------------------------------------------------------------------
def _wave(execution: Execution, wave_name: str) -> Wave:
    for w in execution.Waves:
        if w.WaveName == wave_name:
            return w
    raise UnknownWave(execution.ExecutionId, wave_name)


def _refuse(execution: Execution, reason: str) -> OperatorDecision:
    return OperatorDecision(execution, changed=False, refusal=reason)


def _resumed_names(waves: Sequence[Wave]) -> tuple[str, ...]:
    return tuple(sorted(w.WaveName for w in waves if w.ResumedTime is not None))


def _operable(execution: Execution, verb: str) -> str | None:
    if execution.Status in OPERABLE_EXECUTION:
        return None
    return (
        f"execution is {execution.Status}; a wave can only be {verb} while the execution is "
        "POLLING, PARTIAL or FAILED"
    )


def _retryable(execution: Execution, wave: Wave) -> str | None:
    name = wave.WaveName
    if wave.Status not in RETRYABLE_WAVE:
        hint = {
            WaveStatus.PAUSED: "resume or skip it",
            WaveStatus.PENDING: "it was not launched yet",
            WaveStatus.LAUNCHING: "it is still running",
            WaveStatus.COMPLETED: "nothing failed",
        }.get(wave.Status, "only a PARTIAL or FAILED wave can be retried")
        return f"wave {name!r} is {wave.Status}: {hint}"
    statuses = {w.WaveName: w.Status for w in execution.Waves}
    if _never_launched(wave, statuses):
        gate = launch_gate(wave.model_copy(update={"PauseBefore": None}), statuses)
        return (
            f"wave {name!r} was never launched: wave {gate.dependency!r} ended {gate.dependency_status}; "
            f"retry or skip {gate.dependency!r} instead"
        )
    return None


def _never_launched(wave: Wave, statuses: Mapping[str, WaveStatus]) -> bool:
    """FAILED while a dependency is not satisfied: the launcher failed it without launching
    (a wave only starts once every dependency is COMPLETED or SKIPPED, and those never change)."""
    if wave.Status != WaveStatus.FAILED:
        return False
    deps = [d for d in dependencies(wave) if d in statuses]
    return any(statuses[d] not in SATISFIED_DEPENDENCY for d in deps)


def _capped(reason: str) -> str:
    """Reasons are bounded like every other the item holds (the plan's worst case counts them)."""
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


def _fresh_server(server: Server) -> Server:
    return server.model_copy(
        update={
            "Status": ServerStatus.LAUNCHING,
            "RecoveryJobId": None,
            "InstanceId": None,
            "LaunchedTime": None,
            "LastPolledTime": None,
            "PollAttempts": 0,
            "PostLaunchActionsStatus": None,
            "TimeoutDetected": False,
            "FailureReason": None,
        }
    )


def _reopened(wave: Wave) -> Wave:
    return wave.model_copy(
        update={
            **_LAUNCH_STATE_RESET,
            "Servers": [_fresh_server(s) for s in wave.Servers],
            "Status": WaveStatus.PENDING,
            "FailedServerIds": [],
            "StatusReason": None,
        }
    )


def _decided(execution: Execution, wave: Wave, new_wave: Wave, now: float) -> OperatorDecision:
    replaced = [new_wave if w.WaveName == wave.WaveName else w for w in execution.Waves]
    waves = reopen_blocked(execution, replaced, wave.WaveName)
    settled = settle_after_operator(execution.model_copy(update={"Waves": waves}), execution, now)
    return OperatorDecision(settled, changed=True, waves=(wave.WaveName,))
