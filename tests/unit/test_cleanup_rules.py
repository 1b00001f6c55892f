"""Drill cleanup rules (poller/domain/cleanup.py): exhaustive properties over random executions and
random histories of claims, answers, crashes, adoptions and TERMINATE job outcomes, against a
model of DRS that counts TerminateRecoveryInstances per instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.domain import cleanup as rules
from poller.domain.cleanup import (
    TERMINATE_BATCH,
    CleanupRefused,
    TerminateResult,
    cleanup_due_at,
    cleanup_status,
    request_cleanup,
    start_due_cleanup,
    termination_batches,
)
from poller.domain.itemsize import ITEM_LIMIT_BYTES
from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import (
    TERMINAL_EXECUTION,
    CleanupStatus,
    ExecutionStatus,
    ExecutionType,
    ServerStatus,
    WaveStatus,
)
from poller.domain.trackable import MAX_SERVER_REASON_CHARS
from tests.unit.builders import START, instance_id, job_id, server_id

REGIONS = ("us-east-1", "us-west-2")
TIMEOUT = 100.0
MAX_ATTEMPTS = 3


@st.composite
def executions(draw: st.DrawFn, execution_type: ExecutionType | None = None) -> Execution:
    kind = execution_type or draw(st.sampled_from(ExecutionType))
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    n = 0
    waves = []
    for w, size in enumerate(sizes):
        servers = []
        for _ in range(size):
            n += 1
            launched = draw(st.booleans())
            servers.append(
                Server(
                    SourceServerId=server_id(n),
                    RecoveryJobId=job_id(w + 1),
                    Status=ServerStatus.LAUNCHED if launched else ServerStatus.FAILED,
                    InstanceId=instance_id(n) if launched else None,
                    LaunchedTime=START + 10 if launched else None,
                )
            )
        waves.append(
            Wave(
                WaveName=f"W{w}",
                Region=draw(st.sampled_from(REGIONS)),
                AccountId=draw(st.sampled_from((None, "111122223333", "444455556666"))),
                Status=WaveStatus.COMPLETED,
                Servers=servers,
            )
        )
    return Execution(
        ExecutionId="exec-1",
        PlanId="plan-1",
        ExecutionType=kind,
        Status=draw(st.sampled_from(sorted(TERMINAL_EXECUTION))),
        StartTime=START,
        EndTime=START + 60,
        CleanupAfterSeconds=draw(st.none() | st.floats(0, 1000)),
        Waves=waves,
    )


@dataclass
class FakeDrs:
    """DRS as far as cleanup sees it: TERMINATE jobs and how often each instance was targeted."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    terminate_calls: dict[str, int] = field(default_factory=dict)
    now: float = START + 1000  # the test's clock: only moves forward, across restarts

    def terminate(self, instances: list[str], sources: list[str]) -> str:
        assert 1 <= len(instances) <= TERMINATE_BATCH
        jid = job_id(9000 + len(self.jobs))
        for i in instances:
            self.terminate_calls[i] = self.terminate_calls.get(i, 0) + 1
        self.jobs[jid] = {
            "jobID": jid,
            "type": "TERMINATE",
            "status": "STARTED",
            "participatingServers": [
                {"sourceServerID": s, "recoveryInstanceID": i, "launchStatus": "PENDING"}
                for i, s in zip(instances, sources, strict=True)
            ],
        }
        return jid

    def progress(self, fail: bool) -> None:
        for job in self.jobs.values():
            job["status"] = "COMPLETED"
            for p in job["participatingServers"]:
                p["launchStatus"] = "FAILED" if fail else "TERMINATED"


ANSWERS = ("started", "lost", "unknown_no_job", "retry", "rejected")
Step = tuple[str, str, bool]  # (action, answer, crash / fail)
steps = st.lists(
    st.tuples(st.sampled_from(("call", "adopt", "track")), st.sampled_from(ANSWERS), st.booleans()),
    max_size=12,
)


