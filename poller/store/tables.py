"""Table definitions for local stacks and `poller init-tables` (the deploy template owns AWS's)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# What the StatusIndex carries besides its keys (Status, StartTime) and the table key: a summary
# for the finder, the launcher, the lease filter and the API's listing, never the waves. Every
# finder pass reads the whole POLLING partition; with ALL it would read every full item, waves
# and all, an order of magnitude more pages and read units per pass (figures: docs/performance.md).
STATUS_INDEX_ATTRIBUTES = (
    "PlanId",
    "ExecutionType",
    "EndTime",
    "LeaseOwner",
    "LeaseExpiry",
    "PendingWaves",
)


# The sparse index of executions the drill cleaner has work on (poller/pipeline/cleanup.py): only
# items carrying CleanupQueue are in it, keyed by when they are due; the cleaner reads the keys only.
CLEANUP_INDEX = "CleanupIndex"
CLEANUP_INDEX_DEFINITION: dict[str, Any] = {
    "IndexName": CLEANUP_INDEX,
    "KeySchema": [
        {"AttributeName": "CleanupQueue", "KeyType": "HASH"},
        {"AttributeName": "CleanupDueTime", "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "KEYS_ONLY"},
}


def execution_table_definition(table: str, index: str = "StatusIndex") -> dict[str, Any]:
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "ExecutionId", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "ExecutionId", "AttributeType": "S"},
            {"AttributeName": "Status", "AttributeType": "S"},
            {"AttributeName": "StartTime", "AttributeType": "N"},
            {"AttributeName": "CleanupQueue", "AttributeType": "S"},
            {"AttributeName": "CleanupDueTime", "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": "Status", "KeyType": "HASH"},
                    {"AttributeName": "StartTime", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": list(STATUS_INDEX_ATTRIBUTES),
                },
            },
            CLEANUP_INDEX_DEFINITION,
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


def plans_table_definition(table: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "PlanId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "PlanId", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


async def ensure_tables(dynamodb: Any, executions: str, plans: str, index: str = "StatusIndex") -> list[str]:
    """Create missing tables; returns the names created. Existing tables are left as they are."""
    created = []
    for definition in (execution_table_definition(executions, index), plans_table_definition(plans)):
        try:
            await dynamodb.create_table(**definition)
            created.append(definition["TableName"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
    for name in created:
        await dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return created
