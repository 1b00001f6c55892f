"""The launcher's capacity rules: 402/409 wait (never FAILED), waiting waves, split waves."""

from __future__ import annotations

from botocore.exceptions import ClientError

from poller.domain.capacity import Limit, Wait
from poller.domain.model import Execution, Server
from poller.domain.statuses import ExecutionStatus, ServerStatus, WaveStatus
from poller.pipeline.launch import (
    REJECTED,
    RETRY,
    STARTED,
    UNKNOWN,
    WAIT,
    StartResult,
    classify_start_error,
    mark_waiting,
    record_results,
)
from tests.unit.builders import START, execution, server_id, wave

WAITING = "waiting for DRS capacity: 20 of 20 jobs active in 123456789012/us-east-1"


def _error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "StartRecovery",
    )


def test_capacity_and_conflict_refusals_wait_other_refusals_fail() -> None:
    assert classify_start_error(_error("ServiceQuotaExceededException", 402)) == WAIT
    assert classify_start_error(_error("ConflictException", 409)) == WAIT
    assert classify_start_error(_error("SomethingNew", 402)) == WAIT
    assert classify_start_error(_error("ThrottlingException", 429)) == RETRY
    assert classify_start_error(_error("ValidationException", 400)) == REJECTED
    assert classify_start_error(_error("AccessDeniedException", 403)) == REJECTED
    assert classify_start_error(_error("InternalServerException", 500)) == UNKNOWN


def _pending(n_servers: int = 2, **wave_fields: object) -> Execution:
    servers = [Server(SourceServerId=server_id(i)) for i in range(1, n_servers + 1)]
    w = wave(servers, status=WaveStatus.PENDING).model_copy(update=wave_fields)
    return execution([w], status=ExecutionStatus.PENDING)


def _claimed(token: str = "t1", **fields: object) -> Execution:
    return _pending(
        LaunchToken=token, LaunchTokens=[token], LaunchClaimedAt=START, LaunchAttempts=1, **fields
    )


def test_a_refused_start_releases_the_claim_waits_and_is_not_an_attempt() -> None:
    result = StartResult(WAIT, "t1", message=f"{WAITING[:26]}DRS refused StartRecovery: x")
    after = record_results(_claimed(), {0: result}, START + 5, 5, 120.0, 600.0)
    (w,) = after.Waves
    assert w.Status == WaveStatus.PENDING and after.Status == ExecutionStatus.PENDING
    assert w.LaunchClaimedAt is None
    assert w.LaunchAttempts == 0
    assert w.CapacityWaitSince == START + 5
    assert w.StatusReason == result.message


def test_a_refusal_past_the_wait_cap_fails_the_wave_with_the_reason() -> None:
    result = StartResult(WAIT, "t1", message=WAITING)
    after = record_results(_claimed(CapacityWaitSince=START), {0: result}, START + 601, 5, 120.0, 600.0)
    (w,) = after.Waves
    assert w.Status == WaveStatus.FAILED and after.Status == ExecutionStatus.FAILED
    assert w.StatusReason == (
        "DRS capacity did not free up within 600 s: 20 of 20 jobs active in 123456789012/us-east-1"
    )
    assert all(s.Status == ServerStatus.FAILED for s in w.Servers)


def test_a_split_wave_records_each_servers_job_and_fails_the_servers_of_a_part_not_started() -> None:
    result = StartResult(
        STARTED,
        "t1",
        job_id="drsjob-00000000000000001",
        message="part 2 of 2: ValidationException: m",
        server_jobs={server_id(1): "drsjob-00000000000000001"},
    )
    after = record_results(_claimed(), {0: result}, START + 1, 5, 120.0)
    (w,) = after.Waves
    assert w.Status == WaveStatus.LAUNCHING and after.Status == ExecutionStatus.POLLING
    first, second = w.Servers
    assert first.RecoveryJobId == "drsjob-00000000000000001"
    assert second.RecoveryJobId is None and second.Status == ServerStatus.FAILED
    assert second.FailureReason == "StartRecovery failed: part 2 of 2: ValidationException: m"


def test_mark_waiting_writes_the_first_wait_and_a_change_of_limit_only() -> None:
    jobs = Wait(Limit.JOBS, WAITING)
    first = mark_waiting(_pending(), {0: jobs}, START + 1)
    assert first.Waves[0].CapacityWaitSince == START + 1
    assert first.Waves[0].StatusReason == WAITING

    fewer = Wait(Limit.JOBS, WAITING.replace("20 of 20", "19 of 20"))
    assert mark_waiting(first, {0: fewer}, START + 2) == first  # same limit: no write

    servers = Wait(
        Limit.SERVERS,
        "waiting for DRS capacity: 500 of 500 source servers in active jobs in 123456789012/us-east-1",
    )
    moved = mark_waiting(first, {0: servers}, START + 3)
    assert moved.Waves[0].StatusReason == servers.reason
    assert moved.Waves[0].CapacityWaitSince == START + 1  # the queue place is kept
