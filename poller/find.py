"""Find: the executions in POLLING, from the StatusIndex GSI (Status, StartTime)."""

from __future__ import annotations

from typing import Any

from poller.dynamodb import deserialize, timed_dynamodb_call


async def find_polling_executions(
    dynamodb: Any, table: str, index: str = "StatusIndex", status: str = "POLLING"
) -> list[dict[str, Any]]:
    """Every index item with ``Status = status``, oldest StartTime first, all pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#status = :status",
        "ExpressionAttributeNames": {"#status": "Status"},
        "ExpressionAttributeValues": {":status": {"S": status}},
    }
    while True:
        page = await timed_dynamodb_call("Query", table, dynamodb.query, **params)
        found.extend(deserialize(item) for item in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        params["ExclusiveStartKey"] = last
