"""The seed plan's Layer 1 cases for the pure rules, named after the plan's numbers.

Deviations from the plan (see docs/seed-conformance.md): time is passed in as ``now``; DRS
answers use the real botocore ``drs`` shapes and IDs; a server DRS launched is ``LAUNCHED``
(never ``COMPLETED``); a running DRS job is ``STARTED`` with launchStatus ``IN_PROGRESS``.
"""

from __future__ import annotations

from poller.domain.apply import apply_poll
from poller.domain.phases import detect_execution_phase, should_poll_now
from poller.domain.statuses import (
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.timeout import is_timed_out, resolve_timeout

from .builders import (
    INSTANCE_ID_PATTERN,
    JOB_ID_PATTERN,
    SOURCE_SERVER_ID_PATTERN,
    START,
    answer,
    drs_job,
    instance_id,
    one_wave,
    participant,
    server,
    wave,
)

S = ServerStatus
NOW = START + 600


def test_builders_use_real_drs_id_shapes() -> None:
    job = drs_job(1, "PENDING", [participant(1, instance=True)])
    assert JOB_ID_PATTERN.match(job["jobID"])
    assert SOURCE_SERVER_ID_PATTERN.match(job["participatingServers"][0]["sourceServerID"])
    assert INSTANCE_ID_PATTERN.match(job["participatingServers"][0]["recoveryInstanceID"])


# --- 1.2 adaptive polling -------------------------------------------------------------------


def test_1_2_1_pending_phase_waits_45_seconds() -> None:
    execution_ = one_wave([S.PENDING, S.PENDING], last_polled=NOW - 40)
    assert not should_poll_now(execution_, NOW)
    assert not should_poll_now(execution_, NOW + 4.9)  # 44.9 s after the last poll
    assert should_poll_now(execution_, NOW + 5)  # exactly 45 s: due
    assert should_poll_now(execution_, NOW + 10)  # the plan's 50 s


def test_1_2_2_started_phase_waits_15_seconds() -> None:
    execution_ = one_wave([S.STARTED, S.PENDING], last_polled=NOW - 12)
    assert not should_poll_now(execution_, NOW)
    assert should_poll_now(execution_, NOW + 3)  # exactly 15 s
    assert should_poll_now(execution_, NOW + 5)  # the plan's 17 s


def test_1_2_3_in_progress_phase_waits_30_seconds() -> None:
    execution_ = one_wave([S.IN_PROGRESS, S.IN_PROGRESS], last_polled=NOW - 25)
    assert not should_poll_now(execution_, NOW)
    assert not should_poll_now(execution_, NOW + 4.9)
    assert should_poll_now(execution_, NOW + 5)  # exactly 30 s
    assert should_poll_now(execution_, NOW + 10)  # the plan's 35 s


def test_1_2_4_phase_detection_picks_most_urgent_unfinished_server() -> None:
    def phase(*waves_statuses: list[ServerStatus]) -> str:
        n = iter(range(1, 100))
        waves = [
            wave([server(next(n), s) for s in statuses], name=f"Wave-{i}")
            for i, statuses in enumerate(waves_statuses)
        ]
        return detect_execution_phase(waves, ExecutionType.DRILL)

    assert phase([S.PENDING, S.PENDING]) == "PENDING"
    assert phase([S.STARTED, S.PENDING]) == "STARTED"
    assert phase([S.IN_PROGRESS, S.IN_PROGRESS]) == "IN_PROGRESS"
    # STARTED outranks everything, also IN_PROGRESS and across waves
    assert phase([S.IN_PROGRESS, S.STARTED]) == "STARTED"
    assert phase([S.IN_PROGRESS], [S.LAUNCHED, S.STARTED]) == "STARTED"
    assert phase([S.PENDING, S.IN_PROGRESS]) == "IN_PROGRESS"
    assert phase([S.PENDING, S.LAUNCHING]) == "LAUNCHING"
    assert phase([S.LAUNCHED, S.FAILED], [S.TERMINATED]) == "COMPLETED"
    # plan: [{'Status': 'COMPLETED'}], [{'Status': 'LAUNCHING'}] -> we say LAUNCHED, not COMPLETED
    assert phase([S.LAUNCHED], [S.LAUNCHING]) == "LAUNCHING"


# --- 1.4 applying a describe_jobs answer to a wave -----------------------------------------


def test_1_4_1_all_jobs_pending_keeps_wave_launching_and_servers_pending() -> None:
    before = one_wave([S.LAUNCHING, S.LAUNCHING])
    jobs = answer(
        drs_job(1, "PENDING", [participant(1, "PENDING")]),
        drs_job(2, "PENDING", [participant(2)]),  # launchStatus not reported yet
    )
    after = apply_poll(before, jobs, NOW).execution
    assert after.Waves[0].Status == WaveStatus.LAUNCHING
    assert [s.Status for s in after.Waves[0].Servers] == [S.PENDING, S.PENDING]
    assert after.Status == ExecutionStatus.POLLING
    assert after.EndTime is None


def test_1_4_2_started_jobs_move_servers_to_started_with_poll_bookkeeping() -> None:
    before = one_wave([S.PENDING, S.PENDING])
    jobs = answer(
        drs_job(1, "STARTED", [participant(1, "PENDING")]),
        drs_job(2, "STARTED", [participant(2, "PENDING")]),
    )
    after = apply_poll(before, jobs, NOW).execution
    servers = after.Waves[0].Servers
    assert [s.Status for s in servers] == [S.STARTED, S.STARTED]
    assert [s.LastPolledTime for s in servers] == [NOW, NOW]
    assert [s.PollAttempts for s in servers] == [1, 1]
    assert after.LastPolledTime == NOW


def test_1_4_2_seed_shape_job_in_progress_reads_as_server_in_progress() -> None:
    # the seed's job status IN_PROGRESS is not a DRS JobStatus; it is read like launchStatus IN_PROGRESS
    before = one_wave([S.STARTED])
    seed = apply_poll(before, answer(drs_job(1, "IN_PROGRESS", [])), NOW).execution
    real = apply_poll(before, answer(drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")])), NOW).execution
    assert seed.Waves[0].Servers[0].Status == real.Waves[0].Servers[0].Status == S.IN_PROGRESS


def test_1_4_3_drill_completes_when_all_servers_launched() -> None:
    before = one_wave([S.IN_PROGRESS, S.IN_PROGRESS])
    jobs = answer(
        drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True)]),
        drs_job(2, "COMPLETED", [participant(2, "LAUNCHED", instance=True)]),
    )
    after = apply_poll(before, jobs, NOW).execution
    servers = after.Waves[0].Servers
    assert after.Waves[0].Status == WaveStatus.COMPLETED
    assert [s.Status for s in servers] == [S.LAUNCHED, S.LAUNCHED]
    assert [s.InstanceId for s in servers] == [instance_id(1), instance_id(2)]
    assert [s.LaunchedTime for s in servers] == [NOW, NOW]
    assert after.Status == ExecutionStatus.COMPLETED
    assert after.EndTime == NOW


