"""The plans table: one item per recovery plan, written once (``attribute_not_exists``), read whole."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from poller.store.dynamodb import deserialize, serialize, timed_dynamodb_call
from poller.store.listing import Page, plans_page


class PlanStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self.table = table

    async def create(self, item: Mapping[str, Any]) -> None:
        """Raises ConditionFailed when a plan with this PlanId exists."""
        await timed_dynamodb_call(
            "PutItem",
            self.table,
            self._db.put_item,
            TableName=self.table,
            Item=serialize(_to_numbers(item)),
            ConditionExpression="attribute_not_exists(PlanId)",
        )

    async def get(self, plan_id: str) -> dict[str, Any] | None:
        response = await timed_dynamodb_call(
            "GetItem",
            self.table,
            self._db.get_item,
            TableName=self.table,
            Key={"PlanId": {"S": plan_id}},
            ConsistentRead=True,
        )
        return deserialize(response["Item"]) if "Item" in response else None

    async def page(self, limit: int, start: Mapping[str, Any] | None = None) -> Page:
        """Raises StartKeyError for a ``start`` this listing never returned."""
        return await plans_page(self._db, self.table, limit, start)


def _to_numbers(value: Any) -> Any:
    """Floats as Decimal, DynamoDB's number type."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _to_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_numbers(v) for v in value]
    return value
