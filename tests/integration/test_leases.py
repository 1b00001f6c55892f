"""Leases: one replica polls an execution at a time; shutdown hands over at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from poller.aws.clients import AwsClients
from poller.store.executions import ExecutionStore, WriteConflict
from poller.store.lease import RECORD_TTL, RECORD_TTL_SECONDS, LeaseKeeper, replica_key
from tests.conftest import Tables, daemon_running, start_daemon
from tests.integration.support import (
    get_execution_from_dynamodb,
    seed_single_server_executions,
    wait_for_ticks,
    wait_until,
)
from tests.prom import sample

pytestmark = [pytest.mark.integration]


def _owners(dynamodb: Any, tables: Tables, ids: list[str]) -> list[Any]:
    return [get_execution_from_dynamodb(dynamodb, tables.executions, i).get("LeaseOwner") for i in ids]


async def test_second_replica_leaves_leased_executions_alone_until_first_releases(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    with sim.control.drs_progression():
        ids = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 5)
        # slack 100 %: A's 5 stay within its share of 3 plus slack, so A gives none back to B
        first = await start_daemon(make_settings(replica_id="replica-a", replica_share_slack=1.0))
        await wait_until(
            lambda: _owners(dynamodb, tables, ids), lambda o: o == ["replica-a"] * 5, 10, "leases by A"
        )
        second = await start_daemon(make_settings(replica_id="replica-b", replica_share_slack=1.0))
        try:
            await wait_for_ticks(second.daemon, 5)  # several finder ticks of B
            assert second.daemon.scheduler.running == frozenset()
            assert _owners(dynamodb, tables, ids) == ["replica-a"] * 5

            first.stop.set()  # graceful: A releases its leases on the way out
            await asyncio.wait_for(first.task, 15)
            await wait_until(
                lambda: _owners(dynamodb, tables, ids), lambda o: o == ["replica-b"] * 5, 5, "B takes over"
            )
            assert second.daemon.scheduler.running == frozenset(ids)
        finally:
            first.stop.set()
            second.stop.set()
            await asyncio.gather(first.task, second.task)


async def test_write_by_a_replica_that_lost_its_lease_is_rejected(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    [execution_id] = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 1)
    async with AwsClients(make_settings()) as clients:
        store = ExecutionStore(clients.dynamodb, tables.executions)
        ours = LeaseKeeper(clients.dynamodb, tables.executions, "replica-old", lease_seconds=1.5)
        theirs = LeaseKeeper(clients.dynamodb, tables.executions, "replica-new", lease_seconds=30)
        await ours.heartbeat(time.time())
        assert await ours.claim(execution_id, time.time())
        seen = {"LeaseOwner": "replica-old"}
        await theirs.refresh_liveness(["replica-old"])
        assert not await theirs.claim(execution_id, time.time(), seen)  # live owner: refused
        await asyncio.sleep(1.6)  # replica-old stops renewing its liveness record
        await theirs.refresh_liveness(["replica-old"])
        assert await theirs.claim(execution_id, time.time(), seen)  # dead owner: taken over
        execution = await store.get(execution_id)
        with pytest.raises(WriteConflict):
            await store.save(execution, execution.Version, ours.lease(time.time()))
        saved = await store.save(execution, execution.Version, theirs.lease(time.time()))
    item = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
    assert item["Version"] == saved.Version == execution.Version + 1
    assert item["LeaseOwner"] == "replica-new"


async def test_two_replicas_taking_over_the_same_dead_owner_cannot_both_win(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    ids = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 10)
    async with AwsClients(make_settings()) as clients:
        dead = LeaseKeeper(clients.dynamodb, tables.executions, "replica-dead", lease_seconds=30)
        for execution_id in ids:
            assert await dead.claim(execution_id, time.time())
        await dead.retire()  # its liveness record now says: expired
        racers = [
            LeaseKeeper(clients.dynamodb, tables.executions, f"replica-{n}", lease_seconds=30) for n in "bc"
        ]
        for racer in racers:
            await racer.refresh_liveness(["replica-dead"])
        seen = {"LeaseOwner": "replica-dead"}
        wins = await asyncio.gather(*(racer.claim(i, time.time(), seen) for i in ids for racer in racers))
    assert [wins[2 * k] + wins[2 * k + 1] for k in range(len(ids))] == [1] * len(ids)
    owners = _owners(dynamodb, tables, ids)
    assert set(owners) <= {"replica-b", "replica-c"}


async def test_lease_renewal_costs_one_write_per_replica_not_one_per_execution(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    with sim.control.drs_progression():  # nothing changes: only renewals could write
        ids = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 20)
        async with daemon_running(make_settings(replica_id="replica-a", idle_write_seconds=300)):
            await wait_until(
                lambda: [get_execution_from_dynamodb(dynamodb, tables.executions, i) for i in ids],
                lambda items: all(
                    i.get("LeaseOwner") == "replica-a" and i["Waves"][0]["Servers"][0].get("PollAttempts")
                    for i in items
                ),
                10,
                "leased by A and polled once",
            )
            before = _update_items()
            await asyncio.sleep(2.0)  # four heartbeats of 0.5 s, dozens of polls
            writes = _update_items() - before
    # each heartbeat: the liveness record and the membership entry (replicas sharing the load)
    assert 4 <= writes <= 12, f"{writes} UpdateItems in 2 s for 20 idle executions"
    record = get_execution_from_dynamodb(dynamodb, tables.executions, "replica#replica-a")
    assert float(record["LeaseExpiry"]) == 0  # retired on the way out


def _update_items() -> float:
    return sample("poller_dynamodb_calls_total", operation="UpdateItem", outcome="ok")


async def test_replica_records_carry_the_table_ttl_and_claimed_executions_do_not(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    [execution_id] = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 1)
    async with AwsClients(make_settings()) as clients:
        keeper = LeaseKeeper(clients.dynamodb, tables.executions, "replica-ttl", lease_seconds=30)
        before = time.time()
        await keeper.heartbeat(before)
        assert await keeper.claim(execution_id, time.time())
    record = get_execution_from_dynamodb(dynamodb, tables.executions, replica_key("replica-ttl"))
    assert int(record[RECORD_TTL]) >= before + RECORD_TTL_SECONDS - 1
    execution = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
    assert execution["LeaseOwner"] == "replica-ttl" and RECORD_TTL not in execution
