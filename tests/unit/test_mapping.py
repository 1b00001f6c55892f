"""The DRS → status mapping table of ``poller/domain/mapping.py``, one test row per table row."""

from __future__ import annotations

from typing import Any

import pytest

from poller.domain.mapping import UnreadableJobError, observe_server
from poller.domain.statuses import PostLaunchStatus, ServerStatus

from .builders import drs_job, instance_id, participant, server_id

S = ServerStatus
P = PostLaunchStatus

# job.status, launchStatus, recoveryInstanceID?, expected server Status
SERVER_TABLE: list[tuple[str, str | None, bool, ServerStatus]] = [
    ("PENDING", "PENDING", False, S.PENDING),
    ("PENDING", None, False, S.PENDING),
    ("STARTED", "PENDING", False, S.STARTED),
    ("STARTED", None, False, S.STARTED),
    ("PENDING", "IN_PROGRESS", False, S.IN_PROGRESS),
    ("STARTED", "IN_PROGRESS", False, S.IN_PROGRESS),
    ("COMPLETED", "IN_PROGRESS", False, S.IN_PROGRESS),
    ("STARTED", "LAUNCHED", True, S.LAUNCHED),
    ("COMPLETED", "LAUNCHED", True, S.LAUNCHED),
    ("STARTED", "FAILED", False, S.FAILED),
    ("COMPLETED", "FAILED", False, S.FAILED),
    ("STARTED", "TERMINATED", False, S.TERMINATED),
    ("COMPLETED", "TERMINATED", False, S.TERMINATED),
    ("COMPLETED", None, True, S.LAUNCHED),
    ("COMPLETED", None, False, S.FAILED),
    ("COMPLETED", "PENDING", False, S.FAILED),
]


@pytest.mark.parametrize(("job_status", "launch_status", "has_instance", "expected"), SERVER_TABLE)
def test_server_status_table_row(
    job_status: str, launch_status: str | None, has_instance: bool, expected: ServerStatus
) -> None:
    job = drs_job(1, job_status, [participant(1, launch_status, instance=has_instance)])
    seen = observe_server(job, server_id(1))
    assert seen.status == expected
    assert seen.instance_id == (instance_id(1) if has_instance else None)
    assert (seen.failure_reason is not None) == (expected == S.FAILED)


def test_server_missing_from_participating_servers_reads_from_job_status() -> None:
    job = drs_job(1, "STARTED", [participant(2, "LAUNCHED", instance=True)])
    assert observe_server(job, server_id(1)).status == S.STARTED


# launchActionsStatus.runs[].status, job.status, expected PostLaunchActionsStatus
POST_LAUNCH_TABLE: list[tuple[list[str] | None, str, PostLaunchStatus]] = [
    (["IN_PROGRESS"], "COMPLETED", P.IN_PROGRESS),
    (["SUCCEEDED", "IN_PROGRESS", "FAILED"], "COMPLETED", P.IN_PROGRESS),
    (["SUCCEEDED", "FAILED"], "COMPLETED", P.FAILED),
    (["FAILED"], "STARTED", P.FAILED),
    (["SUCCEEDED"], "COMPLETED", P.COMPLETED),
    (["SUCCEEDED", "SUCCEEDED"], "STARTED", P.COMPLETED),
    ([], "STARTED", P.NOT_STARTED),
    (None, "STARTED", P.NOT_STARTED),
    ([], "COMPLETED", P.NONE),
    (None, "COMPLETED", P.NONE),
]


@pytest.mark.parametrize(("runs", "job_status", "expected"), POST_LAUNCH_TABLE)
def test_post_launch_table_row(runs: list[str] | None, job_status: str, expected: PostLaunchStatus) -> None:
    job = drs_job(1, job_status, [participant(1, "LAUNCHED", instance=True, runs=runs)])
    assert observe_server(job, server_id(1)).post_launch == expected


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        ("NOT_STARTED", P.NOT_STARTED),
        ("PENDING", P.NOT_STARTED),
        ("IN_PROGRESS", P.IN_PROGRESS),
        ("COMPLETED", P.COMPLETED),
        ("SUCCEEDED", P.COMPLETED),
        ("FAILED", P.FAILED),
    ],
)
def test_seed_post_launch_actions_deployment_row(seed: str, expected: PostLaunchStatus) -> None:
    job = drs_job(1, "COMPLETED", [participant(1, "LAUNCHED", instance=True, seed_post_launch=seed)])
    assert observe_server(job, server_id(1)).post_launch == expected


@pytest.mark.parametrize("launch_status", ["PENDING", "IN_PROGRESS", "FAILED", "TERMINATED"])
def test_post_launch_is_only_read_for_launched_servers(launch_status: str) -> None:
    job = drs_job(1, "STARTED", [participant(1, launch_status, runs=["SUCCEEDED"])])
    assert observe_server(job, server_id(1)).post_launch is None


@pytest.mark.parametrize(
    "job",
    [
        drs_job(1, "RUNNING"),
        {"jobID": "drsjob-00000000000000001"},  # no status at all
        drs_job(1, "STARTED", [participant(1, "LAUNCHING")]),
        {**drs_job(1, "STARTED"), "participatingServers": "s-00000000000000001"},
    ],
    ids=["unknown-job-status", "no-job-status", "unknown-launch-status", "participants-not-a-list"],
)
def test_unreadable_job_raises_unreadable_job_error(job: dict[str, Any]) -> None:
    with pytest.raises(UnreadableJobError):
        observe_server(job, server_id(1))


@pytest.mark.parametrize(
    "participant_item",
    [
        {
            "sourceServerID": "s-00000000000000001",
            "launchStatus": "LAUNCHED",
            "launchActionsStatus": {"runs": 7},
        },
        {"sourceServerID": "s-00000000000000001", "launchStatus": "LAUNCHED", "launchActionsStatus": "x"},
        {"sourceServerID": "s-00000000000000001", "launchStatus": "LAUNCHED", "recoveryInstanceID": 12},
        {"sourceServerID": "s-00000000000000001", "launchStatus": ["LAUNCHED"]},
    ],
)
def test_shapes_drs_never_sends_are_reported_as_unreadable_not_raised(
    participant_item: dict[str, Any],
) -> None:
    job = {
        "jobID": "drsjob-00000000000000001",
        "status": "STARTED",
        "participatingServers": [participant_item],
    }
    with pytest.raises(UnreadableJobError):
        observe_server(job, "s-00000000000000001")
