"""Find: the executions in POLLING, from the StatusIndex GSI (Status, StartTime).

Every pass reads every POLLING execution, so it asks only for the few small attributes it needs
(``INDEX_ATTRIBUTES``), never the waves: each tracker reads its own full item once at start.
Pages are small and the loop gets a turn between chunks of a page, so a pass never stalls it
(``Responsiveness.finder_page_items`` and ``deserialize_per_turn``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from poller.runtime.responsiveness import Responsiveness
from poller.store.dynamodb import DynamoDBError, deserialize, timed_dynamodb_call

# What the finder, the launcher and the lease filter need: not the waves (the bulk of an item).
INDEX_ATTRIBUTES = ("ExecutionId", "Status", "StartTime", "LeaseOwner", "LeaseExpiry", "PendingWaves")


class IncompleteFind(DynamoDBError):
    """A page kept failing: ``found`` holds what the pages before it returned.

    The daemon still starts trackers for those, but stops none: an execution missing from an
    incomplete pass may simply be on the page that failed.
    """

    def __init__(self, cause: DynamoDBError, found: list[dict[str, Any]]) -> None:
        super().__init__(cause.operation, cause.table, cause.__cause__ or cause)
        self.found = found


async def find_polling_executions(
    dynamodb: Any,
    table: str,
    index: str = "StatusIndex",
    status: str = "POLLING",
    page_attempts: int = 3,
    page_backoff_seconds: float = 0.5,
    page_items: int = Responsiveness.finder_page_items,
    deserialize_per_turn: int = Responsiveness.deserialize_per_turn,
) -> list[dict[str, Any]]:
    """Every index item with ``Status = status``, oldest StartTime first, all pages.

    A failing page is retried (``page_attempts``, doubling backoff) from where the pass stands,
    so one throttled page of a long pass does not throw the whole pass away.
    """
    found: list[dict[str, Any]] = []
    params = query_request(table, index, status, page_items)
    while True:
        page = await _page(dynamodb, table, params, found, page_attempts, page_backoff_seconds)
        items = page.get("Items", [])
        for start in range(0, len(items), deserialize_per_turn):
            if start:
                await asyncio.sleep(0)
            found.extend(deserialize(item) for item in items[start : start + deserialize_per_turn])
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        params["ExclusiveStartKey"] = last


def query_request(
    table: str, index: str, status: str, page_items: int = Responsiveness.finder_page_items
) -> dict[str, Any]:
    """The first page's Query, as sent: pure, so the finder benchmark times exactly this request."""
    return {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#status = :status",
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(INDEX_ATTRIBUTES))),
        "ExpressionAttributeNames": {
            "#status": "Status",
            **{f"#a{i}": name for i, name in enumerate(INDEX_ATTRIBUTES)},
        },
        "ExpressionAttributeValues": {":status": {"S": status}},
        "Limit": page_items,
    }


async def _page(
    dynamodb: Any,
    table: str,
    params: dict[str, Any],
    found: list[dict[str, Any]],
    attempts: int,
    backoff: float,
) -> Any:
    for attempt in range(1, attempts + 1):
        try:
            return await timed_dynamodb_call("Query", table, dynamodb.query, **params)
        except DynamoDBError as err:
            if attempt == attempts:
                raise IncompleteFind(err, found) from err
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
