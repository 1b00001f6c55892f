"""Execution → Waves → Servers, and their DynamoDB item form.

Models keep attributes they do not know (``extra="allow"``): an item written by a newer
version or by hand must come back out of a poll with nothing lost. Everything the poller itself
reads is a typed field, the launcher's state included; optional fields default to None, which
the item form leaves out, so an item carries only what was set.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from poller.domain.statuses import (
    CleanupStatus,
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.targets import ACCOUNT_ID_PATTERN, DrsTarget

REGION_NAME = r"[a-z]{2}(-[a-z]+)+-[0-9]"  # us-east-1, ap-southeast-2, us-gov-west-1
REGION_PATTERN = rf"^{REGION_NAME}$"  # pydantic's regex engine: '$' is the end of the text
MAX_SERVERS_PER_EXECUTION = 10_000
CleanupState = CleanupStatus  # the field below is named CleanupStatus, as on the item


class MalformedItemError(ValueError):
    """An execution item that cannot be read; names the item's key and the field at fault."""

    def __init__(self, key: str, field: str, reason: str) -> None:
        super().__init__(f"malformed execution item {key!r}: field {field!r}: {reason}")
        self.key = key
        self.field = field
        self.reason = reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=False, use_enum_values=False)


class Server(_Model):
    SourceServerId: str = Field(min_length=1)
    RecoveryJobId: str | None = None
    Status: ServerStatus = ServerStatus.LAUNCHING
    InstanceId: str | None = None
    LaunchedTime: float | None = None
    LastPolledTime: float | None = None
    PollAttempts: int = Field(default=0, ge=0)
    PostLaunchActionsStatus: PostLaunchStatus | None = None
    TimeoutDetected: bool = False
    FailureReason: str | None = None
    # recovery-time evidence and drill cleanup (poller/domain/evidence.py, poller/domain/cleanup.py)
    UsableTime: float | None = None  # RECOVERY: first poll that saw post-launch actions succeed
    CleanupToken: str | None = None  # claim of a TerminateRecoveryInstances call not yet answered
    CleanupClaimedAt: float | None = None
    CleanupAttempts: int = Field(default=0, ge=0)
    CleanupJobId: str | None = None  # the TERMINATE job that terminates InstanceId
    TerminatedTime: float | None = None
    CleanupFailureReason: str | None = None


