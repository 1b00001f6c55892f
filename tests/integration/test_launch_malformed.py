"""A malformed PENDING item is logged and counted once by the launcher, then left alone."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from poller.store.dynamodb import serialize
from tests.conftest import RunningDaemon, Tables
from tests.integration.support import get_execution_from_dynamodb, wait_for_ticks
from tests.prom import sample

pytestmark = [pytest.mark.integration]


async def test_malformed_pending_item_is_counted_once_and_left_untouched(
    dynamodb: Any, tables: Tables, running_daemon: RunningDaemon
) -> None:
    item = {"ExecutionId": "exec-bad-pending", "Status": "PENDING", "StartTime": Decimal(1), "Waves": 7}
    before = sample("poller_malformed_items_total")
    dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    for _ in range(100):
        if sample("poller_malformed_items_total") > before:
            break
        await asyncio.sleep(0.05)
    await wait_for_ticks(running_daemon.daemon, 5)  # five more finder/launcher ticks
    assert sample("poller_malformed_items_total") == before + 1
    assert get_execution_from_dynamodb(dynamodb, tables.executions, "exec-bad-pending") == {
        "ExecutionId": "exec-bad-pending",
        "Status": "PENDING",
        "StartTime": Decimal(1),
        "Waves": Decimal(7),
    }