def _call(execution: Execution, drs: FakeDrs, answer: str, crash: bool, now: float) -> Execution:
    batches = termination_batches(execution)
    tokens = {f"t{now}-{k}": refs for k, (_, refs) in enumerate(batches)}
    execution = rules.claim(execution, tokens, now)
    results = []
    for token, batch in tokens.items():
        servers = [execution.Waves[i].Servers[j] for i, j in batch]
        assert all(s.CleanupToken == token for s in servers)
        assert len({execution.Waves[i].target() for i, _ in batch}) == 1
        if answer in ("started", "lost"):
            jid = drs.terminate([s.InstanceId or "" for s in servers], [s.SourceServerId for s in servers])
            kind = rules.STARTED if answer == "started" else rules.UNKNOWN
            results.append(TerminateResult(kind, token, job_id=jid if answer == "started" else None))
        else:
            kind = {"unknown_no_job": rules.UNKNOWN, "retry": rules.RETRY, "rejected": rules.REJECTED}[answer]
            results.append(TerminateResult(kind, token, message=answer))
    if crash:  # the daemon died before recording: the claims stay, the answers are lost
        return execution
    return rules.record(execution, results, now, MAX_ATTEMPTS)


def run(execution: Execution, history: list[Step], drs: FakeDrs) -> Execution:
    for action, answer, flag in history:
        drs.now += 1
        now = drs.now
        if action == "call":
            execution = _call(execution, drs, answer, flag, now)
        elif action == "adopt":
            drs.now += TIMEOUT
            now = drs.now
            stale = rules.stale_claims(execution, now, TIMEOUT)
            execution = rules.adopt_terminate_jobs(execution, stale, drs.jobs.values(), now, MAX_ATTEMPTS)
        else:
            if flag:
                drs.progress(fail=answer == "rejected")
            execution = rules.apply_terminate_jobs(execution, drs.jobs, now)
    return execution


def drive_to_the_end(execution: Execution, drs: FakeDrs) -> Execution:
    """Restart after the history: adopt stale claims, then call and track with a healthy DRS."""
    for _ in range(MAX_ATTEMPTS + 3):
        execution = run(execution, [("adopt", "started", False), ("call", "started", False)], drs)
        drs.progress(fail=False)
        execution = run(execution, [("track", "started", False)], drs)
    return execution


def check_invariants(execution: Execution, drs: FakeDrs) -> None:
    ours = {s.InstanceId for s in execution.servers() if s.InstanceId}
    assert set(drs.terminate_calls) <= ours, "only instances this execution launched are terminated"
    assert all(n == 1 for n in drs.terminate_calls.values()), (
        f"an instance terminated twice: {drs.terminate_calls}"
    )
    for s in execution.servers():
        if s.InstanceId is None:
            assert s.CleanupJobId is None and s.TerminatedTime is None and s.CleanupToken is None
        if s.TerminatedTime is not None:
            assert s.CleanupJobId is not None and s.CleanupFailureReason is None
    status = cleanup_status(execution)
    targets = [s for s in execution.servers() if s.InstanceId]
    if status == CleanupStatus.COMPLETED:
        assert all(s.TerminatedTime is not None for s in targets)
    if status == CleanupStatus.FAILED:
        assert all(rules.is_done(s) for s in targets) and any(s.TerminatedTime is None for s in targets)
    if status in rules.ACTIVE:
        assert targets and not all(rules.is_done(s) for s in targets)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(executions(ExecutionType.DRILL), steps)
def test_a_history_with_crashes_never_terminates_an_instance_twice_and_ends(
    execution: Execution, history: list[Step]
) -> None:
    drs = FakeDrs()
    execution = request_cleanup(execution, START + 500)
    execution = run(execution, history, drs)
    check_invariants(execution, drs)
    execution = drive_to_the_end(execution, drs)
    check_invariants(execution, drs)
    assert cleanup_status(execution) in rules.FINISHED
    assert cleanup_due_at(execution) is None
    if cleanup_status(execution) == CleanupStatus.COMPLETED:
        assert set(drs.terminate_calls) == {s.InstanceId for s in execution.servers() if s.InstanceId}


