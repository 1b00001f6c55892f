"""Write: every transition back to DynamoDB with a conditional update on ``Version``.

A write only lands on the version it was computed from, so a restarted or second replica can
never overwrite a newer state: the loser re-reads and re-applies (the rules are monotone, so
re-applying the same DRS answer to a newer state is safe).
"""

from __future__ import annotations

import asyncio
from typing import Any

from poller.domain.cleanup import cleanup_due_at
from poller.domain.model import (
    Execution,
    execution_from_item,
    execution_to_item,
    to_dynamo_number,
)
from poller.domain.statuses import TERMINAL_EXECUTION, WaveStatus
from poller.runtime.turns import TurnBudget
from poller.store.dynamodb import (
    ConditionFailed,
    DynamoDBError,
    deserialize,
    serialize,
    timed_dynamodb_call,
)
from poller.store.lease import LEASE_EXPIRY, LEASE_OWNER, Lease

PENDING_WAVES = "PendingWaves"  # derived on every write, so the finder needs no waves to see it
# The sparse CleanupIndex's keys, derived on every write: present only while the cleaner has work.
CLEANUP_QUEUE, CLEANUP_DUE = "CleanupQueue", "CleanupDueTime"
CLEANUP_QUEUE_VALUE = "DUE"


def cleanup_keys(execution: Execution) -> dict[str, Any]:
    """The CleanupIndex attributes of an execution: none when the cleaner has nothing to do."""
    due = cleanup_due_at(execution)
    return {} if due is None else {CLEANUP_QUEUE: CLEANUP_QUEUE_VALUE, CLEANUP_DUE: to_dynamo_number(due)}


def pending_waves(execution: Execution) -> int:
    """Waves not launched yet: what tells the launcher an execution still needs it."""
    return sum(1 for w in execution.Waves if w.Status == WaveStatus.PENDING)


class ExecutionNotFound(LookupError):
    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} does not exist")
        self.execution_id = execution_id


class WriteConflict(RuntimeError):
    """The item moved on since it was read; re-read and re-apply."""


class InvalidWrite(DynamoDBError):
    """DynamoDB refused the write as invalid (ValidationException: the item would exceed 400 KB,
    a number out of range): the same write will be refused forever, so it is not retried."""

    def __init__(self, err: DynamoDBError) -> None:
        super().__init__(err.operation, err.table, err.__cause__ or err)
        cause = err.__cause__
        message = getattr(cause, "response", {}).get("Error", {}).get("Message", "") if cause else ""
        self.reason = str(message or err)


_MUTABLE = ("Status", "LastPolledTime", "EndTime", "TimeoutDetected", "StatusReason")
_MUTABLE_CLEANUP = ("CleanupStatus", "CleanupRequestedTime", "CleanupEndTime", "CleanupStatusReason")


class ExecutionStore:
    """The execution table, seen as Execution models."""

    def __init__(
        self, dynamodb: Any, table: str, max_concurrent_writes: int = 64, turns: TurnBudget | None = None
    ) -> None:
        self._db = dynamodb
        self.table = table
        self._writes = asyncio.Semaphore(max_concurrent_writes)
        self._turns = turns or TurnBudget(0.0)

    async def get_item(self, execution_id: str) -> dict[str, Any]:
        """The raw item, for callers that must survive a malformed one."""
        response = await timed_dynamodb_call(
            "GetItem",
            self.table,
            self._db.get_item,
            TableName=self.table,
            Key={"ExecutionId": {"S": execution_id}},
            ConsistentRead=True,
        )
        if "Item" not in response:
            raise ExecutionNotFound(execution_id)
        return deserialize(response["Item"])

    async def get(self, execution_id: str) -> Execution:
        """Raises MalformedItemError (naming key and field) if the item cannot be read."""
        return execution_from_item(await self.get_item(execution_id))

    async def create(self, execution: Execution) -> None:
        item = {
            **execution_to_item(execution),
            PENDING_WAVES: pending_waves(execution),
            **cleanup_keys(execution),
        }
        async with self._writes:
            await timed_dynamodb_call(
                "PutItem",
                self.table,
                self._db.put_item,
                TableName=self.table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(ExecutionId)",
            )

    async def save(
        self, execution: Execution, expected_version: int, lease: Lease | None = None
    ) -> Execution:
        """Write the mutable attributes if the stored Version is still ``expected_version``.

        With a ``lease``, the write also requires that we still own it, and renews it: a
        replica that lost its lease has its writes rejected by DynamoDB, not applied. The
        request is built inside the write bound, so a backlog holds models, not requests.
        A writer that had to wait for a slot is woken by a write answer, outside any tracker's
        slice, and a burst of answers frees many: so it takes its turn at the budget before its
        request is built, serialized, signed and sent (loop work the budget must count; figures:
        docs/performance.md). One that got a slot at once is still inside the step its caller
        was admitted for.
        """
        waited = self._writes.locked()
        async with self._writes:
            if waited:
                await self._turns.checkpoint()
            request = save_request(self.table, execution, expected_version, lease)
            try:
                await self._update(request, execution, expected_version)
            except InvalidWrite:
                if execution.Status not in TERMINAL_EXECUTION:
                    raise
                # The end of an execution is always recorded: if the whole item cannot be
                # written, its status, end and reason are, and the waves stay as they were.
                request = terminal_request(self.table, execution, expected_version, lease)
                await self._update(request, execution, expected_version)
        return execution.model_copy(update={"Version": expected_version + 1})

    async def _update(self, request: dict[str, Any], execution: Execution, expected_version: int) -> None:
        try:
            await timed_dynamodb_call("UpdateItem", self.table, self._db.update_item, **request)
        except ConditionFailed as err:
            raise WriteConflict(
                f"execution {execution.ExecutionId} is no longer at version {expected_version}"
            ) from err
        except DynamoDBError as err:
            if err.code == "ValidationException":
                raise InvalidWrite(err) from err.__cause__
            raise