def test_1_4_3_seed_shape_completed_job_with_instance_and_no_launch_status_is_launched() -> None:
    # the seed's participatingServers carry only sourceServerID + recoveryInstanceID
    before = one_wave([S.IN_PROGRESS])
    jobs = answer(drs_job(1, "COMPLETED", [participant(1, instance=True)]))
    after = apply_poll(before, jobs, NOW).execution
    assert after.Waves[0].Servers[0].Status == S.LAUNCHED
    assert after.Waves[0].Servers[0].InstanceId == instance_id(1)
    assert after.Waves[0].Status == WaveStatus.COMPLETED


def test_1_4_4_recovery_waits_for_post_launch_actions() -> None:
    before = one_wave([S.IN_PROGRESS], ExecutionType.RECOVERY)
    running = answer(
        drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True, runs=["IN_PROGRESS"])])
    )
    mid = apply_poll(before, running, NOW).execution
    assert mid.Waves[0].Status == WaveStatus.LAUNCHING
    assert mid.Waves[0].Servers[0].Status == S.LAUNCHED
    assert mid.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.IN_PROGRESS
    assert mid.Status == ExecutionStatus.POLLING

    done = answer(
        drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True, runs=["SUCCEEDED", "SUCCEEDED"])])
    )
    after = apply_poll(mid, done, NOW + 30).execution
    assert after.Waves[0].Status == WaveStatus.COMPLETED
    assert after.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.COMPLETED
    assert after.Waves[0].Servers[0].LaunchedTime == NOW  # set once, at the launch
    assert after.Status == ExecutionStatus.COMPLETED
    assert after.EndTime == NOW + 30


