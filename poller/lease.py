"""Leases: each execution is polled by one replica at a time.

A lease is two attributes on the execution item (LeaseOwner, LeaseExpiry), claimed and
renewed with conditional writes. A replica that dies is taken over once its lease expires; a
replica that shuts down releases its leases so another takes over at once. Lease writes do not
bump Version: they never make a status write conflict, they only decide who may write.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from poller import metrics
from poller.domain.model import to_dynamo_number
from poller.dynamodb import ConditionFailed, DynamoDBError, serialize, timed_dynamodb_call

log = structlog.get_logger("poller.lease")

LEASE_OWNER = "LeaseOwner"
LEASE_EXPIRY = "LeaseExpiry"


def new_replica_id() -> str:
    """Unique per process: host (the Fargate task), pid and a random suffix for restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Lease:
    owner: str
    expiry: float


def held_by_other(item: Mapping[str, Any], me: str, now: float) -> bool:
    """True when another replica holds a live lease on this (index or table) item."""
    owner = item.get(LEASE_OWNER)
    expiry = item.get(LEASE_EXPIRY)
    if not isinstance(owner, str) or owner == me or not isinstance(expiry, int | float | Decimal):
        return False
    return float(expiry) > now


class LeaseKeeper:
    """Claims, renews and releases leases for one replica."""

    def __init__(self, dynamodb: Any, table: str, owner: str, lease_seconds: float) -> None:
        self._db = dynamodb
        self._table = table
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._held: set[str] = set()

    def lease(self, now: float) -> Lease:
        return Lease(self.owner, now + self.lease_seconds)

    async def claim(self, execution_id: str, now: float) -> bool:
        """Take the lease if free, ours, or expired; False if another replica holds it."""
        try:
            response = await timed_dynamodb_call(
                "UpdateItem",
                self._table,
                self._db.update_item,
                TableName=self._table,
                Key={"ExecutionId": {"S": execution_id}},
                UpdateExpression="SET #lo = :me, #le = :expiry",
                ConditionExpression=(
                    "attribute_exists(ExecutionId) AND (attribute_not_exists(#lo) OR #lo = :me OR #le < :now)"
                ),
                ExpressionAttributeNames={"#lo": LEASE_OWNER, "#le": LEASE_EXPIRY},
                ExpressionAttributeValues=serialize(
                    {
                        ":me": self.owner,
                        ":expiry": to_dynamo_number(now + self.lease_seconds),
                        ":now": to_dynamo_number(now),
                    }
                ),
                ReturnValues="UPDATED_OLD",
            )
        except ConditionFailed:
            return False
        previous = response.get("Attributes", {}).get(LEASE_OWNER, {}).get("S")
        if previous and previous != self.owner:
            metrics.LEASES_TAKEN_OVER.inc()
        if execution_id not in self._held:
            metrics.LEASES_CLAIMED.inc()
        self._held.add(execution_id)
        metrics.LEASES_HELD.set(len(self._held))
        return True

    def lost(self, execution_id: str) -> None:
        if execution_id in self._held:
            self._held.discard(execution_id)
            metrics.LEASES_LOST.inc()
            metrics.LEASES_HELD.set(len(self._held))

    async def release(self, execution_id: str) -> None:
        """Give the lease back (shutdown, execution finished); a lease already lost is fine."""
        if execution_id not in self._held:
            return
        self._held.discard(execution_id)
        metrics.LEASES_HELD.set(len(self._held))
        try:
            await timed_dynamodb_call(
                "UpdateItem",
                self._table,
                self._db.update_item,
                TableName=self._table,
                Key={"ExecutionId": {"S": execution_id}},
                UpdateExpression="REMOVE #lo, #le",
                ConditionExpression="#lo = :me",
                ExpressionAttributeNames={"#lo": LEASE_OWNER, "#le": LEASE_EXPIRY},
                ExpressionAttributeValues=serialize({":me": self.owner}),
            )
        except ConditionFailed:
            pass  # already taken over: nothing to give back
        except DynamoDBError as err:
            log.warning("lease_release_failed", execution_id=execution_id, error=str(err))  # it expires
