"""A DRILL records post-launch actions only when DRS shows real runs, never an inferred guess."""

from __future__ import annotations

from poller.domain.apply import apply_poll
from poller.domain.statuses import ExecutionType, PostLaunchStatus, ServerStatus
from tests.unit.builders import answer, drs_job, one_wave, participant


def test_drill_server_launched_before_its_job_completed_records_no_post_launch_guess() -> None:
    execution = one_wave([ServerStatus.IN_PROGRESS], ExecutionType.DRILL)
    job = drs_job(1, "STARTED", [participant(1, "LAUNCHED", instance=True)])
    server = apply_poll(execution, answer(job), now=100).execution.Waves[0].Servers[0]
    assert server.Status == ServerStatus.LAUNCHED
    assert server.PostLaunchActionsStatus is None


def test_drill_server_with_real_runs_records_them() -> None:
    execution = one_wave([ServerStatus.IN_PROGRESS], ExecutionType.DRILL)
    job = drs_job(1, "STARTED", [participant(1, "LAUNCHED", instance=True, runs=["IN_PROGRESS"])])
    server = apply_poll(execution, answer(job), now=100).execution.Waves[0].Servers[0]
    assert server.PostLaunchActionsStatus == PostLaunchStatus.IN_PROGRESS


def test_recovery_server_launched_before_its_job_completed_waits_for_post_launch() -> None:
    execution = one_wave([ServerStatus.IN_PROGRESS], ExecutionType.RECOVERY)
    job = drs_job(1, "STARTED", [participant(1, "LAUNCHED", instance=True)])
    outcome = apply_poll(execution, answer(job), now=100)
    assert outcome.execution.Waves[0].Servers[0].PostLaunchActionsStatus == PostLaunchStatus.NOT_STARTED
    assert outcome.execution.Status == "POLLING"
