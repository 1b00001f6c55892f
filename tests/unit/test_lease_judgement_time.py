"""A claim judges other owners' liveness as of when it was read, and an unreadable record is
presumed alive: a tracker that waited at the start gate never takes a live replica's execution
only because the record it holds has aged meanwhile."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from poller.store.lease import LeaseKeeper, replica_key


class Table:
    """get_item answers liveness records (or fails); update_item records the claims it gets."""

    def __init__(self, records: dict[str, float]) -> None:
        self.records = records
        self.failing = False
        self.claims: list[str] = []

    async def get_item(self, **params: Any) -> dict[str, Any]:
        if self.failing:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "GetItem")
        key = params["Key"]["ExecutionId"]["S"]
        expiry = self.records.get(key)
        return {} if expiry is None else {"Item": {"LeaseExpiry": {"N": str(expiry)}}}

    async def update_item(self, **params: Any) -> dict[str, Any]:
        self.claims.append(params["Key"]["ExecutionId"]["S"])
        return {"Attributes": {"LeaseOwner": {"S": "other"}}}


OWNED_BY_OTHER = {"LeaseOwner": "other", "LeaseExpiry": 0}


async def test_a_record_alive_when_read_keeps_its_executions_at_a_later_claim() -> None:
    table = Table({replica_key("other"): 1_010.0})
    keeper = LeaseKeeper(table, "executions", "me", lease_seconds=30)
    await keeper.refresh_liveness(["other"], now=1_000.0)
    assert not await keeper.claim("exec-1", 1_020.0, OWNED_BY_OTHER)  # queued 20 s at the gate
    assert table.claims == []


async def test_a_record_expired_when_read_is_taken_over() -> None:
    table = Table({replica_key("other"): 990.0})
    keeper = LeaseKeeper(table, "executions", "me", lease_seconds=30)
    await keeper.refresh_liveness(["other"], now=1_000.0)
    assert await keeper.claim("exec-1", 1_020.0, OWNED_BY_OTHER)
    assert table.claims == ["exec-1"]


async def test_a_record_that_cannot_be_read_again_is_presumed_alive() -> None:
    table = Table({replica_key("other"): 1_010.0})
    keeper = LeaseKeeper(table, "executions", "me", lease_seconds=30)
    await keeper.refresh_liveness(["other"], now=1_000.0)
    table.failing = True
    await keeper.refresh_liveness(["other"], now=2_000.0)  # the old answer says expired by now
    assert not await keeper.claim("exec-1", 2_000.0, OWNED_BY_OTHER)
    assert table.claims == []
