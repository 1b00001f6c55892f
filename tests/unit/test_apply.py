"""Folding DRS answers into an execution: monotone, absorbing, honest about gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.domain.apply import apply_poll, jobs_to_request
from poller.domain.completion import execution_outcome
from poller.domain.phases import (
    DEFAULT_INTERVALS,
    PollingIntervals,
    detect_execution_phase,
    poll_interval,
    seconds_until_next_poll,
)
from poller.domain.statuses import (
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.targets import DrsTarget

from .builders import (
    START,
    answer,
    drs_job,
    execution,
    instance_id,
    job_id,
    one_wave,
    participant,
    server,
    server_id,
    wave,
)

S = ServerStatus
NOW = START + 600

LAUNCHED_JOB = {n: drs_job(n, "COMPLETED", [participant(n, "LAUNCHED", instance=True)]) for n in range(1, 10)}
FAILED_JOB = {n: drs_job(n, "COMPLETED", [participant(n, "FAILED")]) for n in range(1, 10)}


# --- monotone and absorbing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "stale_job"),
    [
        (S.STARTED, drs_job(1, "PENDING", [participant(1, "PENDING")])),
        (S.IN_PROGRESS, drs_job(1, "PENDING", [participant(1, "PENDING")])),
        (S.IN_PROGRESS, drs_job(1, "STARTED", [participant(1, "PENDING")])),
    ],
    ids=["started<-pending", "in_progress<-pending", "in_progress<-started"],
)
def test_stale_answer_never_moves_server_backwards(current: ServerStatus, stale_job: dict) -> None:
    before = one_wave([current])
    after = apply_poll(before, answer(stale_job), NOW)
    assert after.execution.Waves[0].Servers[0].Status == current
    assert not [t for t in after.transitions if t.attribute == "Status" and t.level == "server"]
    assert after.execution.Waves[0].Servers[0].PollAttempts == 1  # the poll itself still counts


@pytest.mark.parametrize(
    "late_job",
    [
        drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")]),
        drs_job(1, "COMPLETED", [participant(1, "TERMINATED")]),
        drs_job(1, "COMPLETED", [participant(1, "FAILED")]),
    ],
    ids=["in_progress", "terminated", "failed"],
)
def test_launched_server_in_recovery_keeps_launched_whatever_drs_says_later(late_job: dict) -> None:
    before = one_wave([S.LAUNCHED], ExecutionType.RECOVERY)
    before.Waves[0].Servers[0].PostLaunchActionsStatus = PostLaunchStatus.IN_PROGRESS
    after = apply_poll(before, answer(late_job), NOW).execution
    assert after.Waves[0].Servers[0].Status == S.LAUNCHED
    assert after.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.IN_PROGRESS


def test_post_launch_never_moves_backwards() -> None:
    before = one_wave([S.LAUNCHED], ExecutionType.RECOVERY)
    before.Waves[0].Servers[0].PostLaunchActionsStatus = PostLaunchStatus.IN_PROGRESS
    stale = answer(drs_job(1, "STARTED", [participant(1, "LAUNCHED", instance=True, runs=[])]))
    after = apply_poll(before, stale, NOW).execution
    assert after.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.IN_PROGRESS


def test_post_launch_once_seen_running_is_not_closed_by_an_answer_without_runs() -> None:
    # DRS dropping the runs list is not proof that "no actions were configured" (NONE)
    before = one_wave([S.LAUNCHED], ExecutionType.RECOVERY)
    before.Waves[0].Servers[0].PostLaunchActionsStatus = PostLaunchStatus.IN_PROGRESS
    no_runs = answer(drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True)]))
    after = apply_poll(before, no_runs, NOW).execution
    assert after.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.IN_PROGRESS
    assert after.Status == ExecutionStatus.POLLING


@pytest.mark.parametrize("terminal", [S.FAILED, S.TERMINATED, S.LAUNCHED])
def test_terminal_server_is_absorbing_and_not_polled_again(terminal: ServerStatus) -> None:
    before = one_wave([terminal, S.IN_PROGRESS])
    jobs = answer(LAUNCHED_JOB[1], drs_job(2, "STARTED", [participant(2, "IN_PROGRESS")]))
    after = apply_poll(before, jobs, NOW).execution
    first = after.Waves[0].Servers[0]
    assert first == before.Waves[0].Servers[0]
    assert first.PollAttempts == 0


@pytest.mark.parametrize(
    "terminal", [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.TIMEOUT]
)
def test_terminal_execution_is_absorbing(terminal: ExecutionStatus) -> None:
    before = one_wave([S.IN_PROGRESS], status=terminal)
    outcome = apply_poll(before, answer(LAUNCHED_JOB[1]), NOW)
    assert outcome.execution == before
    assert not outcome.changed


# --- gaps in the answer --------------------------------------------------------------------


def test_job_missing_from_answer_leaves_its_servers_untouched_and_is_reported() -> None:
    before = one_wave([S.STARTED, S.STARTED])
    outcome = apply_poll(before, answer(LAUNCHED_JOB[2]), NOW)
    first = outcome.execution.Waves[0].Servers[0]
    assert first == before.Waves[0].Servers[0]  # no Status, LastPolledTime or PollAttempts change
    assert outcome.missing_job_ids == (job_id(1),)
    assert outcome.execution.Waves[0].Servers[1].Status == S.LAUNCHED


def test_empty_answer_reports_every_unfinished_job() -> None:
    before = one_wave([S.STARTED, S.LAUNCHED, S.PENDING])
    outcome = apply_poll(before, {}, NOW)
    assert outcome.missing_job_ids == (job_id(1), job_id(3))
    assert outcome.execution.servers() == before.servers()


def test_unreadable_job_leaves_servers_untouched_and_is_reported() -> None:
    before = one_wave([S.STARTED, S.STARTED])
    jobs = answer(drs_job(1, "RUNNING"), drs_job(2, "STARTED", [participant(2, "IN_PROGRESS")]))
    outcome = apply_poll(before, jobs, NOW)
    assert outcome.unreadable_job_ids == (job_id(1),)
    assert outcome.missing_job_ids == ()
    assert outcome.execution.Waves[0].Servers[0] == before.Waves[0].Servers[0]
    assert outcome.execution.Waves[0].Servers[1].Status == S.IN_PROGRESS


# --- outcomes ------------------------------------------------------------------------------


def test_partial_wave_failure_names_the_failed_servers() -> None:
    before = one_wave([S.IN_PROGRESS, S.IN_PROGRESS, S.IN_PROGRESS])
    jobs = answer(LAUNCHED_JOB[1], FAILED_JOB[2], LAUNCHED_JOB[3])
    after = apply_poll(before, jobs, NOW).execution
    assert after.Waves[0].Status == WaveStatus.PARTIAL
    assert after.Waves[0].FailedServerIds == [server_id(2)]
    assert server_id(2) in (after.Waves[0].StatusReason or "")
    assert after.Status == ExecutionStatus.PARTIAL
    assert after.EndTime == NOW
    assert after.Waves[0].Servers[1].FailureReason


def test_all_servers_failed_fails_wave_and_execution() -> None:
    before = one_wave([S.IN_PROGRESS, S.IN_PROGRESS])
    after = apply_poll(before, answer(FAILED_JOB[1], FAILED_JOB[2]), NOW).execution
    assert after.Waves[0].Status == WaveStatus.FAILED
    assert after.Waves[0].FailedServerIds == [server_id(1), server_id(2)]
    assert after.Status == ExecutionStatus.FAILED


def test_completed_job_without_instance_fails_the_server() -> None:
    before = one_wave([S.STARTED])
    after = apply_poll(before, answer(drs_job(1, "COMPLETED", [participant(1)])), NOW).execution
    assert after.Waves[0].Servers[0].Status == S.FAILED
    assert after.Status == ExecutionStatus.FAILED


def test_recovery_post_launch_failure_is_recorded_against_the_wave() -> None:
    before = one_wave([S.IN_PROGRESS, S.IN_PROGRESS], ExecutionType.RECOVERY)
    jobs = answer(
        drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True, runs=["SUCCEEDED"])]),
        drs_job(2, "COMPLETED", [participant(2, "LAUNCHED", instance=True, runs=["SUCCEEDED", "FAILED"])]),
    )
    after = apply_poll(before, jobs, NOW).execution
    assert after.Waves[0].Servers[1].PostLaunchActionsStatus == PostLaunchStatus.FAILED
    assert after.Waves[0].Servers[1].Status == S.LAUNCHED
    assert after.Waves[0].Status == WaveStatus.PARTIAL
    assert after.Waves[0].FailedServerIds == [server_id(2)]
    assert after.Status == ExecutionStatus.PARTIAL


def test_drill_ignores_post_launch_failure() -> None:
    before = one_wave([S.IN_PROGRESS])
    jobs = answer(drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True, runs=["FAILED"])]))
    after = apply_poll(before, jobs, NOW).execution
    assert after.Status == ExecutionStatus.COMPLETED


def test_recovery_without_post_launch_actions_completes_on_launch() -> None:
    before = one_wave([S.IN_PROGRESS], ExecutionType.RECOVERY)
    after = apply_poll(before, answer(LAUNCHED_JOB[1]), NOW).execution
    assert after.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.NONE
    assert after.Status == ExecutionStatus.COMPLETED


def _three_waves() -> list:
    return [
        wave([server(1, S.IN_PROGRESS), server(2, S.IN_PROGRESS)], name="Wave-1"),
        wave([server(3, S.IN_PROGRESS)], name="Wave-2", region="us-west-2"),
        wave([server(4, S.PENDING), server(5, S.PENDING)], name="Wave-3", region="eu-west-1"),
    ]


def test_multi_wave_execution_completes_only_when_every_wave_completes() -> None:
    before = execution(_three_waves())
    first = apply_poll(before, answer(LAUNCHED_JOB[1], LAUNCHED_JOB[2], LAUNCHED_JOB[3]), NOW).execution
    assert [w.Status for w in first.Waves] == [
        WaveStatus.COMPLETED,
        WaveStatus.COMPLETED,
        WaveStatus.LAUNCHING,
    ]
    assert first.Status == ExecutionStatus.POLLING
    assert first.EndTime is None
    second = apply_poll(first, answer(LAUNCHED_JOB[4], LAUNCHED_JOB[5]), NOW + 30).execution
    assert all(w.Status == WaveStatus.COMPLETED for w in second.Waves)
    assert second.Status == ExecutionStatus.COMPLETED
    assert second.EndTime == NOW + 30


def test_multi_wave_one_failed_wave_makes_execution_partial() -> None:
    before = execution(_three_waves())
    jobs = answer(LAUNCHED_JOB[1], LAUNCHED_JOB[2], FAILED_JOB[3], LAUNCHED_JOB[4], LAUNCHED_JOB[5])
    after = apply_poll(before, jobs, NOW).execution
    assert [w.Status for w in after.Waves] == [WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.COMPLETED]
    assert after.Status == ExecutionStatus.PARTIAL


@pytest.mark.parametrize(
    ("waves", "expected"),
    [
        ([WaveStatus.COMPLETED, WaveStatus.COMPLETED], ExecutionStatus.COMPLETED),
        ([WaveStatus.FAILED, WaveStatus.FAILED], ExecutionStatus.FAILED),
        ([WaveStatus.COMPLETED, WaveStatus.FAILED], ExecutionStatus.PARTIAL),
        ([WaveStatus.COMPLETED, WaveStatus.PARTIAL], ExecutionStatus.PARTIAL),
        ([WaveStatus.COMPLETED, WaveStatus.TIMEOUT], ExecutionStatus.TIMEOUT),
        ([WaveStatus.CANCELLED, WaveStatus.CANCELLED], ExecutionStatus.CANCELLED),
        ([WaveStatus.COMPLETED, WaveStatus.LAUNCHING], ExecutionStatus.POLLING),
        ([WaveStatus.COMPLETED, WaveStatus.PENDING], ExecutionStatus.POLLING),
    ],
)
def test_execution_outcome_from_wave_statuses(waves: list[WaveStatus], expected: ExecutionStatus) -> None:
    before = execution([wave([server(i)], name=f"W{i}", status=s) for i, s in enumerate(waves, 1)])
    assert execution_outcome(before) == expected


def test_end_time_is_set_exactly_when_execution_becomes_terminal() -> None:
    before = one_wave([S.PENDING, S.PENDING])
    steps = [
        answer(drs_job(1, "STARTED"), drs_job(2, "STARTED")),
        answer(LAUNCHED_JOB[1], drs_job(2, "STARTED", [participant(2, "IN_PROGRESS")])),
        answer(LAUNCHED_JOB[2]),
    ]
    current = before
    for i, jobs in enumerate(steps):
        current = apply_poll(current, jobs, NOW + i).execution
        assert (current.EndTime is not None) == (current.Status == ExecutionStatus.COMPLETED)
    assert current.EndTime == NOW + 2
    # a later poll of a finished execution keeps the EndTime it had
    assert apply_poll(current, {}, NOW + 99).execution.EndTime == NOW + 2


def test_pending_execution_moves_to_polling_on_first_answer() -> None:
    before = one_wave([S.LAUNCHING], status=ExecutionStatus.PENDING)
    outcome = apply_poll(before, answer(drs_job(1, "PENDING")), NOW)
    assert outcome.execution.Status == ExecutionStatus.POLLING
    assert outcome.execution.EndTime is None
    assert any(t.level == "execution" for t in outcome.transitions)


def test_instance_id_is_kept_once_known() -> None:
    before = one_wave([S.IN_PROGRESS], ExecutionType.RECOVERY)
    mid = apply_poll(before, answer(drs_job(1, "STARTED", [participant(1, "LAUNCHED", instance=True)])), NOW)
    other = drs_job(
        1, "COMPLETED", [{**participant(1, "LAUNCHED"), "recoveryInstanceID": "i-0000000000000ffff"}]
    )
    after = apply_poll(mid.execution, answer(other), NOW + 1).execution
    assert after.Waves[0].Servers[0].InstanceId == instance_id(1)


# --- what to ask DRS -------------------------------------------------------------------------


def test_jobs_to_request_groups_by_region_and_skips_finished_servers() -> None:
    waves = [
        wave([server(1, S.IN_PROGRESS), server(2, S.LAUNCHED), server(3, S.STARTED, job=1)], name="A"),
        wave([server(4, S.PENDING)], name="B", region="us-west-2"),
        wave([server(5, S.FAILED)], name="C", region="eu-west-1"),
        wave([server(6, S.LAUNCHING)], name="D", region="eu-west-1", status=WaveStatus.PENDING),
    ]
    assert jobs_to_request(execution(waves)) == {
        DrsTarget(None, "us-east-1"): [job_id(1)],
        DrsTarget(None, "us-west-2"): [job_id(4)],
    }


def test_jobs_to_request_in_recovery_keeps_asking_for_launched_servers_awaiting_post_launch() -> None:
    waves = [
        wave(
            [
                server(1, S.LAUNCHED, post_launch=PostLaunchStatus.IN_PROGRESS),
                server(2, S.LAUNCHED, post_launch=PostLaunchStatus.COMPLETED),
            ]
        )
    ]
    assert jobs_to_request(execution(waves, ExecutionType.RECOVERY)) == {
        DrsTarget(None, "us-east-1"): [job_id(1)]
    }
    assert jobs_to_request(execution(waves, ExecutionType.DRILL)) == {}


# --- polling intervals -----------------------------------------------------------------------


def test_polling_intervals_are_configurable() -> None:
    fast = PollingIntervals(pending=1.0, started=0.25, in_progress=0.5, launching=0.1, post_launch=2.0)
    assert poll_interval(one_wave([S.PENDING]), fast) == 1.0
    assert poll_interval(one_wave([S.STARTED, S.PENDING]), fast) == 0.25
    assert poll_interval(one_wave([S.IN_PROGRESS]), fast) == 0.5
    assert poll_interval(one_wave([S.LAUNCHING]), fast) == 0.1
    recovering = execution(
        [wave([server(1, S.LAUNCHED, post_launch=PostLaunchStatus.IN_PROGRESS)])], ExecutionType.RECOVERY
    )
    assert poll_interval(recovering, fast) == 2.0
    assert poll_interval(recovering, DEFAULT_INTERVALS) == 30.0
    polled = one_wave([S.PENDING], last_polled=NOW)
    assert seconds_until_next_poll(polled, NOW + 0.4, fast) == pytest.approx(0.6)
    assert seconds_until_next_poll(polled, NOW + 0.4) == pytest.approx(44.6)


def test_never_polled_execution_is_due_at_once() -> None:
    assert seconds_until_next_poll(one_wave([S.PENDING]), NOW) == 0.0


def test_a_batch_lead_asks_one_window_early_so_answers_stay_one_interval_apart() -> None:
    polled = one_wave([S.IN_PROGRESS], last_polled=NOW)
    assert seconds_until_next_poll(polled, NOW, lead=1.0) == pytest.approx(29.0)
    assert seconds_until_next_poll(polled, NOW + 29.0, lead=1.0) == 0.0
    assert seconds_until_next_poll(polled, NOW + 29.0) == pytest.approx(1.0)


@given(window=st.floats(0.0, 5.0), waited=st.floats(0.0, 1.0), interval=st.floats(0.1, 60.0))
def test_with_the_lead_the_next_answer_never_lands_later_than_one_interval_after_the_last(
    window: float, waited: float, interval: float
) -> None:
    """Asked at the due time, a question waits up to the window (``waited`` of it) for its batch."""
    intervals = PollingIntervals(in_progress=interval)
    polled = one_wave([S.IN_PROGRESS], last_polled=NOW)
    asked_after = seconds_until_next_poll(polled, NOW, intervals, lead=window)
    assert asked_after >= interval / 2 - 1e-6  # a tiny interval is not turned into a busy loop
    if window <= interval / 2:  # every default: a 1 s window, intervals of 15 s and more
        assert asked_after + waited * window <= interval + 1e-6


def test_recovery_phase_is_post_launch_while_actions_run() -> None:
    recovering = execution(
        [wave([server(1, S.LAUNCHED, post_launch=PostLaunchStatus.IN_PROGRESS), server(2, S.PENDING)])],
        ExecutionType.RECOVERY,
    )
    assert detect_execution_phase(recovering.Waves, ExecutionType.RECOVERY) == "POST_LAUNCH"
    assert detect_execution_phase(recovering.Waves, ExecutionType.DRILL) == "PENDING"
