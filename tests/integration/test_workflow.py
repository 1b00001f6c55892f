"""Plan Layer 2: whole executions tracked by the daemon against moto and drssim."""

from __future__ import annotations

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


def _reader(dynamodb: Any, tables: Tables, execution_id: str) -> Any:
    return lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)


async def test_2_1_1_drill_execution_complete_workflow(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    with sim.control.drs_progression() as drs:
        seeded = seed_execution(
            dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", [source_server_id() for _ in range(2)])]
        )
        read = _reader(dynamodb, tables, seeded.execution_id)
        polling = query_status_index(dynamodb, tables.executions, "POLLING")
        assert seeded.execution_id in [e["ExecutionId"] for e in polling]

        await wait_until(read, lambda e: all(s["Status"] == "PENDING" for s in all_servers(e)), 5, "first poll: PENDING")
        drs.advance_drs_phase("STARTED")
        await wait_until(read, lambda e: any(s["Status"] == "STARTED" for s in all_servers(e)), 5, "STARTED")
        drs.advance_drs_phase("IN_PROGRESS")
        await wait_until(read, lambda e: all(s["Status"] == "IN_PROGRESS" for s in all_servers(e)), 5, "IN_PROGRESS")
        drs.advance_drs_phase("COMPLETED")
        execution = await wait_until(read, lambda e: e["Status"] == "COMPLETED", 10, "execution COMPLETED")

    assert execution["EndTime"] is not None
    assert all(s["Status"] == "LAUNCHED" for s in all_servers(execution))
    assert all(s["InstanceId"].startswith("i-") for s in all_servers(execution))
    polling = query_status_index(dynamodb, tables.executions, "POLLING")
    assert seeded.execution_id not in [e["ExecutionId"] for e in polling]
