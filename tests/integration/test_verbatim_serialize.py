"""Over moto's real wire protocol, the daemon's DynamoDB client writes and reads as stock boto3 does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from poller.aws.clients import AwsClients
from poller.aws.serialize import VerbatimJSONSerializer
from poller.config import Settings
from tests.conftest import Tables

pytestmark = pytest.mark.asyncio


async def test_the_daemons_dynamodb_writes_land_and_read_back_as_sent_blobs_included(
    make_settings: Callable[..., Settings], tables: Tables, dynamodb: Any
) -> None:
    values = {
        ":s": {"S": 'quote "B": inside'},
        ":m": {"M": {"B": {"S": "a map key named B"}, "n": {"N": "12.5"}, "l": {"L": [{"BOOL": True}]}}},
        ":b": {"B": b"\x00\xffblob"},
        ":bs": {"BS": [b"one", b"two"]},
    }
    async with AwsClients(make_settings()) as clients:
        assert isinstance(clients.dynamodb._serializer, VerbatimJSONSerializer)
        for key, expression, names in (
            ("plain", "SET #s = :s, #m = :m", {"#s": "Text", "#m": "Nested"}),
            ("blobs", "SET #b = :b, #bs = :bs", {"#b": "Blob", "#bs": "Blobs"}),
        ):
            used = {name: values[name] for name in values if name in expression}
            await clients.dynamodb.update_item(
                TableName=tables.executions,
                Key={"ExecutionId": {"S": key}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=used,
            )
        read_back = {}
        for key in ("plain", "blobs"):
            answer = await clients.dynamodb.get_item(
                TableName=tables.executions, Key={"ExecutionId": {"S": key}}
            )
            read_back[key] = answer["Item"]
    plain = dynamodb.get_item(TableName=tables.executions, Key={"ExecutionId": {"S": "plain"}})["Item"]
    assert plain["Text"] == values[":s"]
    assert plain["Nested"] == values[":m"]
    blobs = dynamodb.get_item(TableName=tables.executions, Key={"ExecutionId": {"S": "blobs"}})["Item"]
    assert blobs["Blob"] == values[":b"]
    assert sorted(blobs["Blobs"]["BS"]) == sorted(values[":bs"]["BS"])
    assert read_back == {"plain": plain, "blobs": blobs}  # the verbatim parse, blobs decoded
