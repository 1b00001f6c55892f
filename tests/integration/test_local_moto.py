"""The local moto stand-in serialises requests, so conditional writes are atomic as in DynamoDB."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Tables

pytestmark = [pytest.mark.integration]


def test_racing_conditional_writes_have_exactly_one_winner(moto_url: str, tables: Tables) -> None:
    clients = [boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1") for _ in range(8)]
    for trial in range(30):
        key = {"ExecutionId": {"S": f"race-{trial}"}}
        clients[0].put_item(TableName=tables.executions, Item={**key, "Version": {"N": "0"}})
        winners: list[int] = []
        barrier = threading.Barrier(len(clients))

        def write(
            i: int,
            client: Any,
            key: dict[str, Any] = key,
            winners: list[int] = winners,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            try:
                client.update_item(
                    TableName=tables.executions,
                    Key=key,
                    UpdateExpression="SET Version = :next, Writer = :me",
                    ConditionExpression="Version = :expected",
                    ExpressionAttributeValues={
                        ":next": {"N": "1"},
                        ":expected": {"N": "0"},
                        ":me": {"N": str(i)},
                    },
                )
                winners.append(i)
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"

        threads = [threading.Thread(target=write, args=(i, c)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1, f"trial {trial}: {len(winners)} winners"
        item = clients[0].get_item(TableName=tables.executions, Key=key, ConsistentRead=True)["Item"]
        assert item["Writer"]["N"] == str(winners[0])
