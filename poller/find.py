"""Find: the executions in POLLING, from the StatusIndex GSI (Status, StartTime).

The GSI projects whole items and every pass reads all of them, so at thousands of executions
the pass is dominated by turning AttributeValues into Python values. ``_deserialize_item`` does
what boto3's ``TypeDeserializer`` does (same types: ``Decimal`` numbers, ``set`` for SS/NS/BS,
``Binary`` for B) with a direct type-tag dispatch, several times faster (bench/micro_finder.py),
and the loop gets a turn between chunks of a page so one 1 MB page never stalls it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary

from poller.dynamodb import timed_dynamodb_call

_YIELD_EVERY = 200  # items deserialized between two turns of the event loop
_number = DYNAMODB_CONTEXT.create_decimal


def _value(av: dict[str, Any]) -> Any:
    # one-key AttributeValue maps; the common tags first
    for tag, raw in av.items():
        if tag == "S":
            return raw
        if tag == "N":
            return _number(raw)
        if tag == "M":
            return {k: _value(v) for k, v in raw.items()}
        if tag == "L":
            return [_value(v) for v in raw]
        if tag == "BOOL":
            return raw
        if tag == "NULL":
            return None
        if tag == "SS":
            return set(raw)
        if tag == "NS":
            return {_number(n) for n in raw}
        if tag == "B":
            return Binary(raw)
        if tag == "BS":
            return {Binary(b) for b in raw}
        raise TypeError(f"DynamoDB type {tag!r} is not supported")
    raise TypeError("empty AttributeValue")


def _deserialize_item(item: dict[str, Any]) -> dict[str, Any]:
    """Same result as ``poller.dynamodb.deserialize``, faster."""
    return {k: _value(v) for k, v in item.items()}


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
        items = page.get("Items", [])
        for start in range(0, len(items), _YIELD_EVERY):
            if start:
                await asyncio.sleep(0)
            found.extend(_deserialize_item(item) for item in items[start : start + _YIELD_EVERY])
        last = page.get("LastEvaluatedKey")
        if not last:
            return found
        params["ExclusiveStartKey"] = last
