"""How large an execution's DynamoDB item can grow, computed before it exists.

An execution is one item, and DynamoDB refuses items over 400 KB. The item grows while it runs
(each tracked server gains its job ID, instance, times, post-launch status, a failure reason), so
a plan that fits when the execution is created can still overflow mid-execution, when nothing can
be done about it any more. The plan is therefore checked at creation against its *worst case*:
every server tracked, every optional field filled at its longest, every reason at its cap.

Sizes follow DynamoDB's documented accounting: attribute names and strings in UTF-8 bytes,
numbers one byte per two significant digits plus one, booleans and nulls one byte, lists and
maps three bytes plus one per element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from poller.domain.operators import MAX_WAVE_RETRIES
from poller.domain.statuses import (
    ExecutionStatus,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.trackable import MAX_REASON_CHARS, MAX_SERVER_REASON_CHARS

#: DynamoDB's item size limit (400 KB, counted as 1,024-byte kilobytes)
ITEM_LIMIT_BYTES = 400 * 1024

_TIME = Decimal("9999999999.999")  # a timestamp in seconds with milliseconds, as stored
_COUNT = Decimal(10**9)  # a counter (Version, PollAttempts, ...) after a billion increments
_EXECUTION_ID = "0" * 36  # a UUID
_JOB_ID = "drsjob-" + "0" * 17
_INSTANCE_ID = "i-" + "0" * 17
_LAUNCH_TOKEN = "0" * 32  # uuid4().hex
_KEY_HASH = "0" * 64  # sha256 hex of an Idempotency-Key
_REPLICA_ID = "r" * 128  # host-pid-random, or a configured name
_REASON = "r" * MAX_REASON_CHARS


def _longest(values: Sequence[str]) -> str:
    return max(values, key=len)


def attribute_size(value: Any) -> int:
    """Bytes one attribute value takes in a DynamoDB item (its name not included)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        digits = Decimal(str(value)).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + attribute_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(attribute_size(v) + 1 for v in value)
    if isinstance(value, set | frozenset):
        return sum(attribute_size(v) for v in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a whole item: every attribute's name and value."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def worst_case_execution_item(plan: Mapping[str, Any], launch_max_attempts: int = 5) -> dict[str, Any]:
    """The largest item an execution of ``plan`` (a plan item) can become."""
    order = str(plan.get("WaveOrder", "PARALLEL"))
    waves: list[dict[str, Any]] = []
    previous: str | None = None
    for raw in plan["Waves"]:
        name = str(raw["WaveName"])
        servers = [str(s) for s in raw["SourceServerIds"]]
        deps = [str(d) for d in raw.get("DependsOn") or []]
        if order == "SEQUENTIAL" and previous is not None and previous not in deps:
            deps.insert(0, previous)
        timeout_reason = f"timed out with {len(servers)} unfinished servers: {', '.join(servers)}"
        waves.append(
            {
                "WaveName": name,
                "Region": str(raw["Region"]),
                **({"AccountId": str(raw["AccountId"])} if raw.get("AccountId") else {}),
                "Status": _longest([s.value for s in WaveStatus]),
                "Servers": [_worst_server(s) for s in servers],
                "StatusReason": max(_REASON, timeout_reason, key=len),
                "FailedServerIds": servers,
                "JobStartedTime": _TIME,
                "DependsOn": deps,
                "RecoveryJobId": _JOB_ID,
                "LaunchToken": _LAUNCH_TOKEN,
                "LaunchTokens": [_LAUNCH_TOKEN] * launch_max_attempts,
                "LaunchClaimedAt": _TIME,
                "LaunchFirstClaimedAt": _TIME,
                "LaunchAttempts": _COUNT,
                **_worst_operator_fields(raw, servers),
            }
        )
        previous = name
    return {
        "ExecutionId": _EXECUTION_ID,
        "PlanId": str(plan["PlanId"]),
        "PlanName": str(plan.get("PlanName", plan["PlanId"])),
        "WaveOrder": order,
        "ExecutionType": "RECOVERY",
        "Status": _longest([s.value for s in ExecutionStatus]),
        "StartTime": _TIME,
        "EndTime": _TIME,
        "LastPolledTime": _TIME,
        "Waves": waves,
        "Version": _COUNT,
        "TimeoutDetected": True,
        "StatusReason": _REASON,
        "IdempotencyKeyHash": _KEY_HASH,
        "LeaseOwner": _REPLICA_ID,
        "LeaseExpiry": _TIME,
        "PendingWaves": _COUNT,
    }


def _worst_operator_fields(raw: Mapping[str, Any], servers: list[str]) -> dict[str, Any]:
    """A wave's operator fields at their largest (poller.domain.operators): paused, resumed,
    retried as often as allowed, each retry keeping its previous job."""
    fields: dict[str, Any] = {
        "PauseBefore": True,
        "PausedTime": _TIME,
        "ResumedTime": _TIME,
        "RetryCount": MAX_WAVE_RETRIES,
        "PreviousRecoveryJobIds": [_JOB_ID] * MAX_WAVE_RETRIES,
    }
    optional = [str(s) for s in raw.get("OptionalServerIds") or []]
    if optional:
        fields["OptionalServerIds"] = optional
    return fields


def _worst_server(source_server_id: str) -> dict[str, Any]:
    return {
        "SourceServerId": source_server_id,
        "RecoveryJobId": _JOB_ID,
        "Status": _longest([s.value for s in ServerStatus]),
        "InstanceId": _INSTANCE_ID,
        "LaunchedTime": _TIME,
        "LastPolledTime": _TIME,
        "PollAttempts": _COUNT,
        "PostLaunchActionsStatus": _longest([s.value for s in PostLaunchStatus]),
        "TimeoutDetected": True,
        "FailureReason": "r" * MAX_SERVER_REASON_CHARS,
        "UsableTime": _TIME,  # recovery-time evidence (poller/domain/evidence.py)
    }


def worst_case_execution_bytes(plan: Mapping[str, Any], launch_max_attempts: int = 5) -> int:
    """Bytes of :func:`worst_case_execution_item`: compare with :data:`ITEM_LIMIT_BYTES`."""
    return item_size(worst_case_execution_item(plan, launch_max_attempts))
