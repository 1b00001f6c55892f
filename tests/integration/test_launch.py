"""The launcher and the execution lifecycle around it, against moto and drssim over real sockets.

Wave order, StartRecovery failures (refused, throttled, ambiguous), the crash window between
StartRecovery and the write of its job ID, two replicas racing, cancel, drill clean-up and
the completion event.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from drssim.testing import RunningSimulator

from poller.config import Settings
from poller.store.dynamodb import serialize
from tests.conftest import RunningDaemon, Tables
from tests.integration.support import (
    all_servers,
    api,
    completion_event_queue,
    create_test_plan_with_waves,
    daemon_running,
    drs_client,
    get_execution_from_dynamodb,
    job_ids_of,
    metric_value,
    source_server_id,
    wait_for_status,
    wait_for_ticks,
    wait_until,
)

pytestmark = [pytest.mark.integration]


async def _execute(url: str, plan_id: str, execution_type: str = "DRILL") -> str:
    response = await api(
        "POST", f"{url}/executions", json={"PlanId": plan_id, "ExecutionType": execution_type}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["executionId"])


def _wave(execution: dict[str, Any], index: int) -> dict[str, Any]:
    wave: dict[str, Any] = execution["Waves"][index]
    return wave


async def test_sequential_plan_starts_wave_2_only_after_wave_1_completed(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    plan = await create_test_plan_with_waves(url, num_waves=2, wave_order="SEQUENTIAL")
    read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731

    with sim.control.drs_progression() as drs:
        execution_id = await _execute(url, plan["PlanId"])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        assert [w["Status"] for w in execution["Waves"]] == ["LAUNCHING", "PENDING"]
        (job_1,) = job_ids_of(execution)

        # wave 1 runs for a while (several finder and tracker ticks): wave 2 must not start
        drs.advance_drs_phase("IN_PROGRESS", [job_1])
        await wait_until(
            read,
            lambda e: all(s["Status"] == "IN_PROGRESS" for s in _wave(e, 0)["Servers"]),
            5,
            "IN_PROGRESS",
        )
        await wait_for_ticks(running_daemon.daemon, 4)
        assert len(drs.calls(operation="StartRecovery")) == 1

        completed_at = time.time()
        drs.advance_drs_phase("COMPLETED", [job_1])
        execution = await wait_until(
            read, lambda e: _wave(e, 1)["Status"] == "LAUNCHING", 5, "wave 2 LAUNCHING"
        )
        assert _wave(execution, 0)["Status"] == "COMPLETED"
        assert execution["Status"] == "POLLING"
        starts = drs.calls(operation="StartRecovery")
        assert [c["outcome"] for c in starts] == ["OK", "OK"]
        assert starts[1]["wallTime"] > completed_at  # the call log proves the order

        drs.advance_drs_phase("COMPLETED")
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10)
    assert [w["Status"] for w in execution["Waves"]] == ["COMPLETED", "COMPLETED"]
    assert len(job_ids_of(execution)) == 2


async def test_start_recovery_refused_fails_the_wave_with_drs_message_and_skips_dependents(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    """A 409 waits for DRS (never FAILED at once); past the capacity wait cap the wave FAILS
    with DRS's message and its dependents are skipped."""
    sim.control.set_strict_source_servers(True)  # unknown source servers: ConflictException
    async with daemon_running(make_settings(capacity_wait_max_seconds=1.0)) as running:
        plan = await create_test_plan_with_waves(running.url, num_waves=2, wave_order="SEQUENTIAL")
        execution_id = await _execute(running.url, plan["PlanId"])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "FAILED", timeout=20)

    first, second = execution["Waves"]
    assert first["Status"] == "FAILED"
    assert first["StatusReason"].startswith("DRS capacity did not free up within 1 s: DRS refused")
    assert "ConflictException: Source server" in first["StatusReason"]
    assert first["FailedServerIds"] == plan["Waves"][0]["SourceServerIds"]
    assert second["Status"] == "FAILED"
    assert second["StatusReason"] == "not launched: wave 'Wave-1' ended FAILED"
    assert all(s["Status"] == "FAILED" and "RecoveryJobId" not in s for s in all_servers(execution))
    assert execution["EndTime"] is not None
    outcomes = {c["outcome"] for c in sim.control.calls(operation="StartRecovery")}
    assert outcomes == {"ConflictException"}


async def test_throttled_start_is_retried_once_and_launches_once(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    plan = await create_test_plan_with_waves(url, num_waves=1)
    sim.control.inject_throttling(count=1, operations=["StartRecovery"])

    execution_id = await _execute(url, plan["PlanId"])
    execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)

    assert [c["outcome"] for c in sim.control.calls(operation="StartRecovery")] == [
        "ThrottlingException",
        "OK",
    ]
    assert len(job_ids_of(execution)) == 1
    assert _wave(execution, 0)["LaunchAttempts"] == 2