def save_request(
    table: str, execution: Execution, expected_version: int, lease: Lease | None
) -> dict[str, Any]:
    """The conditional UpdateItem of a save, as sent: pure, so tests and benchmarks of the local
    stand-in time exactly what the daemon asks, not a hand-made copy of it."""
    names: dict[str, str] = {"#v": "Version", "#waves": "Waves"}
    values: dict[str, Any] = {":expected": expected_version, ":next": expected_version + 1}
    # Waves first: the one attribute that can make the item too large. DynamoDB applies an update
    # whole or not at all; moto applies SET actions in order, and must fail before Version moves.
    sets = ["#waves = :waves", "#v = :next", "#pending = :pending"]
    names["#pending"] = PENDING_WAVES
    values[":pending"] = pending_waves(execution)
    condition = _version_and_lease(names, values, sets, lease)
    removes: list[str] = []
    item = execution_to_item(execution)
    values[":waves"] = item["Waves"]
    for derived in (CLEANUP_QUEUE, CLEANUP_DUE):  # read back as extras: derive afresh, never copy
        item.pop(derived, None)
    item.update(cleanup_keys(execution))
    for i, attr in enumerate((*_MUTABLE, *_MUTABLE_CLEANUP, CLEANUP_QUEUE, CLEANUP_DUE)):
        names[f"#a{i}"] = attr
        if attr in item:
            values[f":a{i}"] = item[attr]
            sets.append(f"#a{i} = :a{i}")
        else:
            removes.append(f"#a{i}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {
        "TableName": table,
        "Key": {"ExecutionId": {"S": execution.ExecutionId}},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize(values),
    }


def terminal_request(
    table: str, execution: Execution, expected_version: int, lease: Lease | None
) -> dict[str, Any]:
    """A terminal execution's end as a small UpdateItem (status, end time, reason; no waves): what
    is written when DynamoDB refuses the whole item, so an execution can always end."""
    names = {"#v": "Version", "#s": "Status", "#pending": PENDING_WAVES}
    values: dict[str, Any] = {
        ":expected": expected_version,
        ":next": expected_version + 1,
        ":s": str(execution.Status),
        ":pending": 0,
    }
    sets = ["#v = :next", "#s = :s", "#pending = :pending"]
    for i, (attr, value) in enumerate(
        (("EndTime", execution.EndTime), ("StatusReason", execution.StatusReason))
    ):
        if value is not None:
            names[f"#t{i}"] = attr
            values[f":t{i}"] = to_dynamo_number(value) if isinstance(value, float) else value
            sets.append(f"#t{i} = :t{i}")
    condition = _version_and_lease(names, values, sets, lease)
    return {
        "TableName": table,
        "Key": {"ExecutionId": {"S": execution.ExecutionId}},
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": serialize(values),
    }


def _version_and_lease(
    names: dict[str, str], values: dict[str, Any], sets: list[str], lease: Lease | None
) -> str:
    """The condition of every execution write (the version read, and this replica's lease if it
    holds one), adding the lease renewal to ``sets``: one write both records and renews."""
    if lease is None:
        return "#v = :expected"
    names.update({"#lo": LEASE_OWNER, "#le": LEASE_EXPIRY})
    values.update({":owner": lease.owner, ":expiry": to_dynamo_number(lease.expiry)})
    sets.append("#le = :expiry")
    return "#v = :expected AND #lo = :owner"
