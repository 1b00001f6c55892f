"""Finding 4: an execution DynamoDB can never store ends, instead of retrying the write forever.

A plan whose execution could outgrow the 400 KB item is refused when it is created (400, saying by
how much). An item that is refused anyway (written by hand, or by an older version) makes its
write fail with ValidationException: the launcher or tracker then ends the execution FAILED with
DynamoDB's reason, and cancel still answers. moto refuses an update when the item and the new
Waves together pass ~405,000 bytes, so an item with ~220 KB of waves cannot be updated there.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from poller.store.dynamodb import serialize
from tests.conftest import RunningDaemon, Tables, start_daemon
from tests.integration.support import (
    api,
    get_execution_from_dynamodb,
    plan_body,
    source_server_id,
    start_recovery,
    wait_until,
)

pytestmark = [pytest.mark.integration]

NOTE = "n" * 1_100  # per server: 200 servers make ~220 KB of waves


def _big_item(status: str, servers: list[str], job_id: str | None = None) -> dict[str, Any]:
    wave_status = "LAUNCHING" if job_id else "PENDING"
    server_fields = {"RecoveryJobId": job_id, "Status": "LAUNCHING"} if job_id else {}
    return {
        "ExecutionId": "big-" + uuid.uuid4().hex[:12],
        "PlanId": "plan-big",
        "ExecutionType": "DRILL",
        "Status": status,
        "StartTime": Decimal(str(round(time.time(), 3))),
        "Version": Decimal(0),
        **({"PendingWaves": Decimal(1)} if not job_id else {}),
        "Waves": [
            {
                "WaveName": "Wave-1",
                "Region": "us-east-1",
                "Status": wave_status,
                "Servers": [{"SourceServerId": s, "Note": NOTE, **server_fields} for s in servers],
            }
        ],
    }


async def _stop(running: RunningDaemon) -> None:
    running.stop.set()
    await running.task


async def test_a_pending_execution_whose_item_cannot_be_written_ends_failed(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    item = _big_item("PENDING", [source_server_id() for _ in range(200)])
    dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    key = item["ExecutionId"]
    sim.control.clear_calls()
    running = await start_daemon(make_settings())
    try:
        final = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, key),
            lambda i: i["Status"] != "PENDING",
            30,
            "the unwritable execution to end",
        )
        cancel = await api("POST", f"{running.url}/executions/{key}/cancel")
    finally:
        await _stop(running)
    assert final["Status"] == "FAILED"
    assert "DynamoDB refused the execution item" in final["StatusReason"]
    assert "size" in final["StatusReason"]
    assert final["EndTime"] is not None
    assert sim.control.calls("StartRecovery") == []  # the claim was refused before DRS was asked
    assert cancel.status_code == 409 and "already FAILED" in cancel.json()["error"]


async def test_cancel_works_on_an_item_that_cannot_be_written_whole(
    dynamodb: Any, tables: Tables, make_settings: Any
) -> None:
    item = _big_item("PENDING", [source_server_id() for _ in range(200)])
    dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    key = item["ExecutionId"]
    running = await start_daemon(make_settings(launch_delay_seconds=3600))  # the launcher waits
    try:
        cancel = await api("POST", f"{running.url}/executions/{key}/cancel")
    finally:
        await _stop(running)
    assert cancel.status_code == 200, cancel.text
    stored = get_execution_from_dynamodb(dynamodb, tables.executions, key)
    assert (stored["Status"], stored["StatusReason"]) == ("CANCELLED", "cancelled by request")
    assert stored["EndTime"] is not None


async def test_a_polling_execution_whose_write_is_refused_ends_failed(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    servers = [source_server_id() for _ in range(200)]
    job_id = start_recovery(sim.endpoint_url, "us-east-1", servers)
    item = _big_item("POLLING", servers, job_id)
    dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    key = item["ExecutionId"]
    running = await start_daemon(make_settings())
    try:
        final = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, key),
            lambda i: i["Status"] != "POLLING",
            30,
            "the unwritable execution to end",
        )
    finally:
        await _stop(running)
    assert final["Status"] == "FAILED"
    assert "DynamoDB refused the execution item" in final["StatusReason"]


async def test_a_plan_whose_execution_could_outgrow_an_item_is_refused_saying_by_how_much(
    running_daemon: RunningDaemon,
) -> None:
    names = [f"wave-{i:03d}-" + "x" * 100 for i in range(100)]  # ~70 KB of JSON
    body = {
        "PlanName": "x" * 256,
        "Waves": [
            {
                "WaveName": name,
                "Region": "us-east-1",
                "SourceServerIds": [source_server_id() for _ in range(10)],
                "DependsOn": names[max(0, i - 3) : i],
            }
            for i, name in enumerate(names)
        ],
    }
    refused = await api("POST", f"{running_daemon.url}/plans", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "Waves"
    assert "bytes over DynamoDB's item limit of 409600 bytes" in refused.json()["error"]
    fits = await api("POST", f"{running_daemon.url}/plans", json=plan_body(5, 200))
    assert fits.status_code == 201, fits.text
