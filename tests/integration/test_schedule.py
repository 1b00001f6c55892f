"""Plan 1.3.x with coroutines instead of Lambda invocations: one tracker per execution."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from drssim.testing import RunningSimulator

from poller.aws.clients import AwsClients
from poller.config import Settings
from poller.runtime.daemon import Daemon
from poller.store.dynamodb import serialize
from tests.conftest import Tables
from tests.integration.support import (
    all_servers,
    get_execution_from_dynamodb,
    seed_single_server_executions,
    wait_until,
)
from tests.prom import sample

pytestmark = [pytest.mark.integration]


@pytest_asyncio.fixture
async def daemon(make_settings: Callable[..., Settings]) -> AsyncIterator[Daemon]:
    """A daemon whose finder we drive by hand (no background loop), so counts are exact."""
    async with AwsClients(make_settings()) as clients:
        built = Daemon(make_settings(), clients)
        yield built
        await built.scheduler.shutdown(grace_seconds=5)
        await built.batcher.aclose()


async def test_1_3_1_one_coroutine_per_execution(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, daemon: Daemon
) -> None:
    with sim.control.drs_progression():
        ids = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 3)
        report = await daemon.find_once()
        assert report is not None
        assert report.scheduled == 3
        assert daemon.scheduler.running == frozenset(ids)
        await asyncio.sleep(0)  # coroutines start a slice per loop turn, from the next one
        assert _tracking_tasks() == [f"track:{i}" for i in sorted(ids)]
        again = await daemon.find_once()
        assert again is not None and again.scheduled == 0 and again.running == 3  # no duplicates
        await asyncio.sleep(0)
        assert _tracking_tasks() == [f"track:{i}" for i in sorted(ids)]


def _tracking_tasks() -> list[str]:
    return sorted(
        t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("track:") and not t.done()
    )


async def test_1_3_2_one_failing_execution_does_not_stop_others(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, daemon: Daemon
) -> None:
    with sim.control.drs_progression():
        good = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 2)
        broken = {
            "ExecutionId": "exec-broken",
            "Status": "POLLING",
            "StartTime": 1,
            "PlanId": "p",
            "Waves": "oops",
        }
        dynamodb.put_item(TableName=tables.executions, Item=serialize(broken))
        before = sample("poller_malformed_items_total")

        await daemon.find_once()
        for execution_id in good:
            await wait_until(
                lambda eid=execution_id: get_execution_from_dynamodb(dynamodb, tables.executions, eid),
                lambda e: all(s["Status"] == "PENDING" for s in all_servers(e)),
                5,
                f"{execution_id} polled",
            )
        report = await daemon.find_once()

    assert report is not None
    assert report.failed == 1
    assert report.quarantined == 1
    assert sample("poller_malformed_items_total") == before + 1
    assert (
        get_execution_from_dynamodb(dynamodb, tables.executions, "exec-broken")["Waves"] == "oops"
    )  # untouched
    assert daemon.scheduler.running == frozenset(good)


async def test_tracker_stops_within_one_tick_when_execution_leaves_polling(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, daemon: Daemon
) -> None:
    with sim.control.drs_progression():
        [execution_id] = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, 1)
        await daemon.find_once()
        assert execution_id in daemon.scheduler.running
        dynamodb.update_item(
            TableName=tables.executions,
            Key={"ExecutionId": {"S": execution_id}},
            UpdateExpression="SET #s = :c, Version = Version + :one",
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":c": {"S": "CANCELLED"}, ":one": {"N": "1"}},
        )
        report = await daemon.find_once()
        assert report is not None and report.stopped == 1
        for _ in range(50):
            if execution_id not in daemon.scheduler.running:
                break
            await asyncio.sleep(0.05)
        assert execution_id not in daemon.scheduler.running
    assert get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)["Status"] == "CANCELLED"
