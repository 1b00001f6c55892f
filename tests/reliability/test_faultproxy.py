"""The fault proxy itself: each fault is what botocore sees from a misbehaving DynamoDB."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from poller_devtools.faultproxy import FaultProxy, FaultRates

pytestmark = [pytest.mark.integration]


def _client(proxy: FaultProxy) -> Any:
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=0.5, connect_timeout=1
    )
    return boto3.client("dynamodb", endpoint_url=proxy.url, region_name="us-east-1", config=config)


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("throughput_exceeded", ClientError, "ProvisionedThroughputExceededException"),
        ("error", ClientError, "InternalServerError"),
        ("timeout", ReadTimeoutError, None),
        ("drop", ConnectionClosedError, None),
        ("drop_response", ConnectionClosedError, None),
    ],
)
def test_each_fault_reaches_botocore_as_the_real_dynamodb_failure(
    proxy: FaultProxy, kind: str, error: type[Exception], code: str | None
) -> None:
    client = _client(proxy)
    assert "TableNames" in client.list_tables()  # forwarded while no fault is set
    proxy.set_rates(**{kind: 1.0})
    with pytest.raises(error) as raised:
        client.list_tables()
    if code is not None:
        assert isinstance(raised.value, ClientError)
        assert raised.value.response["Error"]["Code"] == code
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == (
            400 if kind == "throughput_exceeded" else 500
        )
    proxy.set_rates()
    assert "TableNames" in client.list_tables()
    assert proxy.stats()["injected"][kind] == 1


def test_a_lost_answer_still_lets_the_write_land(proxy: FaultProxy, dynamodb: Any, tables: Any) -> None:
    client = _client(proxy)
    proxy.set_rates(drop_response=1.0)
    with pytest.raises(ConnectionClosedError):
        client.put_item(TableName=tables.plans, Item={"PlanId": {"S": "landed"}})
    assert dynamodb.get_item(TableName=tables.plans, Key={"PlanId": {"S": "landed"}})["Item"]


def test_rates_are_validated() -> None:
    with pytest.raises(ValueError):
        FaultRates(error=1.5)
    with pytest.raises(ValueError):
        FaultRates(error=0.6, drop=0.6)


def test_the_command_line_has_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "poller_devtools.faultproxy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--target",
        "--listen-port",
        "--throughput-exceeded-rate",
        "--error-rate",
        "--timeout-rate",
        "--drop-rate",
    ):
        assert flag in out
