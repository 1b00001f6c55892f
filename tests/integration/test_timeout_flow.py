"""The 30-minute rule, driven by the daemon's real clock against drssim's truth."""

from __future__ import annotations

import time
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from tests.conftest import RunningDaemon, Tables
from tests.integration.support import (
    SeedWave,
    all_servers,
    get_execution_from_dynamodb,
    query_status_index,
    seed_execution,
    source_server_id,
    wait_until,
)

pytestmark = [pytest.mark.integration]


async def test_timed_out_execution_with_job_still_running_ends_as_timeout_not_failed(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    with sim.control.drs_progression() as drs:
        seeded = seed_execution(
            dynamodb,
            tables.executions,
            sim.endpoint_url,
            [SeedWave("us-east-1", [source_server_id()])],
            start_time=time.time() - 1900,  # 31 min 40 s ago
        )
        drs.advance_drs_phase("IN_PROGRESS")
        execution = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, seeded.execution_id),
            lambda e: e["Status"] != "POLLING",
            10,
            "timeout resolution",
        )
    assert execution["Status"] == "TIMEOUT"
    [server] = all_servers(execution)
    assert server["Status"] == "IN_PROGRESS"  # DRS's truth, preserved
    assert server["TimeoutDetected"] is True
    assert execution["EndTime"] is not None
    assert seeded.execution_id not in [
        e["ExecutionId"] for e in query_status_index(dynamodb, tables.executions, "POLLING")
    ]


async def test_timed_out_execution_that_actually_finished_keeps_its_real_outcome(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    with sim.control.drs_progression() as drs:
        seeded = seed_execution(
            dynamodb,
            tables.executions,
            sim.endpoint_url,
            [SeedWave("us-east-1", [source_server_id()])],
            start_time=time.time() - 1850,
        )
        drs.advance_drs_phase("COMPLETED")
        execution = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, seeded.execution_id),
            lambda e: e["Status"] != "POLLING",
            10,
            "timeout resolution",
        )
    assert execution["Status"] == "COMPLETED"
    [server] = all_servers(execution)
    assert server["Status"] == "LAUNCHED"
    assert server["InstanceId"].startswith("i-")
    assert server["TimeoutDetected"] is True
