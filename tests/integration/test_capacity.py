"""Admission control against drssim enforcing DRS's quotas, over real sockets (moto + drssim).

Many one-wave executions against a small quota all complete and the jobs in flight never exceed
it; a quota filled by another tool (402) and a server already in a job (409) make a wave wait,
never fail; a wave over the per-job limit runs as several jobs tracked as one wave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from poller.config import Settings
from tests.conftest import Tables
from tests.integration.support import (
    all_servers,
    api,
    create_test_plan_with_waves,
    daemon_running,
    drs_client,
    get_execution_from_dynamodb,
    job_ids_of,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.integration]

FAST_DRILLS = 600.0  # drssim seconds per wall second: a drill (~20 simulated minutes) in ~2 s


async def _execute(url: str, plan_id: str) -> str:
    response = await api("POST", f"{url}/executions", json={"PlanId": plan_id, "ExecutionType": "DRILL"})
    assert response.status_code == 202, response.text
    return str(response.json()["executionId"])


def _max_jobs_in_flight(truth: list[dict[str, Any]]) -> int:
    """From drssim's truth: the most jobs ever active at one wall-clock moment."""
    events: list[tuple[float, int]] = []
    for job in truth:
        events.append((job["createdWallTime"], 1))
        done = [c["wallTime"] for c in job["statusChanges"] if c["status"] == "COMPLETED"]
        assert done and done[0] is not None, f"job {job['jobID']} never completed"
        events.append((done[0], -1))
    peak = active = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at a tie
        active += step
        peak = max(peak, active)
    return peak


@pytest.mark.slow
async def test_many_one_wave_executions_against_a_small_quota_all_complete_within_it(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    quota, executions = 3, 12
    sim.control.set_quotas(max_concurrent_jobs=quota, one_job_per_server=True)
    sim.control.set_time_scale(FAST_DRILLS)
    settings = make_settings(
        drs_max_concurrent_jobs=quota, capacity_refresh_seconds=0.2, account_id="123456789012"
    )
    async with daemon_running(settings) as running:
        plans = [await create_test_plan_with_waves(running.url, num_waves=1) for _ in range(executions)]
        ids = [await _execute(running.url, p["PlanId"]) for p in plans]

        reasons: set[str] = set()

        def waiting_reasons() -> list[dict[str, Any]]:
            items = [get_execution_from_dynamodb(dynamodb, tables.executions, i) for i in ids]
            reasons.update(str(e["Waves"][0].get("StatusReason")) for e in items)
            return items

        await wait_until(
            waiting_reasons,
            lambda items: all(e["Status"] == "COMPLETED" for e in items),
            120,
            f"{executions} executions COMPLETED",
        )

    truth = sim.control.truth()
    assert len(truth) == executions  # one job per execution: nothing launched twice
    assert _max_jobs_in_flight(truth) <= quota
    outcomes = [c["outcome"] for c in sim.control.calls(operation="StartRecovery")]
    assert outcomes == ["OK"] * executions  # admission kept every start within the quota
    assert "waiting for DRS capacity: 3 of 3 jobs active in 123456789012/us-east-1" in reasons
    by_job = {j["jobID"]: j for j in truth}
    for execution_id in ids:
        item = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
        for server in all_servers(item):
            real = by_job[server["RecoveryJobId"]]["servers"][0]
            assert server["Status"] == real["launchStatus"] == "LAUNCHED"


async def test_a_quota_filled_by_another_tool_makes_the_wave_wait_then_launch(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    """The daemon believes in 20 jobs; DRS has room for 2, both taken by someone else: 402,
    the wave waits (PENDING, a reason), and starts once DRS has room."""
    sim.control.set_quotas(max_concurrent_jobs=2)
    drs = drs_client(sim.endpoint_url)
    others = [
        drs.start_recovery(sourceServers=[{"sourceServerID": f"s-0000000000000000{n}"}])["job"]["jobID"]
        for n in (1, 2)
    ]
    async with daemon_running(make_settings(capacity_refresh_seconds=60.0)) as running:
        plan = await create_test_plan_with_waves(running.url, num_waves=1)
        execution_id = await _execute(running.url, plan["PlanId"])
        read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
        item = await wait_until(
            read, lambda e: "DRS refused" in str(e["Waves"][0].get("StatusReason")), 15, "a refused wait"
        )
        assert item["Status"] == "PENDING" and item["Waves"][0]["Status"] == "PENDING"
        assert item["Waves"][0]["StatusReason"].startswith(
            "waiting for DRS capacity: DRS refused StartRecovery in self/us-east-1: "
            "ServiceQuotaExceededException: Exceeded the maximum number of concurrent jobs (2)"
        )
        assert "CapacityWaitSince" in item["Waves"][0]

        sim.control.advance_drs_phase("COMPLETED", others)
        item = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=15)
        assert item["Waves"][0]["Status"] == "LAUNCHING" and len(job_ids_of(item)) == 1
        assert item["Waves"][0].get("StatusReason") is None

    outcomes = [c["outcome"] for c in sim.control.calls(operation="StartRecovery")]
    assert outcomes[:2] == ["OK", "OK"] and outcomes[-1] == "OK"
    assert set(outcomes[2:-1]) == {"ServiceQuotaExceededException"}


async def test_a_wave_over_the_per_job_limit_runs_as_several_jobs_tracked_as_one_wave(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    sim.control.set_time_scale(FAST_DRILLS)
    async with daemon_running(make_settings(drs_max_servers_per_job=2)) as running:
        plan = await create_test_plan_with_waves(running.url, num_waves=1, servers_per_wave=5)
        execution_id = await _execute(running.url, plan["PlanId"])
        item = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=60)

    jobs = job_ids_of(item)
    assert len(jobs) == 3
    assert [len(j["servers"]) for j in sim.control.truth(job_ids=jobs)] == [2, 2, 1]
    assert item["Waves"][0]["Status"] == "COMPLETED"
    assert all(s["Status"] == "LAUNCHED" for s in all_servers(item))
    tags = [j["tags"] for j in drs_client(sim.endpoint_url).describe_jobs(filters={"jobIDs": jobs})["items"]]
    assert sorted(t["LaunchPart"] for t in tags) == ["1/3", "2/3", "3/3"]
    assert len({t["LaunchToken"] for t in tags}) == 1


async def test_a_wave_that_can_never_fit_the_quota_fails_at_once_with_the_reason(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    async with daemon_running(make_settings(drs_max_servers_in_jobs=3)) as running:
        plan = await create_test_plan_with_waves(running.url, num_waves=1, servers_per_wave=4)
        execution_id = await _execute(running.url, plan["PlanId"])
        item = await wait_for_status(dynamodb, tables.executions, execution_id, "FAILED", timeout=15)
    assert item["Waves"][0]["StatusReason"] == (
        "not launched: the wave has 4 source servers; DRS allows 3 across active jobs in self/us-east-1 "
        "(raise the quota, or split the wave)"
    )
    assert sim.control.calls(operation="StartRecovery") == []
