"""Leases: each execution is polled by one replica at a time.

An execution item names its owner (LeaseOwner). Whether that owner is alive is not renewed on
every item: each replica keeps one *liveness record* in the same table (key
``replica#<owner>``, no Status, so never in the StatusIndex) and renews it every heartbeat.
Renewing every item's lease every heartbeat would cost one write per execution per heartbeat;
one record per replica costs one. A replica whose record has expired (it died, or lost DynamoDB) is taken over with
a compare-and-swap on LeaseOwner; its late writes then fail their ``LeaseOwner = me``
condition. A replica that shuts down marks its record expired, so others take over at once.

So that replicas can share the load (``poller.domain.share``), each also keeps its expiry in one
shared *membership* record (key ``replica#*members``, a map owner → expiry, written with the
heartbeat): one GetItem a finder pass tells every replica how many replicas are alive,
including one that owns nothing yet. A stopping replica removes itself.

Items also carry LeaseExpiry (set at claim and on every write): the fallback when an owner has
no liveness record, e.g. a replica that crashed before writing one. Lease writes never bump
Version: they decide who may write, never make a status write conflict.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from poller import metrics
from poller.domain.model import to_dynamo_number
from poller.store.dynamodb import ConditionFailed, DynamoDBError, deserialize, serialize, timed_dynamodb_call

log = structlog.get_logger("poller.store.lease")

LEASE_OWNER = "LeaseOwner"
LEASE_EXPIRY = "LeaseExpiry"
# DynamoDB's TTL attribute of the table (deploy/poller.yaml): only replica records carry it, so
# DynamoDB deletes the record of a replica gone for good and never an execution item.
RECORD_TTL = "RecordExpiresAt"
RECORD_TTL_SECONDS = 7 * 24 * 3600  # long past any lease: a record this stale names no live replica
REPLICA_KEY_PREFIX = "replica#"
MEMBERS_KEY = REPLICA_KEY_PREFIX + "*members"  # '*' is in no replica ID (host-pid-random)
MEMBERS = "Members"


def new_replica_id() -> str:
    """Unique per process: host (the Fargate task), pid and a random suffix for restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def replica_key(owner: str) -> str:
    return REPLICA_KEY_PREFIX + owner


def is_replica_record(execution_id: str) -> bool:
    return execution_id.startswith(REPLICA_KEY_PREFIX)


@dataclass(frozen=True)
class Lease:
    owner: str
    expiry: float


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float | Decimal) else None


def held_by_other(
    item: Mapping[str, Any], me: str, now: float, alive_until: Mapping[str, float | None] | None = None
) -> bool:
    """True when another replica that is still alive owns this (index or table) item.

    ``alive_until`` maps owners to the expiry of their liveness record, or to None when they
    have none (judged by the item's LeaseExpiry). An owner missing from it could not be read:
    presumed alive, so a DynamoDB hiccup never makes us steal. Without ``alive_until`` the
    item's LeaseExpiry decides.
    """
    owner = item.get(LEASE_OWNER)
    if not isinstance(owner, str) or owner == me:
        return False
    if alive_until is not None and owner not in alive_until:
        return True
    known = alive_until.get(owner) if alive_until is not None else None
    expiry = known if known is not None else _number(item.get(LEASE_EXPIRY))
    return expiry is not None and expiry > now


