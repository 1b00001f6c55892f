"""DRS trouble slows the daemon down; it never crashes it, and it recovers by itself."""

from __future__ import annotations

from typing import Any

import pytest
from drssim.testing import RunningSimulator

from tests.conftest import RunningDaemon, Tables
from tests.integration.support import (
    SeedWave,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
    wait_until,
)
from tests.prom import sample

pytestmark = [pytest.mark.integration]


def _failures(reason: str) -> float:
    return sample("poller_poll_failures_total", reason=reason)


async def test_drs_5xx_storm_is_retried_and_the_execution_still_completes(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    before = _failures("drs_error")
    with sim.control.drs_progression() as drs:
        seeded = seed_execution(
            dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", [source_server_id()])]
        )
        drs.inject_errors(count=6, operations=["DescribeJobs"], status=500)  # > botocore's attempts
        drs.advance_drs_phase("COMPLETED")
        execution = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, seeded.execution_id),
            lambda e: e["Status"] == "COMPLETED",
            20,
            "completion after the outage",
        )
    assert execution["Waves"][0]["Servers"][0]["Status"] == "LAUNCHED"
    assert _failures("drs_error") > before  # the loop saw the outage, backed off, went on


async def test_throttling_is_counted_and_survived(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    before = sample(
        "poller_drs_calls_total", region="us-east-1", operation="DescribeJobs", outcome="throttled"
    )
    with sim.control.drs_progression() as drs:
        seeded = seed_execution(
            dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", [source_server_id()])]
        )
        drs.inject_throttling(count=8, operations=["DescribeJobs"], retry_after_seconds=0)
        drs.advance_drs_phase("COMPLETED")
        await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, seeded.execution_id),
            lambda e: e["Status"] == "COMPLETED",
            30,
            "completion after throttling",
        )
    assert (
        sample("poller_drs_calls_total", region="us-east-1", operation="DescribeJobs", outcome="throttled")
        > before
    )
