"""Region batching: DRS calls grow with regions and time, not with executions."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from poller import metrics
from tests.conftest import Tables, daemon_running
from tests.integration.support import (
    SeedWave,
    all_servers,
    scan_executions,
    seed_execution,
    source_server_id,
    wait_until,
)

pytestmark = [pytest.mark.integration]

STEADY_POLLS = 100  # two more polls of each of the 50 executions


@pytest.mark.slow
async def test_fifty_executions_in_two_regions_share_describe_jobs_calls(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    regions = ["us-east-1", "us-west-2"]
    window = 0.5
    with sim.control.drs_progression():
        [
            seed_execution(
                dynamodb,
                tables.executions,
                sim.endpoint_url,
                [SeedWave(regions[i % 2], [source_server_id(), source_server_id()])],
            )
            for i in range(50)
        ]
        sim.control.clear_calls()
        polls_before = _polls()
        settings = make_settings(batch_window_seconds=window, interval_launching_seconds=0.2)
        async with daemon_running(settings):
            started = time.monotonic()
            await wait_until(
                lambda: scan_executions(dynamodb, tables.executions, "POLLING"),
                lambda items: (
                    len(items) == 50 and all(x["Status"] == "PENDING" for e in items for x in all_servers(e))
                ),
                60,  # a bound on the wait, not a verdict: plain moto on a busy machine is slow
                "all 50 executions polled",
            )
            steady_calls_before = len(sim.control.calls(operation="DescribeJobs"))
            steady_polls_before = _polls()
            # several more adaptive intervals of every execution: a count of polls, not a span of
            # time, so a loaded machine makes the wait longer but not the verdict different
            await wait_until(
                lambda: _polls() - steady_polls_before,
                lambda steady: steady >= STEADY_POLLS,
                60,
                f"{STEADY_POLLS} more polls",
            )
            elapsed = time.monotonic() - started
            polls = _polls() - polls_before
            steady_polls = _polls() - steady_polls_before
            calls = sim.control.calls(operation="DescribeJobs")

    windows = math.ceil(elapsed / window) + 1
    for region in regions:
        in_region = [c for c in calls if c["region"] == region]
        assert 0 < len(in_region) <= windows, f"{region}: {len(in_region)} calls for {windows} windows"
    assert max(c["jobIDs"] for c in calls) > 1  # one call carried many executions' jobs
    assert len(calls) < polls / 4, f"{len(calls)} calls for {polls} polls"  # one call, many polls
    # Once all were polled, every execution was polled twice more, yet with fewer calls than executions.
    steady_calls = len(calls) - steady_calls_before
    assert steady_calls < 50, f"{steady_calls} calls for {steady_polls} polls of 50 executions"


def _polls() -> float:
    return sum(s.value for m in metrics.POLLS.collect() for s in m.samples if s.name.endswith("_total"))
