"""Leases: one replica polls an execution at a time; shutdown hands over at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from drssim.testing import RunningSimulator
from poller.clients import AwsClients
from poller.lease import LeaseKeeper
from poller.write import ExecutionStore, WriteConflict
from tests.conftest import Tables, start_daemon
from tests.integration.support import (
    get_execution_from_dynamodb,
    seed_single_server_executions,
    wait_until,
)

pytestmark = [pytest.mark.integration]


def _owners(dynamodb: Any, tables: Tables, ids: list[str]) -> list[Any]:
    return [get_execution_from_dynamodb(dynamodb, tables.executions, i).get("LeaseOwner") for i in ids]


async def test_second_replica_leaves_leased_executions_alone_until_first_releases(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    with sim.control.drs_progression():
        ids = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 5)
        first = await start_daemon(make_settings(replica_id="replica-a"))
        await wait_until(
            lambda: _owners(dynamodb, tables, ids), lambda o: o == ["replica-a"] * 5, 10, "leases by A"
        )
        second = await start_daemon(make_settings(replica_id="replica-b"))
        try:
            await asyncio.sleep(1.0)  # several finder ticks of B
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
        assert await ours.claim(execution_id, time.time())
        assert not await theirs.claim(execution_id, time.time())  # live lease: refused
        await asyncio.sleep(1.6)
        assert await theirs.claim(execution_id, time.time())  # expired: taken over
        execution = await store.get(execution_id)
        with pytest.raises(WriteConflict):
            await store.save(execution, execution.Version, ours.lease(time.time()))
        saved = await store.save(execution, execution.Version, theirs.lease(time.time()))
    item = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
    assert item["Version"] == saved.Version == execution.Version + 1
    assert item["LeaseOwner"] == "replica-new"