class Wave(_Model):
    """A wave; the ``Launch*`` fields are the launcher's claim state (see poller.pipeline.launch).

    ``LaunchToken`` is the current claim and ``LaunchClaimedAt`` its time (None once recorded or
    released); ``LaunchTokens`` every claim ever made, so a job tagged with any of them is
    adopted; ``LaunchFirstClaimedAt`` bounds the DescribeJobs search; ``LaunchAttempts`` counts
    StartRecovery attempts against ``launch_max_attempts``.
    """

    WaveName: str = Field(min_length=1)
    Region: str = Field(pattern=REGION_PATTERN)
    AccountId: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)  # None: the daemon's own
    Status: WaveStatus = WaveStatus.LAUNCHING
    Servers: list[Server] = Field(min_length=1)
    StatusReason: str | None = None
    FailedServerIds: list[str] = Field(default_factory=list)
    JobStartedTime: float | None = None  # when the launcher started this wave's DRS job
    DependsOn: list[str] | None = None  # names of waves that must be COMPLETED first
    RecoveryJobId: str | None = None  # the wave's DRS job, once started
    LaunchToken: str | None = None
    LaunchTokens: list[str] | None = None
    LaunchClaimedAt: float | None = None
    LaunchFirstClaimedAt: float | None = None
    LaunchAttempts: int | None = Field(default=None, ge=0)
    CapacityWaitSince: float | None = None  # when it first waited for DRS capacity (its queue place)
    RtoTargetSeconds: float | None = Field(default=None, gt=0)  # the wave's recovery-time target

    @field_validator("DependsOn", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def target(self) -> DrsTarget:
        """The DRS account-region of the wave's jobs."""
        return DrsTarget.of(self)

    def depends_on(self) -> list[str]:
        return list(self.DependsOn or [])

    def launch_tokens(self) -> list[str]:
        return list(self.LaunchTokens or [])

    def launch_attempts(self) -> int:
        return self.LaunchAttempts or 0

    # operator control (poller.domain.operators): pause, resume, retry, skip, optional servers
    PauseBefore: bool | None = None
    OptionalServerIds: list[str] | None = None
    PausedTime: float | None = None
    ResumedTime: float | None = None
    RetryCount: int | None = None
    PreviousRecoveryJobIds: list[str] | None = None  # the jobs of attempts before a retry


class Execution(_Model):
    ExecutionId: str = Field(min_length=1)
    PlanId: str = Field(min_length=1)
    ExecutionType: ExecutionType
    Status: ExecutionStatus
    StartTime: float = Field(ge=0)
    EndTime: float | None = None
    LastPolledTime: float | None = None
    Waves: list[Wave] = Field(min_length=1)
    Version: int = Field(default=0, ge=0)
    TimeoutDetected: bool = False
    StatusReason: str | None = None
    PlanName: str | None = None
    WaveOrder: str | None = None
    IdempotencyKeyHash: str | None = None  # SHA-256 of the Idempotency-Key that created it
    LeaseOwner: str | None = None  # the replica polling it (poller.store.lease)
    LeaseExpiry: float | None = None
    # drill cleanup and recovery-time evidence (copied from the plan at creation)
    CleanupAfterSeconds: float | None = Field(default=None, ge=0)
    RtoTargetSeconds: float | None = Field(default=None, gt=0)
    CleanupStatus: CleanupState | None = None  # None: NOT_REQUESTED
    CleanupRequestedTime: float | None = None
    CleanupEndTime: float | None = None
    CleanupStatusReason: str | None = None  # why a cleanup could not run at all

    @field_validator("Waves")
    @classmethod
    def _bounded(cls, waves: list[Wave]) -> list[Wave]:
        total = sum(len(w.Servers) for w in waves)
        if total > MAX_SERVERS_PER_EXECUTION:
            raise ValueError(f"{total} servers exceed the limit of {MAX_SERVERS_PER_EXECUTION}")
        return waves

    @field_validator("Waves")
    @classmethod
    def _unique_servers(cls, waves: list[Wave]) -> list[Wave]:
        # a field validator, so that MalformedItemError names the field: "Waves"
        seen: set[str] = set()
        for wave in waves:
            for server in wave.Servers:
                if server.SourceServerId in seen:
                    raise ValueError(f"source server {server.SourceServerId} appears twice")
                seen.add(server.SourceServerId)
        return waves

    def servers(self) -> list[Server]:
        return [s for w in self.Waves for s in w.Servers]


def execution_from_item(item: Mapping[str, Any]) -> Execution:
    """Read a deserialized DynamoDB item; any defect becomes one MalformedItemError."""
    key = str(item.get("ExecutionId", "<no ExecutionId>")) if isinstance(item, Mapping) else "<not a map>"
    if not isinstance(item, Mapping):
        raise MalformedItemError(key, "<item>", f"expected a map, got {type(item).__name__}")
    try:
        return Execution.model_validate(_from_dynamo(item))
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<item>"
        raise MalformedItemError(key, field, first["msg"]) from err
    except (TypeError, ValueError, ArithmeticError) as err:
        raise MalformedItemError(key, "<item>", str(err)) from err


def execution_to_item(execution: Execution) -> dict[str, Any]:
    """The item form: numbers as Decimal (DynamoDB's type), no None attributes.

    Python-mode dump: unknown attributes keep their exact Decimal values and sets (a JSON
    dump would turn Decimals into strings and sets into lists).
    """
    return _to_dynamo(execution.model_dump(exclude_none=True))


def to_dynamo_number(value: float) -> Decimal:
    """Millisecond precision: enough for sub-second test intervals, stable in DynamoDB."""
    return Decimal(str(round(value, 3)))


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # status enums as plain strings
    if isinstance(value, bool) or value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return to_dynamo_number(value)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_to_dynamo(v) for v in value}
    return value


def _from_dynamo(value: Any) -> Any:
    """Decimals stay Decimal: known fields convert them, unknown attributes keep them exactly."""
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_from_dynamo(v) for v in value]
    return value