class LeaseKeeper:
    """Claims and releases executions for one replica, and keeps its liveness record."""

    def __init__(self, dynamodb: Any, table: str, owner: str, lease_seconds: float) -> None:
        self._db = dynamodb
        self._table = table
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._held: set[str] = set()
        self.alive_until: dict[str, float | None] = {}  # other replicas' liveness, as last read
        self._liveness_as_of: float | None = None  # when alive_until was read
        self.retiring = False
        self._live_count = 1

    def lease(self, now: float) -> Lease:
        return Lease(self.owner, now + self.lease_seconds)

    async def heartbeat(self, now: float) -> None:
        """Renew this replica's liveness record and its membership entry: two writes, whatever
        the number of executions."""
        await self._set_record_expiry(now + self.lease_seconds)
        await self._set_membership(now + self.lease_seconds)

    async def _set_membership(self, expiry: float | None) -> None:
        """Members.<me> = expiry (None: remove me). The map is created by the first replica."""
        names = {"#m": MEMBERS, "#me": self.owner}
        if expiry is None:
            await self._update_members("REMOVE #m.#me", "attribute_exists(#m)", names)
            return
        value = to_dynamo_number(expiry)
        for _ in range(3):  # set my entry, or create the map; a lost race on creation retries
            try:
                await self._update_members(
                    "SET #m.#me = :expiry", "attribute_exists(#m)", names, {":expiry": value}
                )
                return
            except ConditionFailed:
                pass
            try:
                await self._update_members(
                    "SET #m = :members",
                    "attribute_not_exists(#m)",
                    {"#m": MEMBERS},
                    {":members": {self.owner: value}},
                )
                return
            except ConditionFailed:
                continue

    async def _update_members(
        self, expression: str, condition: str, names: dict[str, str], values: dict[str, Any] | None = None
    ) -> None:
        """One conditional UpdateItem on the membership record; ConditionFailed when it does not hold."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"ExecutionId": {"S": MEMBERS_KEY}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if values is not None:
            request["ExpressionAttributeValues"] = serialize(values)
        await timed_dynamodb_call("UpdateItem", self._table, self._db.update_item, **request)

    async def live_replicas(self, now: float) -> int:
        """Replicas alive now, this one included: the membership record, plus owners whose
        liveness record is known alive but who have no entry (an older version of the daemon).
        If the record cannot be read, the last count stands (never a reason to grab everything)."""
        try:
            response = await timed_dynamodb_call(
                "GetItem",
                self._table,
                self._db.get_item,
                TableName=self._table,
                Key={"ExecutionId": {"S": MEMBERS_KEY}},
                ProjectionExpression="#m",
                ExpressionAttributeNames={"#m": MEMBERS},
                ConsistentRead=True,
            )
        except DynamoDBError as err:
            log.warning("members_read_failed", error=str(err))
            return self._live_count
        members = deserialize(response.get("Item", {})).get(MEMBERS)
        alive = {self.owner}
        if isinstance(members, Mapping):
            alive |= {o for o, e in members.items() if (t := _number(e)) is not None and t > now}
        alive |= {o for o, t in self.alive_until.items() if t is not None and t > now}
        self._live_count = len(alive)
        return self._live_count

    async def retire(self) -> None:
        """Shutting down: mark the record expired so other replicas take over at their next pass."""
        self.retiring = True
        self._held.clear()
        metrics.LEASES_HELD.set(0)
        try:
            await self._set_record_expiry(0)
            await self._set_membership(None)
        except ConditionFailed:
            pass  # no membership map: nothing to remove
        except DynamoDBError as err:
            log.warning("lease_retire_failed", error=str(err))  # the record expires by itself

    async def _set_record_expiry(self, expiry: float) -> None:
        await timed_dynamodb_call(
            "UpdateItem",
            self._table,
            self._db.update_item,
            TableName=self._table,
            Key={"ExecutionId": {"S": replica_key(self.owner)}},
            UpdateExpression="SET #lo = :me, #le = :expiry, #ttl = :ttl",
            ExpressionAttributeNames={"#lo": LEASE_OWNER, "#le": LEASE_EXPIRY, "#ttl": RECORD_TTL},
            ExpressionAttributeValues=serialize(
                {
                    ":me": self.owner,
                    ":expiry": to_dynamo_number(expiry),
                    ":ttl": int(time.time()) + RECORD_TTL_SECONDS,  # DynamoDB TTL: epoch seconds
                }
            ),
        )

    async def refresh_liveness(self, owners: Iterable[str], now: float | None = None) -> None:
        """Read the liveness records of the other owners the finder saw (a handful of GetItems).

        An owner whose record cannot be read is presumed alive (a DynamoDB hiccup is never a
        reason to take over); one without a record is judged by its items' LeaseExpiry (None
        here). Owners no longer seen are forgotten. ``now``: when the reads start. Claims made
        later judge these records as of that moment, not their own: a tracker that waited at the
        start gate must not find an owner dead only because the record it holds has aged since
        (the owner renewed it meanwhile).
        """
        self._liveness_as_of = now
        wanted = {o for o in owners if o != self.owner}
        self.alive_until = {o: t for o, t in self.alive_until.items() if o in wanted}
        for owner in sorted(wanted):
            try:
                response = await timed_dynamodb_call(
                    "GetItem",
                    self._table,
                    self._db.get_item,
                    TableName=self._table,
                    Key={"ExecutionId": {"S": replica_key(owner)}},
                    ProjectionExpression="#le",
                    ExpressionAttributeNames={"#le": LEASE_EXPIRY},
                    ConsistentRead=True,
                )
            except DynamoDBError as err:
                log.warning("liveness_read_failed", owner=owner, error=str(err))
                self.alive_until.pop(owner, None)  # unknown: presumed alive
                continue
            self.alive_until[owner] = _number(deserialize(response.get("Item", {})).get(LEASE_EXPIRY))

    async def claim(self, execution_id: str, now: float, current: Mapping[str, Any] | None = None) -> bool:
        """Take the execution if it has no owner, is ours, or its owner is no longer alive.

        ``current`` holds the lease attributes we read; the write is a compare-and-swap on that
        owner, so two replicas taking over the same dead owner's execution cannot both win.
        """
        current = current or {}
        as_of = now if self._liveness_as_of is None else min(now, self._liveness_as_of)
        if held_by_other(current, self.owner, as_of, self.alive_until):
            return False
        seen = current.get(LEASE_OWNER)
        current_owner = seen if isinstance(seen, str) else None
        try:
            response = await timed_dynamodb_call(
                "UpdateItem",
                self._table,
                self._db.update_item,
                TableName=self._table,
                Key={"ExecutionId": {"S": execution_id}},
                UpdateExpression="SET #lo = :me, #le = :expiry",
                ConditionExpression=(
                    "attribute_exists(ExecutionId) AND (attribute_not_exists(#lo) OR #lo = :me OR #lo = :seen)"
                ),
                ExpressionAttributeNames={"#lo": LEASE_OWNER, "#le": LEASE_EXPIRY},
                ExpressionAttributeValues=serialize(
                    {
                        ":me": self.owner,
                        ":seen": current_owner or self.owner,
                        ":expiry": to_dynamo_number(now + self.lease_seconds),
                    }
                ),
                ReturnValues="UPDATED_OLD",
            )
        except ConditionFailed:
            return False
        previous = response.get("Attributes", {}).get(LEASE_OWNER, {}).get("S")
        if previous and previous != self.owner:
            metrics.LEASES_TAKEN_OVER.inc()
            log.info("lease_taken_over", execution_id=execution_id, previous_owner=previous)
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
        """Give one execution back (it finished, or left POLLING); a lease already lost is fine.

        Not at shutdown: :meth:`retire` hands every execution over with one write.
        """
        if execution_id not in self._held or self.retiring:
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
            metrics.LEASES_LOST.inc()  # another replica took it over meanwhile
        except DynamoDBError as err:
            log.warning("lease_release_failed", execution_id=execution_id, error=str(err))
