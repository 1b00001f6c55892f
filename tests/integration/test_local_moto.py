"""The local moto stand-in serialises requests, so conditional writes are atomic as in DynamoDB,
and keeps connections alive, as DynamoDB does."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import Tables

pytestmark = [pytest.mark.integration]

LIST_TABLES = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0",
}


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


def test_the_local_moto_keeps_connections_alive_between_calls(moto_url: str) -> None:
    """werkzeug's server closed every connection; each AWS call then cost a connect and left
    a transport's worth of garbage in the caller (see poller_devtools.local_server)."""
    host, port = moto_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    local_ports = set()
    for _ in range(3):
        connection.request("POST", "/", body=b"{}", headers=LIST_TABLES)
        response = connection.getresponse()
        assert response.status == 200, response.read()
        assert json.loads(response.read()).keys() == {"TableNames"}
        assert response.getheader("Connection", "").lower() != "close"
        local_ports.add(connection.sock.getsockname()[1])
    connection.close()
    assert len(local_ports) == 1  # one TCP connection carried all three calls
