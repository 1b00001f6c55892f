"""Plan Layer 2: whole executions, from ``POST {API_URL}/executions`` to the final item.

The daemon (API, launcher, finder, trackers) runs in-process against moto and drssim over real
sockets. Each test holds drssim's jobs with ``drs_progression()`` *before* the execution is
created, so the jobs the launcher starts only move when the test advances them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from drssim.testing import RunningSimulator

from poller.config import Settings
from tests.conftest import RunningDaemon, Tables, start_daemon
from tests.integration.support import (
    all_servers,
    api,
    create_test_plan_with_waves,
    get_execution_from_dynamodb,
    job_ids_of,
    query_status_index,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.integration]

# The launcher leaves a new execution alone this long, so step 2 of the plan ("the item is
# PENDING") is observable right after the POST instead of racing the launcher.
LAUNCH_DELAY = 0.5


@pytest_asyncio.fixture
async def api_daemon(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningDaemon]:
    running = await start_daemon(make_settings(launch_delay_seconds=LAUNCH_DELAY))
    yield running
    running.stop.set()
    await running.task


def _reader(dynamodb: Any, tables: Tables, execution_id: str) -> Callable[[], dict[str, Any]]:
    return lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)


async def test_2_1_1_drill_execution_complete_workflow(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, api_daemon: RunningDaemon
) -> None:
    API_URL = api_daemon.url
    await create_test_plan_with_waves(API_URL, num_waves=1, servers_per_wave=2, plan_id="test-plan-1")

    with sim.control.drs_progression() as drs:
        # Step 1: create the execution through the API
        response = await api(
            "POST", f"{API_URL}/executions", json={"PlanId": "test-plan-1", "ExecutionType": "DRILL"}
        )
        assert response.status_code == 202, response.text
        execution_id = response.json()["executionId"]

        # Step 2: PENDING, nothing launched yet
        execution = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
        assert execution["Status"] == "PENDING"
        assert all(w["Status"] == "PENDING" for w in execution["Waves"])
        assert not any("RecoveryJobId" in s for s in all_servers(execution))

        # Step 3: the launcher starts the jobs
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        assert all(w["Status"] == "LAUNCHING" for w in execution["Waves"])
        assert len(job_ids_of(execution)) == 1
        polling_executions = query_status_index(dynamodb, tables.executions, "POLLING")
        assert execution_id in [e["ExecutionId"] for e in polling_executions]

        # Step 4: PENDING → STARTED → IN_PROGRESS → COMPLETED
        read = _reader(dynamodb, tables, execution_id)
        await wait_until(
            read, lambda e: all(s["Status"] == "PENDING" for s in all_servers(e)), 5, "first poll: PENDING"
        )
        drs.advance_drs_phase("STARTED")
        await wait_until(read, lambda e: any(s["Status"] == "STARTED" for s in all_servers(e)), 5, "STARTED")
        drs.advance_drs_phase("IN_PROGRESS")
        await wait_until(
            read, lambda e: all(s["Status"] == "IN_PROGRESS" for s in all_servers(e)), 5, "IN_PROGRESS"
        )
        drs.advance_drs_phase("COMPLETED")
        await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10)

        # Step 5: the final state
        execution = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
        assert execution["Status"] == "COMPLETED"
        assert execution["EndTime"] is not None
        assert all(s["Status"] == "LAUNCHED" for s in all_servers(execution))
        assert all("InstanceId" in s and s["InstanceId"].startswith("i-") for s in all_servers(execution))
        polling_executions = query_status_index(dynamodb, tables.executions, "POLLING")
        assert execution_id not in [e["ExecutionId"] for e in polling_executions]

    # the job was started as a drill, tagged with the execution
    job = sim.control.job_truth(job_ids_of(execution)[0])
    assert job["isDrill"] is True
    assert sim.simulator.jobs[job["jobID"]].tags["ExecutionId"] == execution_id


async def test_2_1_2_recovery_execution_with_post_launch(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, api_daemon: RunningDaemon
) -> None:
    API_URL = api_daemon.url
    await create_test_plan_with_waves(API_URL, num_waves=1, servers_per_wave=2, plan_id="test-plan-1")

    with sim.control.drs_progression() as drs:
        response = await api(
            "POST", f"{API_URL}/executions", json={"PlanId": "test-plan-1", "ExecutionType": "RECOVERY"}
        )
        assert response.status_code == 202, response.text
        execution_id = response.json()["executionId"]
        await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)

        # instances launched, post-launch actions still running
        drs.advance_drs_phase("COMPLETED")
        execution = await wait_until(
            _reader(dynamodb, tables, execution_id),
            lambda e: all(
                s["Status"] == "LAUNCHED" and "PostLaunchActionsStatus" in s for s in all_servers(e)
            ),
            5,
            "servers LAUNCHED with post-launch status",
        )
        assert execution["Status"] == "POLLING"  # still polling for post-launch
        assert all(s["PostLaunchActionsStatus"] == "IN_PROGRESS" for s in all_servers(execution))

        drs.advance_post_launch_phase("COMPLETED")
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10)

    assert all(s["PostLaunchActionsStatus"] == "COMPLETED" for s in all_servers(execution))
    job = sim.control.job_truth(job_ids_of(execution)[0])
    assert job["isDrill"] is False


async def test_2_2_1_multi_wave_execution(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, api_daemon: RunningDaemon
) -> None:
    API_URL = api_daemon.url
    plan = await create_test_plan_with_waves(API_URL, num_waves=3, regions=("us-east-1", "us-west-2"))
    assert plan["WaveOrder"] == "PARALLEL"

    with sim.control.drs_progression() as drs:
        response = await api(
            "POST", f"{API_URL}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"}
        )
        assert response.status_code == 202, response.text
        execution_id = response.json()["executionId"]
        await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)

        # all waves initiated at once (parallel start), one DRS job each
        execution = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
        assert len(execution["Waves"]) == 3
        assert all(w["Status"] == "LAUNCHING" for w in execution["Waves"])
        assert len(job_ids_of(execution)) == 3
        assert [c["region"] for c in drs.calls(operation="StartRecovery")].count("us-west-2") == 1

        drs.advance_drs_phase("COMPLETED")
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=15)

    assert all(w["Status"] == "COMPLETED" for w in execution["Waves"])


async def test_2_3_1_partial_wave_failure(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, api_daemon: RunningDaemon
) -> None:
    API_URL = api_daemon.url
    plan = await create_test_plan_with_waves(API_URL, num_waves=1, servers_per_wave=3)
    servers = plan["Waves"][0]["SourceServerIds"]

    with sim.control.drs_progression() as drs:
        response = await api(
            "POST", f"{API_URL}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"}
        )
        assert response.status_code == 202, response.text
        execution_id = response.json()["executionId"]
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        (job_id,) = job_ids_of(execution)

        drs.advance_drs_phase("IN_PROGRESS")
        drs.fail_server(job_id, servers[0], reason="Insufficient capacity")
        drs.advance_drs_phase("COMPLETED")
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "PARTIAL", timeout=10)

    (wave,) = execution["Waves"]
    assert wave["Status"] == "PARTIAL"
    assert wave["FailedServerIds"] == [servers[0]]
    by_id = {s["SourceServerId"]: s for s in all_servers(execution)}
    assert by_id[servers[0]]["Status"] == "FAILED"
    assert by_id[servers[0]][
        "FailureReason"
    ]  # DescribeJobs carries no reason text; the domain names the status
    assert all(by_id[s]["Status"] == "LAUNCHED" for s in servers[1:])
    assert execution["EndTime"] is not None
