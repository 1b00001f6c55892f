"""Plan 1.1.x: the finder reads the StatusIndex GSI of a real (moto) table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aioboto3
import pytest
from botocore.config import Config

from poller.aws.clients import AwsClients
from poller.config import Settings
from poller.pipeline.find import find_polling_executions
from poller.store.dynamodb import DynamoDBError, serialize
from tests.conftest import Tables

pytestmark = [pytest.mark.integration]


def _put(dynamodb: Any, table: str, execution_id: str, status: str, start: int) -> None:
    item = {"ExecutionId": execution_id, "Status": status, "StartTime": Decimal(start), "PlanId": "p"}
    dynamodb.put_item(TableName=table, Item=serialize(item))


async def test_1_1_1_finder_queries_status_index_for_polling_only(
    dynamodb: Any, tables: Tables, make_settings: Any
) -> None:
    for i, status in enumerate(["POLLING", "COMPLETED", "POLLING", "FAILED", "POLLING"], start=1):
        _put(dynamodb, tables.executions, f"exec-{i}", status, i * 1000)
    seen: list[dict[str, Any]] = []
    settings: Settings = make_settings()
    async with AwsClients(settings) as clients:
        clients.dynamodb.meta.events.register(
            "provide-client-params.dynamodb.*", lambda params, **_: seen.append(dict(params))
        )
        result = await find_polling_executions(clients.dynamodb, tables.executions, tables.index)

    assert [e["ExecutionId"] for e in result] == ["exec-1", "exec-3", "exec-5"]  # StartTime order
    assert all(e["Status"] == "POLLING" for e in result)
    assert len(seen) == 1
    assert seen[0]["IndexName"] == "StatusIndex"
    assert "Status" in str(seen[0]["ExpressionAttributeNames"].values())


async def test_1_1_2_finder_returns_empty_list_when_nothing_polls(
    dynamodb: Any, tables: Tables, make_settings: Any
) -> None:
    _put(dynamodb, tables.executions, "exec-done", "COMPLETED", 1)
    async with AwsClients(make_settings()) as clients:
        result = await find_polling_executions(clients.dynamodb, tables.executions, tables.index)
    assert result == []


async def test_finder_reads_in_pages_of_bounded_size_and_misses_nothing(
    dynamodb: Any, tables: Tables, make_settings: Any
) -> None:
    # small pages keep each botocore parse short (the loop gets a turn between pages)
    for i in range(10):
        _put(dynamodb, tables.executions, f"exec-{i:02}", "POLLING", 100 - i)
    limits: list[int] = []
    async with AwsClients(make_settings()) as clients:
        clients.dynamodb.meta.events.register(
            "provide-client-params.dynamodb.Query", lambda params, **_: limits.append(params["Limit"])
        )
        result = await find_polling_executions(
            clients.dynamodb, tables.executions, tables.index, page_items=3
        )
    assert [e["ExecutionId"] for e in result] == [f"exec-{i:02}" for i in reversed(range(10))]
    assert limits == [3, 3, 3, 3]


async def test_finder_follows_pagination_to_the_last_page(
    dynamodb: Any, tables: Tables, make_settings: Any
) -> None:
    big = "x" * 50_000  # ~50 KB per item: a 1 MB query page holds ~20 of them
    for i in range(45):
        item = {"ExecutionId": f"exec-{i:03}", "Status": "POLLING", "StartTime": Decimal(i), "Pad": big}
        dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    pages: list[int] = []
    async with AwsClients(make_settings()) as clients:
        clients.dynamodb.meta.events.register(
            "provide-client-params.dynamodb.Query", lambda params, **_: pages.append(1)
        )
        result = await find_polling_executions(clients.dynamodb, tables.executions, tables.index)
    assert len(result) == 45
    assert len(pages) > 1


async def test_1_1_3_finder_error_names_dynamodb(tables: Tables, make_settings: Any) -> None:
    async with AwsClients(make_settings()) as clients:
        with pytest.raises(DynamoDBError) as missing_table:
            await find_polling_executions(clients.dynamodb, "no-such-table", tables.index)
    assert "DynamoDB" in str(missing_table.value)
    assert "Query" in str(missing_table.value)
    assert missing_table.value.code == "ResourceNotFoundException"


async def test_finder_error_on_unreachable_endpoint_names_dynamodb(tables: Tables) -> None:
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=1)
    session = aioboto3.Session()
    # port 9 (discard): nothing listens, so the connection is refused at once
    async with session.client("dynamodb", endpoint_url="http://127.0.0.1:9", config=config) as dynamodb:
        with pytest.raises(DynamoDBError, match="DynamoDB Query"):
            await find_polling_executions(dynamodb, tables.executions, tables.index)


async def test_missing_table_error_says_what_to_do(tables: Tables, make_settings: Any) -> None:
    async with AwsClients(make_settings()) as clients:
        with pytest.raises(DynamoDBError, match="poller init-tables"):
            await find_polling_executions(clients.dynamodb, "no-such-table", tables.index, page_attempts=1)
