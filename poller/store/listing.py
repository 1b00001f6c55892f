"""Listings a page at a time: executions by status (the StatusIndex GSI, newest first) and plans.

A page resumes from the previous page's last key (DynamoDB's ``ExclusiveStartKey``). That key
travels through clients (the API's ``nextToken``), so it comes back untrusted: it is checked
against the key schema of what is listed (attribute names, AttributeValue types, sizes a
DynamoDB key can have) before any request is made. A forged key is refused at once with
StartKeyError instead of DynamoDB failing on it (and retries turning that into an outage).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from poller.store.dynamodb import deserialize, timed_dynamodb_call

# A key attribute is at most 2,048 bytes (hash) / 1,024 (range); 256 characters stay under both
# in UTF-8 and far above any id this poller writes.
MAX_KEY_CHARS = 256
# A DynamoDB number has at most 38 significant digits and an exponent within +-125: this keeps
# well inside both, and covers every StartTime (epoch seconds, milliseconds) DynamoDB returns.
NUMBER_PATTERN = r"^-?[0-9]{1,20}(\.[0-9]{1,17})?([eE][+-]?[0-9]{1,2})?$"


class StartKeyError(ValueError):
    """A page's start key that this listing never returned; the message says what is wrong."""


class _Key(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _String(_Key):
    S: str = Field(min_length=1, max_length=MAX_KEY_CHARS)


class _Number(_Key):
    N: str = Field(pattern=NUMBER_PATTERN)


class StatusIndexKey(_Key):
    """A StatusIndex position: the index keys (Status, StartTime) and the table key."""

    ExecutionId: _String
    Status: _String
    StartTime: _Number


class PlanKey(_Key):
    PlanId: _String


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    last_key: dict[str, Any] | None  # where the next page starts; None on the last page


def start_key(raw: Any, schema: type[_Key]) -> dict[str, Any]:
    """``raw`` as an ExclusiveStartKey of ``schema``, or StartKeyError naming what is wrong."""
    try:
        return schema.model_validate(raw).model_dump()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "key"
        raise StartKeyError(f"{where}: {first['msg']}") from None


async def executions_by_status(
    dynamodb: Any, table: str, index: str, status: str, limit: int, start: Mapping[str, Any] | None = None
) -> Page:
    """One page of execution summaries (the index's attributes, not the waves), newest first."""
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#status = :status",
        "ExpressionAttributeNames": {"#status": "Status"},
        "ExpressionAttributeValues": {":status": {"S": status}},
        "ScanIndexForward": False,  # newest first
        "Limit": limit,
    }
    if start is not None:
        key = start_key(start, StatusIndexKey)
        if key["Status"] != {"S": status}:
            raise StartKeyError("the key belongs to a listing of another status")
        params["ExclusiveStartKey"] = key
    response = await timed_dynamodb_call("Query", table, dynamodb.query, **params)
    return Page([deserialize(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey"))


async def plans_page(dynamodb: Any, table: str, limit: int, start: Mapping[str, Any] | None = None) -> Page:
    """One page of whole plans, in the table's order."""
    params: dict[str, Any] = {"TableName": table, "Limit": limit}
    if start is not None:
        params["ExclusiveStartKey"] = start_key(start, PlanKey)
    response = await timed_dynamodb_call("Scan", table, dynamodb.scan, **params)
    return Page([deserialize(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey"))