async def test_ambiguous_start_is_resolved_by_looking_for_the_tagged_job_before_retrying(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    sim.control.inject_errors(count=1, operations=["StartRecovery"], status=500)
    async with daemon_running(make_settings(launch_claim_timeout_seconds=1.0)) as running:
        plan = await create_test_plan_with_waves(running.url, num_waves=1)
        execution_id = await _execute(running.url, plan["PlanId"])
        read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
        pending = await wait_until(
            read, lambda e: "outcome unknown" in (_wave(e, 0).get("StatusReason") or ""), 5, "unknown"
        )
        assert pending["Status"] == "PENDING"  # the claim is kept: no blind retry
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)

    # after the claim timeout DRS was searched (nothing tagged), then one new start
    assert [c["outcome"] for c in sim.control.calls(operation="StartRecovery")] == [
        "InternalServerException",
        "OK",
    ]
    assert sim.control.calls(operation="DescribeJobs")
    assert len(_wave(execution, 0)["LaunchTokens"]) == 2
    assert len(job_ids_of(execution)) == 1


async def test_crash_after_start_recovery_adopts_the_tagged_job_instead_of_launching_again(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    """A replica claimed the wave, DRS started the job, the replica died before writing it."""
    now = time.time()
    execution_id, token = str(uuid.uuid4()), uuid.uuid4().hex
    servers = [source_server_id() for _ in range(2)]
    job_id = drs_client(sim.endpoint_url).start_recovery(
        sourceServers=[{"sourceServerID": s} for s in servers],
        isDrill=True,
        tags={"ExecutionId": execution_id, "LaunchToken": token, "WaveName": "Wave-1"},
    )["job"]["jobID"]
    claimed = Decimal(str(round(now - 600, 3)))
    item = {
        "ExecutionId": execution_id,
        "PlanId": "p-1",
        "ExecutionType": "DRILL",
        "Status": "PENDING",
        "StartTime": claimed,
        "Version": 1,
        "Waves": [
            {
                "WaveName": "Wave-1",
                "Region": "us-east-1",
                "Status": "PENDING",
                "Servers": [{"SourceServerId": s, "Status": "LAUNCHING"} for s in servers],
                "LaunchToken": token,
                "LaunchTokens": [token],
                "LaunchClaimedAt": claimed,
                "LaunchFirstClaimedAt": claimed,
                "LaunchAttempts": 1,
            }
        ],
    }
    dynamodb.put_item(TableName=tables.executions, Item=serialize(item))

    async with daemon_running(make_settings()):
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)

    assert job_ids_of(execution) == [job_id]
    assert _wave(execution, 0)["Status"] == "LAUNCHING"
    assert len(sim.control.calls(operation="StartRecovery")) == 1  # only the crashed replica's