def test_1_4_4_seed_shape_post_launch_actions_deployment_is_read_like_runs() -> None:
    before = one_wave([S.IN_PROGRESS], ExecutionType.RECOVERY)

    def post_launch(seed: str | None, runs: list[str] | None) -> PostLaunchStatus | None:
        p = participant(1, "LAUNCHED", instance=True, runs=runs, seed_post_launch=seed)
        return (
            apply_poll(before, answer(drs_job(1, "COMPLETED", [p])), NOW)
            .execution.Waves[0]
            .Servers[0]
            .PostLaunchActionsStatus
        )

    assert (
        post_launch("IN_PROGRESS", None) == post_launch(None, ["IN_PROGRESS"]) == PostLaunchStatus.IN_PROGRESS
    )
    assert post_launch("COMPLETED", None) == post_launch(None, ["SUCCEEDED"]) == PostLaunchStatus.COMPLETED
    assert post_launch("FAILED", None) == post_launch(None, ["FAILED"]) == PostLaunchStatus.FAILED


# --- 1.5 timeout -----------------------------------------------------------------------------


def test_1_5_1_timeout_takes_drs_truth_when_job_actually_completed() -> None:
    before = one_wave([S.IN_PROGRESS], start=START)
    now = START + 1850  # 30 min 50 s
    assert is_timed_out(before, now)
    assert not is_timed_out(before, START + 1800)  # exactly 30 min is not yet past it

    jobs = answer(drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True)]))
    after = resolve_timeout(before, jobs, now).execution
    only = after.Waves[0].Servers[0]
    assert only.Status == S.LAUNCHED  # plan says 'COMPLETED'; 1.4.3 and DRS say LAUNCHED
    assert only.InstanceId == instance_id(1)
    assert only.TimeoutDetected is True
    assert after.TimeoutDetected is True
    assert after.Status == ExecutionStatus.COMPLETED  # DRS's truth, not an arbitrary failure
    assert after.EndTime == now


def test_1_5_2_timeout_with_job_still_running_keeps_drs_status_and_ends_as_timeout() -> None:
    before = one_wave([S.IN_PROGRESS], start=START)
    now = START + 1900
    assert is_timed_out(before, now)
    # plan: job status 'IN_PROGRESS' (no such DRS JobStatus); real: STARTED + launchStatus IN_PROGRESS
    jobs = answer(drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")]))
    after = resolve_timeout(before, jobs, now).execution
    only = after.Waves[0].Servers[0]
    assert only.Status == S.IN_PROGRESS
    assert only.TimeoutDetected is True
    assert after.Waves[0].Status == WaveStatus.TIMEOUT
    assert after.Status == ExecutionStatus.TIMEOUT  # not FAILED: left for investigation
    assert after.EndTime == now
    assert after.StatusReason


def test_1_5_2_seed_shape_job_in_progress_also_ends_as_timeout() -> None:
    before = one_wave([S.IN_PROGRESS], start=START)
    after = resolve_timeout(before, answer(drs_job(1, "IN_PROGRESS")), START + 1900).execution
    assert after.Waves[0].Servers[0].Status == S.IN_PROGRESS
    assert after.Status == ExecutionStatus.TIMEOUT


def test_1_5_timeout_never_fires_for_finished_executions() -> None:
    before = one_wave([S.LAUNCHED], status=ExecutionStatus.COMPLETED, start=START)
    assert not is_timed_out(before, START + 10_000)
    assert resolve_timeout(before, {}, START + 10_000).execution == before


def test_1_5_timeout_is_configurable() -> None:
    before = one_wave([S.IN_PROGRESS], start=START)
    assert is_timed_out(before, START + 61, timeout_seconds=60)
    assert not is_timed_out(before, START + 59, timeout_seconds=60)