@settings(max_examples=200, deadline=None)
@given(executions(), st.floats(START, START + 5000))
def test_only_a_finished_drill_with_cleanup_after_seconds_is_due_by_timer(
    execution: Execution, now: float
) -> None:
    due = cleanup_due_at(execution)
    if execution.ExecutionType == ExecutionType.RECOVERY or execution.CleanupAfterSeconds is None:
        assert due is None
        assert start_due_cleanup(execution, now) == execution
    else:
        assert execution.EndTime is not None
        assert due == execution.EndTime + execution.CleanupAfterSeconds
        started = start_due_cleanup(execution, now)
        assert (cleanup_status(started) != CleanupStatus.NOT_REQUESTED) == (now >= due)


@settings(max_examples=200, deadline=None)
@given(executions(ExecutionType.RECOVERY), st.none() | st.text(max_size=12))
def test_a_recovery_is_only_cleaned_up_with_its_own_id_as_confirmation(
    execution: Execution, confirm: str | None
) -> None:
    with pytest.raises(CleanupRefused, match="RECOVERY"):
        request_cleanup(execution, START + 100, confirm)
    requested = request_cleanup(execution, START + 100, execution.ExecutionId)
    assert cleanup_status(requested) in (rules.ACTIVE | {CleanupStatus.COMPLETED})


@settings(max_examples=200, deadline=None)
@given(executions(ExecutionType.DRILL))
def test_batches_are_per_account_region_at_most_200_and_cover_every_launched_instance(
    execution: Execution,
) -> None:
    requested = request_cleanup(execution, START + 100)
    batches = termination_batches(requested)
    flat = [ref for _, refs in batches for ref in refs]
    assert len(flat) == len(set(flat))
    assert all(1 <= len(refs) <= TERMINATE_BATCH for _, refs in batches)
    for target, refs in batches:
        assert all(requested.Waves[i].target() == target for i, _ in refs)
    launched = {
        (i, j) for i, w in enumerate(requested.Waves) for j, s in enumerate(w.Servers) if s.InstanceId
    }
    assert set(flat) == launched
    if not launched:
        assert cleanup_status(requested) == CleanupStatus.COMPLETED


def test_a_batch_of_450_instances_is_split_200_200_50() -> None:
    servers = [
        Server(
            SourceServerId=server_id(n),
            RecoveryJobId=job_id(1),
            Status=ServerStatus.LAUNCHED,
            InstanceId=instance_id(n),
        )
        for n in range(450)
    ]
    waves = [
        Wave(
            WaveName=f"W{k}",
            Region="us-east-1",
            Status=WaveStatus.COMPLETED,
            Servers=servers[k * 150 : k * 150 + 150],
        )
        for k in range(3)
    ]
    execution = Execution(
        ExecutionId="e",
        PlanId="p",
        ExecutionType=ExecutionType.DRILL,
        Status=ExecutionStatus.COMPLETED,
        StartTime=START,
        EndTime=START + 1,
        Waves=waves,
    )
    assert [len(refs) for _, refs in termination_batches(request_cleanup(execution, START + 2))] == [
        200,
        200,
        50,
    ]


def test_a_running_execution_and_a_completed_cleanup_are_refused_with_a_reason() -> None:
    server = Server(SourceServerId=server_id(1), Status=ServerStatus.LAUNCHED, InstanceId=instance_id(1))
    running = Execution(
        ExecutionId="e",
        PlanId="p",
        ExecutionType=ExecutionType.DRILL,
        Status=ExecutionStatus.POLLING,
        StartTime=START,
        Waves=[Wave(WaveName="W", Region="us-east-1", Servers=[server])],
    )
    with pytest.raises(CleanupRefused, match="once it has ended"):
        request_cleanup(running, START)
    done = running.model_copy(
        update={"Status": ExecutionStatus.COMPLETED, "CleanupStatus": CleanupStatus.COMPLETED}
    )
    with pytest.raises(CleanupRefused, match="already COMPLETED"):
        request_cleanup(done, START)


