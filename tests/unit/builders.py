"""Small builders for executions and REAL-shaped DRS ``describe_jobs`` items.

IDs follow botocore's ``drs`` model: job IDs ``drsjob-[0-9a-zA-Z]{17}``, source server IDs
``s-[0-9a-zA-Z]{17}``, recovery instance IDs ``i-[0-9a-f]{8,}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import (
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from tests.ids import instance_id, job_id, server_id

JOB_ID_PATTERN = re.compile(r"^drsjob-[0-9a-zA-Z]{17}$")
SOURCE_SERVER_ID_PATTERN = re.compile(r"^s-[0-9a-zA-Z]{17}$")
INSTANCE_ID_PATTERN = re.compile(r"^i-[0-9a-f]{8,}$")

REGION = "us-east-1"
START = 1_700_000_000.0  # a fixed "now" origin; tests never read the clock


def server(
    n: int,
    status: ServerStatus = ServerStatus.LAUNCHING,
    *,
    job: int | None = None,
    post_launch: PostLaunchStatus | None = None,
    **extra: Any,
) -> Server:
    """Server ``n`` with its own job ``n`` unless ``job`` says otherwise."""
    return Server(
        SourceServerId=server_id(n),
        RecoveryJobId=job_id(n if job is None else job),
        Status=status,
        PostLaunchActionsStatus=post_launch,
        **extra,
    )


def wave(
    servers: Sequence[Server],
    name: str = "Wave-1",
    status: WaveStatus = WaveStatus.LAUNCHING,
    region: str = REGION,
) -> Wave:
    return Wave(WaveName=name, Region=region, Status=status, Servers=list(servers))


def execution(
    waves: Sequence[Wave],
    execution_type: ExecutionType = ExecutionType.DRILL,
    status: ExecutionStatus = ExecutionStatus.POLLING,
    *,
    start: float = START,
    last_polled: float | None = None,
) -> Execution:
    return Execution(
        ExecutionId="exec-1",
        PlanId="plan-1",
        ExecutionType=execution_type,
        Status=status,
        StartTime=start,
        LastPolledTime=last_polled,
        Waves=list(waves),
    )


def one_wave(
    statuses: Iterable[ServerStatus],
    execution_type: ExecutionType = ExecutionType.DRILL,
    **kwargs: Any,
) -> Execution:
    """An execution with one LAUNCHING wave whose servers 1..n have the given statuses."""
    servers = [server(i, s) for i, s in enumerate(statuses, start=1)]
    return execution([wave(servers)], execution_type, **kwargs)


def participant(
    n: int,
    launch_status: str | None = None,
    *,
    instance: bool = False,
    runs: Sequence[str] | None = None,
    seed_post_launch: str | None = None,
) -> dict[str, Any]:
    """One ``participatingServers[]`` entry for server ``n``.

    ``runs`` gives ``launchActionsStatus.runs[].status`` (real shape); ``seed_post_launch``
    gives the seed plan's ``postLaunchActionsDeployment.status`` instead.
    """
    item: dict[str, Any] = {"sourceServerID": server_id(n)}
    if launch_status is not None:
        item["launchStatus"] = launch_status
    if instance:
        item["recoveryInstanceID"] = instance_id(n)
    if runs is not None:
        item["launchActionsStatus"] = {
            "ssmAgentDiscoveryDatetime": "2024-01-01T00:00:00Z",
            "runs": [
                {"action": {"actionId": f"action-{i}"}, "runId": f"run-{i}", "status": s}
                for i, s in enumerate(runs)
            ],
        }
    if seed_post_launch is not None:
        item["postLaunchActionsDeployment"] = {"status": seed_post_launch}
    return item


def drs_job(job: int, status: str, participants: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """One ``describe_jobs`` item, with the real fields around the ones we read."""
    jid = job_id(job)
    return {
        "arn": f"arn:aws:drs:{REGION}:123456789012:job/{jid}",
        "creationDateTime": "2024-01-01T00:00:00Z",
        "initiatedBy": "START_DRILL",
        "jobID": jid,
        "status": status,
        "type": "LAUNCH",
        "participatingServers": [dict(p) for p in participants],
    }


def answer(*jobs: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Job ID → describe_jobs item, as ``apply_poll`` takes it."""
    return {str(j["jobID"]): j for j in jobs}
