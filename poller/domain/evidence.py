"""Recovery-time evidence: what recovery time an execution achieved, per server, wave and execution,
and whether it met its target. Pure functions over the execution and what DRS reported.

Sources, per server:
- ``RequestedTime``: when the launcher called StartRecovery for its wave (``JobStartedTime``);
- ``JobCreatedTime`` / ``JobEndTime``: the DRS job's ``creationDateTime`` / ``endDateTime``;
- ``LaunchStartTime``: the job log's ``LAUNCH_START`` for this server (``LAUNCH_FAILED`` gives
  ``LaunchFailedTime``); DRS logs no per-server launch end, so ``LaunchedTime`` (our first poll
  that saw LAUNCHED) is the launch's end as we observed it;
- ``PostLaunchDoneTime``: a RECOVERY server's ``UsableTime``, our first poll that saw its
  post-launch actions succeed.

Recovery time of a server = from the execution's StartTime to the server being usable:
LAUNCHED for a DRILL, post-launch actions finished successfully for a RECOVERY. A wave's and the
execution's recovery time is their slowest server's; it is None while any server is not usable.
``RtoMet`` compares it with ``RtoTargetSeconds`` (the wave's, else the plan's): None without a
target, False when a server never became usable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import SUCCESSFUL_POST_LAUNCH, ExecutionType, ServerStatus

JOB_LOG_EVENTS = frozenset(  # botocore drs model: JobLogEvent enum (the ones a launch timeline uses)
    {
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "SNAPSHOT_FAIL",
        "USING_PREVIOUS_SNAPSHOT",
        "CONVERSION_START",
        "CONVERSION_END",
        "CONVERSION_FAIL",
        "LAUNCH_START",
        "LAUNCH_FAILED",
        "JOB_CANCEL",
        "JOB_END",
    }
)


def parse_time(value: Any) -> float | None:
    """Epoch seconds of a DRS ISO 8601 date string (None when absent or unreadable)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def usable_time(server: Server, execution_type: ExecutionType) -> float | None:
    """When the server became usable: LAUNCHED (DRILL) or post-launch finished well (RECOVERY)."""
    if server.Status != ServerStatus.LAUNCHED or server.LaunchedTime is None:
        return None
    if execution_type == ExecutionType.DRILL:
        return server.LaunchedTime
    if server.PostLaunchActionsStatus in SUCCESSFUL_POST_LAUNCH:
        return server.UsableTime or server.LaunchedTime
    return None


def server_log_times(log: Iterable[Mapping[str, Any]], source_server_id: str) -> dict[str, float]:
    """First time of each job-log event of this server (events without a server are the job's)."""
    times: dict[str, float] = {}
    for item in log:
        event = item.get("event")
        data = item.get("eventData") or {}
        at = parse_time(item.get("logDateTime"))
        if not isinstance(event, str) or at is None or not isinstance(data, Mapping):
            continue
        owner = data.get("sourceServerID")
        if owner is not None and owner != source_server_id:
            continue
        times.setdefault(event, at)
    return times


def _rto_met(seconds: float | None, target: float | None) -> bool | None:
    if target is None:
        return None
    return seconds is not None and seconds <= target


def _slowest(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else max(v for v in values if v is not None)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def server_report(
    execution: Execution,
    wave: Wave,
    server: Server,
    job: Mapping[str, Any] | None,
    log: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    times = server_log_times(log, server.SourceServerId)
    usable = usable_time(server, execution.ExecutionType)
    return {
        "SourceServerId": server.SourceServerId,
        "Status": str(server.Status),
        "InstanceId": server.InstanceId,
        "RecoveryJobId": server.RecoveryJobId,
        "RequestedTime": _round(wave.JobStartedTime),
        "JobCreatedTime": _round(parse_time((job or {}).get("creationDateTime"))),
        "LaunchStartTime": _round(times.get("LAUNCH_START")),
        "LaunchFailedTime": _round(times.get("LAUNCH_FAILED")),
        "LaunchedTime": _round(server.LaunchedTime),
        "PostLaunchActionsStatus": None
        if server.PostLaunchActionsStatus is None
        else str(server.PostLaunchActionsStatus),
        "PostLaunchDoneTime": _round(server.UsableTime),
        "JobEndTime": _round(parse_time((job or {}).get("endDateTime"))),
        "UsableTime": _round(usable),
        "RecoverySeconds": _round(None if usable is None else usable - execution.StartTime),
        "JobLog": sorted(
            ({"event": e, "time": round(t, 3)} for e, t in times.items()), key=lambda x: x["time"]
        ),
    }


def recovery_report(
    execution: Execution,
    jobs: Mapping[str, Mapping[str, Any]],
    logs: Mapping[str, list[Mapping[str, Any]]],
) -> dict[str, Any]:
    """The evidence of one execution (``jobs``/``logs`` by launch job ID, as DRS returned them)."""
    waves = []
    for wave in execution.Waves:
        servers = [
            server_report(
                execution,
                wave,
                s,
                jobs.get(s.RecoveryJobId or ""),
                logs.get(s.RecoveryJobId or "", []),
            )
            for s in wave.Servers
        ]
        seconds = _slowest([s["RecoverySeconds"] for s in servers])
        target = wave.RtoTargetSeconds or execution.RtoTargetSeconds
        slowest = max(servers, key=lambda s: s["RecoverySeconds"] or float("inf"))
        waves.append(
            {
                "WaveName": wave.WaveName,
                "Region": wave.Region,
                "Status": str(wave.Status),
                "RtoTargetSeconds": target,
                "RecoverySeconds": seconds,
                "SlowestServerId": slowest["SourceServerId"],
                "RtoMet": _rto_met(seconds, target),
                "Servers": servers,
            }
        )
    seconds = _slowest([w["RecoverySeconds"] for w in waves])
    met = [w["RtoMet"] for w in waves if w["RtoMet"] is not None]
    own = _rto_met(seconds, execution.RtoTargetSeconds)
    if own is not None:
        met.append(own)
    return {
        "ExecutionId": execution.ExecutionId,
        "PlanId": execution.PlanId,
        "ExecutionType": str(execution.ExecutionType),
        "Status": str(execution.Status),
        "StartTime": execution.StartTime,
        "EndTime": execution.EndTime,
        "RtoTargetSeconds": execution.RtoTargetSeconds,
        "RecoverySeconds": seconds,
        "RtoMet": all(met) if met else None,
        "Waves": waves,
    }


def achieved_recovery(execution: Execution) -> tuple[float | None, bool | None]:
    """(recovery seconds, RtoMet) from the item alone: what the metrics record when an execution ends."""
    report = recovery_report(execution, {}, {})
    return report["RecoverySeconds"], report["RtoMet"]
