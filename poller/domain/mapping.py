"""What one DRS ``describe_jobs`` item says about one source server.

Field names and enums follow botocore's ``drs`` model (Job.status PENDING | STARTED |
COMPLETED; ParticipatingServer.launchStatus PENDING | IN_PROGRESS | LAUNCHED | FAILED |
TERMINATED; launchActionsStatus.runs[].status IN_PROGRESS | SUCCEEDED | FAILED).

| job.status  | launchStatus          | recoveryInstanceID | server Status |
|-------------|-----------------------|--------------------|---------------|
| PENDING     | PENDING / absent      | -                  | PENDING       |
| STARTED     | PENDING / absent      | -                  | STARTED       |
| any         | IN_PROGRESS           | -                  | IN_PROGRESS   |
| any         | LAUNCHED              | i-...              | LAUNCHED      |
| any         | FAILED                | -                  | FAILED        |
| any         | TERMINATED            | -                  | TERMINATED    |
| COMPLETED   | absent                | present            | LAUNCHED      |
| COMPLETED   | absent / PENDING      | absent             | FAILED        |

| launchActionsStatus.runs[].status           | PostLaunchActionsStatus        |
|---------------------------------------------|--------------------------------|
| any IN_PROGRESS                             | IN_PROGRESS                    |
| none in progress, any FAILED                | FAILED                         |
| all SUCCEEDED                               | COMPLETED                      |
| no runs, job not COMPLETED                  | NOT_STARTED                    |
| no runs, job COMPLETED                      | NONE (no actions configured)   |

Seed shapes accepted where harmless: a job ``status`` of IN_PROGRESS reads as a server in
IN_PROGRESS, and ``postLaunchActionsDeployment.status`` stands in for ``launchActionsStatus``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from poller.domain.statuses import PostLaunchStatus, ServerStatus

_LAUNCH_STATUS = {
    "IN_PROGRESS": ServerStatus.IN_PROGRESS,
    "LAUNCHED": ServerStatus.LAUNCHED,
    "FAILED": ServerStatus.FAILED,
    "TERMINATED": ServerStatus.TERMINATED,
}
_SEED_POST_LAUNCH = {
    "NOT_STARTED": PostLaunchStatus.NOT_STARTED,
    "PENDING": PostLaunchStatus.NOT_STARTED,
    "IN_PROGRESS": PostLaunchStatus.IN_PROGRESS,
    "COMPLETED": PostLaunchStatus.COMPLETED,
    "SUCCEEDED": PostLaunchStatus.COMPLETED,
    "FAILED": PostLaunchStatus.FAILED,
}


class UnreadableJobError(ValueError):
    """A DRS job item we cannot interpret; the servers it concerns are left untouched."""


@dataclass(frozen=True)
class ServerObservation:
    status: ServerStatus
    instance_id: str | None
    post_launch: PostLaunchStatus | None
    failure_reason: str | None


def observe_server(job: Mapping[str, Any], source_server_id: str) -> ServerObservation:
    """DRS's current word on one server of one job."""
    job_status = job.get("status")
    if job_status not in ("PENDING", "STARTED", "COMPLETED", "IN_PROGRESS"):
        raise UnreadableJobError(f"job {job.get('jobID')!r} has unknown status {job_status!r}")
    try:
        participant = _participant(job, source_server_id)
        launch_status = participant.get("launchStatus")
        instance_id = participant.get("recoveryInstanceID") or None
        if instance_id is not None and not isinstance(instance_id, str):
            raise UnreadableJobError(f"job {job.get('jobID')!r}: recoveryInstanceID is not a string")
        status, reason = _server_status(job_status, launch_status, instance_id)
        post_launch = _post_launch(job_status, participant) if status == ServerStatus.LAUNCHED else None
    except (TypeError, AttributeError) as err:  # a shape DRS never sends: report, don't crash
        raise UnreadableJobError(f"job {job.get('jobID')!r}: unexpected shape: {err}") from err
    return ServerObservation(status, instance_id, post_launch, reason)


def _participant(job: Mapping[str, Any], source_server_id: str) -> Mapping[str, Any]:
    servers = job.get("participatingServers") or []
    if not isinstance(servers, list):
        raise UnreadableJobError(f"job {job.get('jobID')!r}: participatingServers is not a list")
    for item in servers:
        if isinstance(item, Mapping) and item.get("sourceServerID") == source_server_id:
            return item
    return {}


def _server_status(
    job_status: str, launch_status: Any, instance_id: str | None
) -> tuple[ServerStatus, str | None]:
    if launch_status in _LAUNCH_STATUS:
        status = _LAUNCH_STATUS[launch_status]
        reason = "DRS reported launchStatus FAILED" if status == ServerStatus.FAILED else None
        return status, reason
    if launch_status not in (None, "PENDING"):
        raise UnreadableJobError(f"unknown launchStatus {launch_status!r}")
    if job_status == "IN_PROGRESS":
        return ServerStatus.IN_PROGRESS, None
    if job_status != "COMPLETED":
        return ServerStatus(job_status), None
    if instance_id:
        return ServerStatus.LAUNCHED, None
    return ServerStatus.FAILED, "DRS job completed without launching a recovery instance"


def _post_launch(job_status: str, participant: Mapping[str, Any]) -> PostLaunchStatus:
    seed = participant.get("postLaunchActionsDeployment")
    if isinstance(seed, Mapping) and seed.get("status") in _SEED_POST_LAUNCH:
        return _SEED_POST_LAUNCH[seed["status"]]
    actions = participant.get("launchActionsStatus") or {}
    if not isinstance(actions, Mapping):
        raise UnreadableJobError("launchActionsStatus is not a map")
    runs = actions.get("runs") or []
    if not isinstance(runs, list):
        raise UnreadableJobError("launchActionsStatus.runs is not a list")
    statuses = [r.get("status") for r in runs if isinstance(r, Mapping)]
    if "IN_PROGRESS" in statuses:
        return PostLaunchStatus.IN_PROGRESS
    if "FAILED" in statuses:
        return PostLaunchStatus.FAILED
    if statuses:
        return PostLaunchStatus.COMPLETED
    return PostLaunchStatus.NONE if job_status == "COMPLETED" else PostLaunchStatus.NOT_STARTED