async def test_a_replica_with_a_stale_read_loses_the_claim_and_never_calls_drs(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    """Two replicas read the same PENDING item; the one that claims second must not launch.

    Driven step by step: moto's conditional writes are not atomic under truly concurrent
    requests (two can both pass one condition), so a free-running race would test moto, not us.
    """
    held = make_settings(launch_delay_seconds=3600)  # the ticks leave the execution to the test
    async with daemon_running(held) as one, daemon_running(held) as two:
        plan = await create_test_plan_with_waves(one.url, num_waves=2)
        execution_id = await _execute(one.url, plan["PlanId"])
        stale = await two.daemon.store.get(execution_id)  # replica two reads v0 ...

        launched = await one.daemon.launcher.launch(execution_id)  # ... replica one claims and starts
        assert launched is not None and launched.Status == "POLLING"
        assert await two.daemon.launcher.launch_from(stale) is None  # claim on v0 rejected
        again = await two.daemon.launcher.launch(execution_id)  # a fresh read finds nothing to do
        assert again is not None and again.Version == launched.Version

    execution = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
    assert [w["Status"] for w in execution["Waves"]] == ["LAUNCHING", "LAUNCHING"]
    assert len(sim.control.calls(operation="StartRecovery")) == 2  # one per wave, never two
    assert len(job_ids_of(execution)) == 2


async def test_cancel_stops_polling_within_a_finder_tick(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    plan = await create_test_plan_with_waves(url, num_waves=2)
    with sim.control.drs_progression():
        execution_id = await _execute(url, plan["PlanId"])
        await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        await wait_until(
            lambda: running_daemon.daemon.scheduler.running, lambda r: execution_id in r, 5, "tracked"
        )

        response = await api("POST", f"{url}/executions/{execution_id}/cancel")
        assert response.status_code == 200, response.text
        assert response.json() == {"executionId": execution_id, "status": "CANCELLED"}

        period = running_daemon.daemon.settings.finder_period_seconds
        await wait_until(
            lambda: running_daemon.daemon.scheduler.running,
            lambda r: execution_id not in r,
            2 * period + 2.0,  # one finder tick, plus slack for a noisy CI machine
            "untracked",
        )
        polls = len(sim.control.calls(operation="DescribeJobs"))
        await wait_for_ticks(running_daemon.daemon, 3)  # a tracker would have polled meanwhile
        assert len(sim.control.calls(operation="DescribeJobs")) == polls

    execution = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
    assert execution["Status"] == "CANCELLED"
    assert execution["EndTime"] is not None
    assert all(w["Status"] == "CANCELLED" for w in execution["Waves"])
    again = await api("POST", f"{url}/executions/{execution_id}/cancel")
    assert again.status_code == 409
    assert "already CANCELLED" in again.json()["error"]


async def test_cancel_drill_terminates_the_launched_recovery_instances(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    plan = await create_test_plan_with_waves(url, num_waves=2)
    with sim.control.drs_progression() as drs:
        execution_id = await _execute(url, plan["PlanId"])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        job_1, _ = job_ids_of(execution)
        drs.advance_drs_phase("COMPLETED", [job_1])  # wave 1 launched, wave 2 still pending
        execution = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id),
            lambda e: _wave(e, 0)["Status"] == "COMPLETED",
            5,
            "wave 1 COMPLETED",
        )
        instances = sorted(s["InstanceId"] for s in _wave(execution, 0)["Servers"])

        response = await api(
            "POST", f"{url}/executions/{execution_id}/cancel", json={"terminateRecoveryInstances": True}
        )
    assert response.status_code == 200, response.text
    terminate = response.json()["terminate"]
    assert terminate["recoveryInstanceIds"] == instances
    assert terminate["errors"] == []
    assert len(terminate["jobs"]) == 1
    calls = sim.control.calls(operation="TerminateRecoveryInstances")
    assert [c["outcome"] for c in calls] == ["OK"]
    assert sim.simulator.jobs[terminate["jobs"][0]["jobId"]].type == "TERMINATE"


async def test_completion_event_is_published_to_eventbridge(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    moto_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    bus, sqs, queue = completion_event_queue(moto_url)

    async with daemon_running(make_settings(event_bus_name=bus)) as running:
        before = metric_value(
            (await api("GET", f"{running.url}/metrics")).text, "poller_events_published_total", outcome="ok"
        )
        plan = await create_test_plan_with_waves(running.url, num_waves=2, servers_per_wave=1)
        with sim.control.drs_progression() as drs:
            execution_id = await _execute(running.url, plan["PlanId"])
            await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
            drs.advance_drs_phase("COMPLETED")
            execution = await wait_for_status(
                dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10
            )
        messages = await wait_until(
            lambda: sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []),
            bool,
            5,
            "the event in SQS",
        )
        after = metric_value(
            (await api("GET", f"{running.url}/metrics")).text, "poller_events_published_total", outcome="ok"
        )

    assert after == before + 1
    (message,) = messages
    event = json.loads(message["Body"])
    assert event["source"] == "drs-execution-poller"
    assert event["detail-type"] == "DRS Execution Finished"
    detail = event["detail"]
    assert detail["executionId"] == execution_id
    assert detail["executionType"] == "DRILL"
    assert detail["outcome"] == "COMPLETED"
    assert detail["durationSeconds"] == pytest.approx(
        float(execution["EndTime"] - execution["StartTime"]), abs=0.01
    )
    assert detail["counts"] == {"waves": 2, "servers": 2, "succeeded": 2, "launched": 2, "failed": 0}
    assert [(w["waveName"], w["status"], w["launched"]) for w in detail["waves"]] == [
        ("Wave-1", "COMPLETED", 1),
        ("Wave-2", "COMPLETED", 1),
    ]


async def test_event_publish_failure_is_counted_and_harmless(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    async with daemon_running(
        make_settings(event_bus_name="no-such-bus", launch_delay_seconds=60)
    ) as running:
        metrics_url = f"{running.url}/metrics"

        def failures(text: str) -> float:
            return sum(
                metric_value(text, "poller_events_published_total", outcome=o) for o in ("error", "rejected")
            )

        before = failures((await api("GET", metrics_url)).text)
        plan = await create_test_plan_with_waves(running.url, num_waves=1)
        execution_id = await _execute(running.url, plan["PlanId"])
        response = await api("POST", f"{running.url}/executions/{execution_id}/cancel")  # terminal: an event
        assert response.status_code == 200, response.text
        await wait_until(
            lambda: failures(requests_get(metrics_url)), lambda v: v == before + 1, 5, "failure counted"
        )
        assert (await api("GET", f"{running.url}/healthz")).status_code == 200
        assert not running.task.done()


def requests_get(url: str) -> str:
    return requests.get(url, timeout=5).text