def test_a_failed_cleanup_is_retried_only_for_the_instances_not_terminated() -> None:
    ok = Server(
        SourceServerId=server_id(1),
        Status=ServerStatus.LAUNCHED,
        InstanceId=instance_id(1),
        TerminatedTime=START,
    )
    bad = Server(
        SourceServerId=server_id(2),
        Status=ServerStatus.LAUNCHED,
        InstanceId=instance_id(2),
        CleanupFailureReason="x",
        CleanupAttempts=3,
    )
    execution = Execution(
        ExecutionId="e",
        PlanId="p",
        ExecutionType=ExecutionType.DRILL,
        Status=ExecutionStatus.COMPLETED,
        StartTime=START,
        EndTime=START,
        CleanupStatus=CleanupStatus.FAILED,
        Waves=[Wave(WaveName="W", Region="us-east-1", Servers=[ok, bad])],
    )
    again = request_cleanup(execution, START + 5)
    assert cleanup_status(again) == CleanupStatus.PENDING
    assert [ref for _, refs in termination_batches(again) for ref in refs] == [(0, 1)]


def _launched_execution(servers: int, **fields: object) -> Execution:
    waves = [
        Wave(
            WaveName=f"W{w}",
            Region="us-east-1",
            Status=WaveStatus.COMPLETED,
            Servers=[
                Server(
                    SourceServerId=server_id(w * 1000 + k),
                    RecoveryJobId=job_id(w),
                    Status=ServerStatus.LAUNCHED,
                    InstanceId=instance_id(w * 1000 + k),
                    LaunchedTime=START + 600,
                    LastPolledTime=START + 600,
                    PollAttempts=12,
                )
                for k in range(min(200, servers - 200 * w))
            ],
        )
        for w in range((servers + 199) // 200)
    ]
    return Execution(
        ExecutionId="e",
        PlanId="p",
        ExecutionType=ExecutionType.DRILL,
        Status=ExecutionStatus.COMPLETED,
        StartTime=START,
        EndTime=START + 700,
        Waves=waves,
        **fields,  # type: ignore[arg-type]
    )


def test_a_cleanup_that_could_outgrow_the_item_is_refused_up_front_and_the_timer_marks_it_failed() -> None:
    small = _launched_execution(200)
    assert rules.worst_cleanup_item_bytes(small) < ITEM_LIMIT_BYTES
    assert cleanup_status(request_cleanup(small, START + 800)) == CleanupStatus.PENDING
    large = _launched_execution(1000, CleanupAfterSeconds=0)
    assert rules.worst_cleanup_item_bytes(large) > ITEM_LIMIT_BYTES
    with pytest.raises(CleanupRefused, match="item limit"):
        request_cleanup(large, START + 800)
    timed = start_due_cleanup(large, START + 800)
    assert cleanup_status(timed) == CleanupStatus.FAILED
    assert "item limit" in (timed.CleanupStatusReason or "")
    assert cleanup_due_at(timed) is None and termination_batches(timed) == []


@settings(max_examples=100, deadline=None)
@given(executions(ExecutionType.DRILL), st.text(min_size=0, max_size=2000))
def test_failure_reasons_are_capped_whatever_drs_says(execution: Execution, message: str) -> None:
    execution = request_cleanup(execution, START + 1)
    tokens = {"t": [ref for _, refs in termination_batches(execution) for ref in refs][:200]}
    execution = rules.claim(execution, tokens, START + 2)
    execution = rules.record(execution, [TerminateResult(rules.REJECTED, "t", message=message)], START + 3, 3)
    for s in execution.servers():
        assert s.CleanupFailureReason is None or len(s.CleanupFailureReason) <= MAX_SERVER_REASON_CHARS
