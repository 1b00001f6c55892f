"""Operators in control between waves, through the API against moto and drssim over real sockets.

Pause before a wave and resume it, retry a wave's failed servers, skip a failed wave, optional
servers; the 409s and the repeated requests that change nothing. drssim's jobs are held with
``drs_progression()`` so they only move when a test advances them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from poller.config import Settings
from tests.conftest import RunningDaemon, Tables
from tests.integration.support import (
    api,
    completion_event_queue,
    daemon_running,
    get_execution_from_dynamodb,
    job_ids_of,
    metric_value,
    plan_body,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.integration]


async def _plan(url: str, body: dict[str, Any]) -> dict[str, Any]:
    created = await api("POST", f"{url}/plans", json=body)
    assert created.status_code == 201, created.text
    return dict((await api("GET", f"{url}/plans/{created.json()['PlanId']}")).json())


async def _execute(url: str, plan_id: str, execution_type: str = "DRILL") -> str:
    response = await api(
        "POST", f"{url}/executions", json={"PlanId": plan_id, "ExecutionType": execution_type}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["executionId"])


async def _metric(url: str, name: str, **labels: str) -> float:
    return metric_value((await api("GET", f"{url}/metrics")).text, name, **labels)


async def _ticks(url: str, n: int) -> None:
    """Wait for ``n`` more finder passes (the launcher runs before each): the daemon had its
    chances to act, counted rather than slept."""
    start = await _metric(url, "poller_finder_runs_total", outcome="ok")
    deadline = time.monotonic() + 30
    while await _metric(url, "poller_finder_runs_total", outcome="ok") < start + n:
        assert time.monotonic() < deadline, f"fewer than {n} finder passes in 30 s"


def _reader(dynamodb: Any, tables: Tables, execution_id: str) -> Callable[[], dict[str, Any]]:
    return lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)


async def test_sequential_plan_pauses_before_wave_2_until_resumed_then_completes(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    moto_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    bus, sqs, queue = completion_event_queue(moto_url)
    async with daemon_running(make_settings(event_bus_name=bus)) as running:
        url = running.url
        body = plan_body(num_waves=2, servers_per_wave=1, wave_order="SEQUENTIAL")
        body["Waves"][1]["PauseBefore"] = True
        plan = await _plan(url, body)
        assert plan["Waves"][1]["PauseBefore"] is True
        paused_before = await _metric(url, "poller_waves_paused_total")
        resumes_before = {
            o: await _metric(url, "poller_operator_actions_total", action="resume", outcome=o)
            for o in ("applied", "unchanged")
        }

        with sim.control.drs_progression() as drs:
            execution_id = await _execute(url, plan["PlanId"])
            read = _reader(dynamodb, tables, execution_id)
            execution = await wait_for_status(
                dynamodb, tables.executions, execution_id, "POLLING", timeout=10
            )
            (job_1,) = job_ids_of(execution)
            drs.advance_drs_phase("COMPLETED", [job_1])
            execution = await wait_until(
                read, lambda e: e["Waves"][1]["Status"] == "PAUSED", 10, "wave 2 PAUSED"
            )
            assert execution["Status"] == "POLLING"  # still tracked
            assert execution["Waves"][0]["Status"] == "COMPLETED"
            assert f"/executions/{execution_id}/resume" in execution["StatusReason"]

            # it waits: the launcher has had its ticks, nothing new reached DRS
            await _ticks(url, 5)
            execution = read()
            assert execution["Waves"][1]["Status"] == "PAUSED" and execution["Status"] == "POLLING"
            assert len(drs.calls(operation="StartRecovery")) == 1
            assert await _metric(url, "poller_waves_paused_total") == paused_before + 1
            messages = await wait_until(
                lambda: sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []),
                bool,
                10,
                "the pause event in SQS",
            )
            (message,) = messages
            event = json.loads(message["Body"])
            assert event["detail-type"] == "DRS Execution Paused"
            assert event["detail"]["pausedWaves"] == ["Wave-2"]
            assert event["detail"]["message"] == "paused, waiting for an operator"
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

            resumed = await api("POST", f"{url}/executions/{execution_id}/resume")
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["changed"] is True and resumed.json()["waves"] == ["Wave-2"]
            again = await api("POST", f"{url}/executions/{execution_id}/resume")
            assert again.status_code == 200 and again.json()["changed"] is False

            execution = await wait_until(
                read, lambda e: e["Waves"][1]["Status"] == "LAUNCHING", 10, "wave 2 LAUNCHING"
            )
            assert len(drs.calls(operation="StartRecovery")) == 2
            drs.advance_drs_phase("COMPLETED")
            execution = await wait_for_status(
                dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10
            )
        assert [w["Status"] for w in execution["Waves"]] == ["COMPLETED", "COMPLETED"]
        assert execution["Waves"][1]["ResumedTime"] >= execution["Waves"][1]["PausedTime"]
        assert "StatusReason" not in execution
        assert len(job_ids_of(execution)) == 2
        for outcome in ("applied", "unchanged"):
            now = await _metric(url, "poller_operator_actions_total", action="resume", outcome=outcome)
            assert now == resumes_before[outcome] + 1


async def test_the_timeout_does_not_run_while_paused_and_cancel_works_while_paused(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    async with daemon_running(make_settings(timeout_seconds=1.0)) as running:
        body = plan_body(num_waves=1, servers_per_wave=2)
        body["Waves"][0]["PauseBefore"] = True
        plan = await _plan(running.url, body)
        execution_id = await _execute(running.url, plan["PlanId"])
        read = _reader(dynamodb, tables, execution_id)
        execution = await wait_until(read, lambda e: e["Waves"][0]["Status"] == "PAUSED", 10, "PAUSED")
        assert execution["Status"] == "POLLING"
        # well past the 1 s timeout, with trackers and launcher ticking all along
        await _ticks(running.url, 5)
        await wait_until(
            read,
            lambda e: time.time() > float(e["StartTime"]) + 3 and e["LastPolledTime"] > e["StartTime"] + 2,
            15,
            "polls well past the timeout",
        )
        execution = read()
        assert execution["Status"] == "POLLING" and execution["Waves"][0]["Status"] == "PAUSED"
        assert not execution.get("TimeoutDetected")

        cancelled = await api("POST", f"{running.url}/executions/{execution_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        execution = read()
        assert execution["Status"] == "CANCELLED" and execution["Waves"][0]["Status"] == "CANCELLED"
        refused = await api("POST", f"{running.url}/executions/{execution_id}/resume")
        assert refused.status_code == 409 and "CANCELLED" in refused.json()["error"]
    assert sim.control.calls(operation="StartRecovery") == []


async def test_a_failed_critical_server_is_retried_with_one_new_job_for_it_only(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    plan = await _plan(url, plan_body(num_waves=1, servers_per_wave=2))
    ok_server, bad_server = plan["Waves"][0]["SourceServerIds"]

    with sim.control.drs_progression() as drs:
        execution_id = await _execute(url, plan["PlanId"])
        read = _reader(dynamodb, tables, execution_id)
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        (job_1,) = job_ids_of(execution)
        drs.fail_server(job_1, bad_server, "Launch failed: subnet has no free addresses")
        drs.advance_drs_phase("COMPLETED", [job_1])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "PARTIAL", timeout=10)
        assert execution["Waves"][0]["FailedServerIds"] == [bad_server]

        retried = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-1/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json() == {
            "executionId": execution_id,
            "status": "POLLING",
            "action": "retry",
            "changed": True,
            "waves": ["Wave-1"],
            "retryServerIds": [bad_server],
        }
        again = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-1/retry")
        assert again.status_code == 200 and again.json()["changed"] is False

        execution = await wait_until(
            read, lambda e: e["Waves"][0]["Status"] == "LAUNCHING", 10, "the retry LAUNCHING"
        )
        assert execution["Status"] == "POLLING" and "EndTime" not in execution
        starts = drs.calls(operation="StartRecovery")
        assert len(starts) == 2
        job_2 = next(j for j in job_ids_of(execution) if j != job_1)
        assert [s["sourceServerID"] for s in drs.job_truth(job_2)["servers"]] == [bad_server]
        drs.advance_drs_phase("COMPLETED", [job_2])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10)

    ok, bad = execution["Waves"][0]["Servers"]
    assert (ok["SourceServerId"], ok["RecoveryJobId"], ok["Status"]) == (ok_server, job_1, "LAUNCHED")
    assert (bad["SourceServerId"], bad["RecoveryJobId"], bad["Status"]) == (bad_server, job_2, "LAUNCHED")
    assert execution["Waves"][0]["PreviousRecoveryJobIds"] == [job_1]
    assert execution["Waves"][0]["FailedServerIds"] == []
    assert len(sim.control.calls(operation="StartRecovery")) == 2
    # nothing left to retry
    refused = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-1/retry")
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "execution is COMPLETED; a wave can only be retried while the execution is "
        "POLLING, PARTIAL or FAILED",
        "field": "status",
    }


async def test_a_skipped_wave_lets_the_next_wave_run(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    plan = await _plan(url, plan_body(num_waves=2, servers_per_wave=1, wave_order="SEQUENTIAL"))
    (server_1,) = plan["Waves"][0]["SourceServerIds"]

    with sim.control.drs_progression() as drs:
        execution_id = await _execute(url, plan["PlanId"])
        read = _reader(dynamodb, tables, execution_id)
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        (job_1,) = job_ids_of(execution)
        drs.fail_server(job_1, server_1)
        drs.advance_drs_phase("COMPLETED", [job_1])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "FAILED", timeout=10)
        assert execution["Waves"][1]["StatusReason"] == "not launched: wave 'Wave-1' ended FAILED"

        # wave 2 was never launched: retrying it is refused, naming the wave to act on
        refused = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-2/retry")
        assert refused.status_code == 409
        assert "retry or skip 'Wave-1'" in refused.json()["error"]

        skipped = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-1/skip")
        assert skipped.status_code == 200, skipped.text
        assert skipped.json()["changed"] is True and skipped.json()["status"] == "POLLING"
        again = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-1/skip")
        assert again.status_code == 200 and again.json()["changed"] is False

        execution = await wait_until(
            read, lambda e: e["Waves"][1]["Status"] == "LAUNCHING", 10, "wave 2 LAUNCHING"
        )
        drs.advance_drs_phase("COMPLETED", [j for j in job_ids_of(execution) if j != job_1])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "PARTIAL", timeout=10)

    first, second = execution["Waves"]
    assert first["Status"] == "SKIPPED" and first["StatusReason"].startswith("skipped by an operator")
    assert second["Status"] == "COMPLETED"
    assert execution["StatusReason"] == "waves skipped by an operator: Wave-1"
    assert len(sim.control.calls(operation="StartRecovery")) == 2
    # a completed wave cannot be skipped
    refused = await api("POST", f"{url}/executions/{execution_id}/waves/Wave-2/skip")
    assert refused.status_code == 409


async def test_an_optional_servers_failure_ends_completed(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    body = plan_body(num_waves=1, servers_per_wave=3)
    critical_1, critical_2, optional = body["Waves"][0]["SourceServerIds"]
    body["Waves"][0]["OptionalServerIds"] = [optional]
    plan = await _plan(url, body)
    assert plan["Waves"][0]["OptionalServerIds"] == [optional]

    with sim.control.drs_progression() as drs:
        execution_id = await _execute(url, plan["PlanId"])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        (job,) = job_ids_of(execution)
        drs.fail_server(job, optional)
        drs.advance_drs_phase("COMPLETED", [job])
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10)

    (wave,) = execution["Waves"]
    assert wave["Status"] == "COMPLETED"
    assert wave["FailedServerIds"] == [optional]
    assert optional in wave["StatusReason"] and "optional" in wave["StatusReason"]
    assert execution["StatusReason"] == f"1 optional servers did not recover: {optional}"
    statuses = {s["SourceServerId"]: s["Status"] for s in wave["Servers"]}
    assert statuses == {critical_1: "LAUNCHED", critical_2: "LAUNCHED", optional: "FAILED"}


async def test_operator_requests_are_validated(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, running_daemon: RunningDaemon
) -> None:
    url = running_daemon.url
    bad = plan_body(num_waves=1, servers_per_wave=1)
    bad["Waves"][0]["OptionalServerIds"] = ["s-00000000000000000"]
    response = await api("POST", f"{url}/plans", json=bad)
    assert response.status_code == 400
    assert response.json()["field"] == "Waves[0].OptionalServerIds"
    assert "which is not in the wave's SourceServerIds" in response.json()["error"]
    bad["Waves"][0] = {**bad["Waves"][0], "OptionalServerIds": [], "PauseBefore": "yes"}
    response = await api("POST", f"{url}/plans", json=bad)
    assert (response.status_code, response.json()["field"]) == (400, "Waves[0].PauseBefore")

    plan = await _plan(url, plan_body(num_waves=1, servers_per_wave=1))
    refused_before = await _metric(url, "poller_operator_actions_total", action="retry", outcome="refused")
    with sim.control.drs_progression():
        execution_id = await _execute(url, plan["PlanId"])
        await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=10)
        cases = [
            ("resume", {}, 409, "no wave is PAUSED"),
            ("resume", {"WaveName": "Wave-1"}, 409, "wave 'Wave-1' is LAUNCHING, not PAUSED"),
            ("resume", {"WaveName": "nope"}, 404, "has no wave 'nope'"),
            ("resume", {"Wave": "Wave-1"}, 400, "unknown field 'Wave'; allowed: WaveName"),
            ("waves/Wave-1/retry", {}, 409, "wave 'Wave-1' is LAUNCHING: it is still running"),
            ("waves/Wave-1/skip", {}, 409, "only a PARTIAL, FAILED or PAUSED wave can be skipped"),
            ("waves/nope/skip", {}, 404, "has no wave 'nope'"),
            ("waves/Wave-1/retry", {"force": True}, 400, "unknown field 'force'"),
            ("resume", {"WaveName": 3}, 400, "WaveName"),
            ("resume", [], 400, "JSON object"),
            ("waves/%F0%9F%92%A5%20%2F/skip", {}, 404, "has no wave"),
        ]
        for path, payload, status, words in cases:
            response = await api("POST", f"{url}/executions/{execution_id}/{path}", json=payload)
            assert response.status_code == status, (path, payload, response.text)
            assert words in response.json()["error"], (path, payload, response.text)
        missing = await api("POST", f"{url}/executions/no-such-execution/resume")
        assert missing.status_code == 404
    refused_after = await _metric(url, "poller_operator_actions_total", action="retry", outcome="refused")
    assert refused_after == refused_before + 1


async def test_two_replicas_retrying_at_once_start_one_job(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Callable[..., Settings]
) -> None:
    async with (
        daemon_running(make_settings(replica_id="replica-a")) as a,
        daemon_running(make_settings(replica_id="replica-b")) as b,
    ):
        plan = await _plan(a.url, plan_body(num_waves=1, servers_per_wave=2))
        _, bad_server = plan["Waves"][0]["SourceServerIds"]
        with sim.control.drs_progression() as drs:
            execution_id = await _execute(a.url, plan["PlanId"])
            read = _reader(dynamodb, tables, execution_id)
            execution = await wait_for_status(
                dynamodb, tables.executions, execution_id, "POLLING", timeout=10
            )
            (job_1,) = job_ids_of(execution)
            drs.fail_server(job_1, bad_server)
            drs.advance_drs_phase("COMPLETED", [job_1])
            await wait_for_status(dynamodb, tables.executions, execution_id, "PARTIAL", timeout=10)

            answers = await asyncio.gather(
                *(api("POST", f"{r.url}/executions/{execution_id}/waves/Wave-1/retry") for r in (a, b, a, b))
            )
            assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
            assert sorted(r.json()["changed"] for r in answers) == [False, False, False, True]

            execution = await wait_until(
                read, lambda e: e["Waves"][0]["Status"] == "LAUNCHING", 10, "the retry LAUNCHING"
            )
            await _ticks(a.url, 3)
            await _ticks(b.url, 3)
            assert len(drs.calls(operation="StartRecovery")) == 2  # the first launch and one retry
            drs.advance_drs_phase("COMPLETED")
            execution = await wait_for_status(
                dynamodb, tables.executions, execution_id, "COMPLETED", timeout=10
            )
    assert len(job_ids_of(execution)) == 2
    assert len(sim.control.calls(operation="StartRecovery")) == 2
