"""Fold one DRS answer into an execution: monotone, absorbing, and honest about gaps.

A server never moves back to an earlier phase, terminal states never change, and a job that
DRS did not return leaves its servers exactly as they were (reported in ``missing_job_ids``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from poller.domain.completion import execution_outcome, outcome_reason, server_is_finished, settle_wave
from poller.domain.mapping import ServerObservation, UnreadableJobError, observe_server
from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import (
    POST_LAUNCH_RANK,
    SERVER_RANK,
    SUCCESSFUL_POST_LAUNCH,
    TERMINAL_EXECUTION,
    TERMINAL_POST_LAUNCH,
    TERMINAL_SERVER,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.targets import DrsTarget

JobsById = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Transition:
    """One observable change, for logs, metrics and benchmarks."""

    level: str  # "server" | "wave" | "execution"
    subject: str
    attribute: str
    old: str | None
    new: str

    def log_fields(self) -> dict[str, str | None]:
        """The transition as one entry of a ``transitions`` log line."""
        return {
            "scope": self.level,
            "subject": self.subject,
            "attribute": self.attribute,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class PollOutcome:
    execution: Execution
    transitions: tuple[Transition, ...] = ()
    missing_job_ids: tuple[str, ...] = ()
    unreadable_job_ids: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.transitions)


@dataclass
class _Collector:
    transitions: list[Transition] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def jobs_to_request(execution: Execution) -> dict[DrsTarget, list[str]]:
    """Account-region → job IDs of the servers that still need DRS's word."""
    wanted: dict[DrsTarget, list[str]] = {}
    for wave in execution.Waves:
        if wave.Status != WaveStatus.LAUNCHING:
            continue
        for server in wave.Servers:
            if server.RecoveryJobId and not server_is_finished(server, execution.ExecutionType):
                ids = wanted.setdefault(wave.target(), [])
                if server.RecoveryJobId not in ids:
                    ids.append(server.RecoveryJobId)
    return wanted


def apply_poll(execution: Execution, jobs: JobsById, now: float) -> PollOutcome:
    """The execution after DRS answered with ``jobs`` (job ID → describe_jobs item) at ``now``."""
    if execution.Status in TERMINAL_EXECUTION:
        return PollOutcome(execution)
    acc = _Collector()
    waves = [_apply_wave(w, jobs, execution.ExecutionType, now, acc) for w in execution.Waves]
    updated = execution.model_copy(update={"Waves": waves, "LastPolledTime": now})
    updated = finish_execution(updated, now, acc)
    return PollOutcome(updated, tuple(acc.transitions), tuple(acc.missing), tuple(acc.unreadable))


def finish_execution(execution: Execution, now: float, acc: _Collector | None = None) -> Execution:
    """Set the execution's status from its waves, with EndTime once it is terminal."""
    status = execution_outcome(execution)
    if status == execution.Status:
        return execution
    if acc is not None:
        acc.transitions.append(
            Transition("execution", execution.ExecutionId, "Status", execution.Status, status)
        )
    update: dict[str, Any] = {"Status": status}
    if status in TERMINAL_EXECUTION:
        update["EndTime"] = now
        update["StatusReason"] = outcome_reason(execution) or execution.StatusReason
    return execution.model_copy(update=update)


def _apply_wave(
    wave: Wave, jobs: JobsById, execution_type: ExecutionType, now: float, acc: _Collector
) -> Wave:
    if wave.Status != WaveStatus.LAUNCHING:
        return wave
    servers = [_apply_server(s, jobs, execution_type, now, acc) for s in wave.Servers]
    settled = settle_wave(wave.model_copy(update={"Servers": servers}), execution_type)
    if settled.Status != wave.Status:
        acc.transitions.append(Transition("wave", wave.WaveName, "Status", wave.Status, settled.Status))
    return settled


def _apply_server(
    server: Server, jobs: JobsById, execution_type: ExecutionType, now: float, acc: _Collector
) -> Server:
    job_id = server.RecoveryJobId
    if job_id is None or server_is_finished(server, execution_type):
        return server
    job = jobs.get(job_id)
    if job is None:
        acc.missing.append(job_id)
        return server
    try:
        seen = observe_server(job, server.SourceServerId)
    except UnreadableJobError:
        acc.unreadable.append(job_id)
        return server
    return _advance(server, seen, execution_type, now, acc)


def _advance(
    server: Server, seen: ServerObservation, execution_type: ExecutionType, now: float, acc: _Collector
) -> Server:
    update: dict[str, Any] = {"LastPolledTime": now, "PollAttempts": server.PollAttempts + 1}
    status = server.Status
    if status not in TERMINAL_SERVER and SERVER_RANK[seen.status] > SERVER_RANK[status]:
        status = seen.status
        update["Status"] = status
        acc.transitions.append(Transition("server", server.SourceServerId, "Status", server.Status, status))
        if status == ServerStatus.LAUNCHED:
            update["LaunchedTime"] = now
        if seen.failure_reason:
            update["FailureReason"] = seen.failure_reason
    if seen.instance_id and server.InstanceId is None:
        update["InstanceId"] = seen.instance_id
    if status == ServerStatus.LAUNCHED and _tracks_post_launch(seen, execution_type):
        _advance_post_launch(server, seen, update, acc)
        if execution_type == ExecutionType.RECOVERY and update.get("PostLaunchActionsStatus") in (
            SUCCESSFUL_POST_LAUNCH
        ):
            update["UsableTime"] = now  # recovery-time evidence: when a RECOVERY server became usable
    return server.model_copy(update=update)


def _tracks_post_launch(seen: ServerObservation, execution_type: ExecutionType) -> bool:
    """A DRILL is done at LAUNCHED and never polled again, so only real runs are worth recording:
    an inferred NOT_STARTED / NONE would freeze as a misleading snapshot."""
    if seen.post_launch is None:
        return False
    if execution_type == ExecutionType.RECOVERY:
        return True
    return seen.post_launch not in (PostLaunchStatus.NOT_STARTED, PostLaunchStatus.NONE)


def _advance_post_launch(
    server: Server, seen: ServerObservation, update: dict[str, Any], acc: _Collector
) -> None:
    old = server.PostLaunchActionsStatus
    new = seen.post_launch
    assert new is not None
    if old in TERMINAL_POST_LAUNCH:
        return
    if new == PostLaunchStatus.NONE and old == PostLaunchStatus.IN_PROGRESS:
        # runs were seen running: an answer without runs is not proof that none were configured
        return
    if old is None or POST_LAUNCH_RANK[new] > POST_LAUNCH_RANK[old]:
        update["PostLaunchActionsStatus"] = new
        acc.transitions.append(
            Transition("server", server.SourceServerId, "PostLaunchActionsStatus", old, new)
        )
