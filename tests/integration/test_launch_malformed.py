"""A malformed PENDING item is logged and counted once by the launcher, then left alone."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from poller import metrics
from poller.store.dynamodb import serialize
from tests.conftest import RunningDaemon, Tables
from tests.integration.support import get_execution_from_dynamodb

pytestmark = [pytest.mark.integration]


async def test_malformed_pending_item_is_counted_once_and_left_untouched(
    dynamodb: Any, tables: Tables, running_daemon: RunningDaemon
) -> None:
    item = {"ExecutionId": "exec-bad-pending", "Status": "PENDING", "StartTime": Decimal(1), "Waves": 7}
    before = metrics.MALFORMED_ITEMS._value.get()
    dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    for _ in range(100):
        if metrics.MALFORMED_ITEMS._value.get() > before:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # five more finder/launcher ticks at the test's 0.2 s period
    assert metrics.MALFORMED_ITEMS._value.get() == before + 1
    assert get_execution_from_dynamodb(dynamodb, tables.executions, "exec-bad-pending") == {
        "ExecutionId": "exec-bad-pending",
        "Status": "PENDING",
        "StartTime": Decimal(1),
        "Waves": Decimal(7),
    }
