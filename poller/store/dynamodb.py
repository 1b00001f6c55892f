"""DynamoDB calls with one error type and one place where latency and outcome are counted."""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


_HINTS = {
    "ResourceNotFoundException": (
        " (check POLLER_TABLE_NAME / POLLER_STATUS_INDEX_NAME; `poller init-tables` creates the tables"
        " locally, deploy/poller.yaml on AWS)"
    ),
    "EndpointConnectionError": " (is DynamoDB reachable? check POLLER_DYNAMODB_ENDPOINT_URL / POLLER_AWS_REGION)",
    "AccessDeniedException": " (the task role lacks this permission: see deploy/poller.yaml)",
    "UnrecognizedClientException": " (no valid AWS credentials for this endpoint)",
}


class DynamoDBError(RuntimeError):
    """A DynamoDB call failed; the message names DynamoDB, the operation and AWS's error code."""

    def __init__(self, operation: str, table: str, cause: BaseException) -> None:
        code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
        detail = code or type(cause).__name__
        hint = _HINTS.get(detail, "")
        super().__init__(f"DynamoDB {operation} on {table} failed: {detail}: {cause}{hint}")
        self.operation = operation
        self.table = table
        self.code = detail


class ConditionFailed(DynamoDBError):
    """A conditional write lost: someone wrote a newer version first (not an outage)."""


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (AttributeValue maps) as Python values, by boto3's TypeDeserializer:
    numbers become Decimal, sets stay sets, binaries become ``Binary``."""
    return {key: _DESERIALIZER.deserialize(value) for key, value in item.items()}


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """Python values as a DynamoDB item, by boto3's TypeSerializer: numbers must be int or
    Decimal (a float raises TypeError, as boto3 refuses to guess its precision)."""
    return {key: _SERIALIZER.serialize(value) for key, value in item.items()}


async def timed_dynamodb_call(operation: str, table: str, call: Any, **params: Any) -> Any:
    """One DynamoDB call with its latency and outcome recorded; errors become DynamoDBError."""
    start = time.perf_counter()
    try:
        result = await call(**params)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "Unknown")
        metrics.DYNAMODB_CALLS.labels(operation, code).inc()
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(operation, table, err) from err
        raise DynamoDBError(operation, table, err) from err
    except BotoCoreError as err:
        metrics.DYNAMODB_CALLS.labels(operation, "connection_error").inc()
        raise DynamoDBError(operation, table, err) from err
    finally:
        metrics.DYNAMODB_LATENCY.labels(operation).observe(time.perf_counter() - start)
    metrics.DYNAMODB_CALLS.labels(operation, "ok").inc()
    return result
