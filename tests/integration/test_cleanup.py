"""After the drill, through the API against drssim and moto over real sockets: drill cleanup
(CleanupAfterSeconds, POST /executions/{id}/cleanup, GET /drill-instances) and the recovery-time
report checked against drssim's job log.

drssim runs in manual mode in each test: launch and TERMINATE jobs move only when advanced.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import requests
from drssim.testing import RunningSimulator

from poller.config import Settings
from poller.domain.evidence import parse_time
from tests.conftest import RunningDaemon, Tables, daemon_running
from tests.integration.support import (
    all_servers,
    api,
    daemon_process_env,
    drs_client,
    get_execution_from_dynamodb,
    metric_value,
    plan_body,
    source_server_id,
    start_recovery,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.integration]
REGION = "us-east-1"
TIMEOUT = 60.0


@pytest_asyncio.fixture
async def daemon(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningDaemon]:
    async with daemon_running(make_settings()) as running:
        yield running


async def _plan(url: str, waves: int = 2, servers: int = 2, **fields: Any) -> str:
    body = {**plan_body(num_waves=waves, servers_per_wave=servers), **fields}
    created = await api("POST", f"{url}/plans", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["PlanId"])


async def _run_to_end(
    url: str, plan_id: str, kind: str, dynamodb: Any, tables: Tables, sim: RunningSimulator
) -> dict[str, Any]:
    """POST /executions and advance drssim until the execution is COMPLETED; returns the item."""
    response = await api("POST", f"{url}/executions", json={"PlanId": plan_id, "ExecutionType": kind})
    assert response.status_code == 202, response.text
    execution_id = response.json()["executionId"]
    read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
    item = await wait_until(
        read, lambda e: all(s.get("RecoveryJobId") for s in all_servers(e)), TIMEOUT, "every wave launched"
    )
    sim.control.advance_drs_phase("COMPLETED")
    if kind == "RECOVERY":
        await wait_until(
            read,
            lambda e: all(s.get("Status") == "LAUNCHED" for s in all_servers(e)),
            TIMEOUT,
            "every server LAUNCHED",
        )
        sim.control.advance_post_launch_phase("COMPLETED")
    item = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", TIMEOUT)
    return dict(item)


def _terminate_jobs(endpoint: str, region: str = REGION) -> list[dict[str, Any]]:
    pages = drs_client(endpoint, region).get_paginator("describe_jobs").paginate()
    return [j for p in pages for j in p["items"] if j["type"] == "TERMINATE"]


def _terminated_instances(endpoint: str) -> list[str]:
    """Every recovery instance named by a TERMINATE job, once per job that names it."""
    return [
        p["recoveryInstanceID"]
        for job in _terminate_jobs(endpoint)
        for p in job["participatingServers"]
        if "recoveryInstanceID" in p
    ]


def _live_drill_instances(endpoint: str) -> set[str]:
    pages = drs_client(endpoint, REGION).get_paginator("describe_recovery_instances").paginate()
    return {i["recoveryInstanceID"] for p in pages for i in p["items"] if i["isDrill"]}


async def test_a_drill_with_cleanup_after_seconds_terminates_every_instance_it_launched_and_nothing_else(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, daemon: RunningDaemon
) -> None:
    url = daemon.url
    plan_id = await _plan(url, waves=2, servers=2, CleanupAfterSeconds=0)
    with sim.control.drs_progression():
        # someone else's drill: its instance must survive our cleanup
        other_job = start_recovery(sim.endpoint_url, REGION, [source_server_id()], is_drill=True)
        sim.control.advance_drs_phase("COMPLETED", [other_job])
        (other,) = _live_drill_instances(sim.endpoint_url)

        item = await _run_to_end(url, plan_id, "DRILL", dynamodb, tables, sim)
        execution_id = item["ExecutionId"]
        ours = {s["InstanceId"] for s in all_servers(item)}
        assert len(ours) == 4 and other not in ours

        # the orphans before cleanup: ours and the other one
        listed = await api("GET", f"{url}/drill-instances")
        assert listed.status_code == 200, listed.text
        assert {i["recoveryInstanceID"] for i in listed.json()["drillInstances"]} == ours | {other}

        read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
        item = await wait_until(
            read,
            lambda e: all(s.get("CleanupJobId") for s in all_servers(e)),
            TIMEOUT,
            "TERMINATE jobs recorded on every server",
        )
        assert item["CleanupStatus"] == "IN_PROGRESS"
        sim.control.advance_drs_phase("COMPLETED")
        item = await wait_until(
            read, lambda e: e.get("CleanupStatus") == "COMPLETED", TIMEOUT, "cleanup COMPLETED"
        )

    assert all(s.get("TerminatedTime") for s in all_servers(item))
    assert not any(s.get("CleanupFailureReason") for s in all_servers(item))
    assert "CleanupQueue" not in item  # off the cleaner's index once finished
    terminated = _terminated_instances(sim.endpoint_url)
    assert sorted(terminated) == sorted(ours), "exactly our instances, each once"
    assert len(sim.control.calls("TerminateRecoveryInstances")) == 1  # 4 instances, one region: one call
    assert _live_drill_instances(sim.endpoint_url) == {other}
    listed = await api("GET", f"{url}/drill-instances")
    assert [i["recoveryInstanceID"] for i in listed.json()["drillInstances"]] == [other]
    metrics = (await api("GET", f"{url}/metrics")).text
    assert metric_value(metrics, "poller_cleanup_instances_total", outcome="terminated") >= 4


async def test_a_recovery_is_never_cleaned_up_without_the_confirmation(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, daemon: RunningDaemon
) -> None:
    url = daemon.url
    plan_id = await _plan(url, waves=1, servers=2, CleanupAfterSeconds=0)
    with sim.control.drs_progression():
        item = await _run_to_end(url, plan_id, "RECOVERY", dynamodb, tables, sim)
        execution_id = item["ExecutionId"]
        assert "CleanupAfterSeconds" not in item  # a plan's timer never reaches a RECOVERY

        # the cleaner runs on every finder tick: let ten more pass, then nothing may have been terminated
        runs = lambda: metric_value(  # noqa: E731
            requests.get(f"{url}/metrics", timeout=10).text, "poller_finder_runs_total", outcome="ok"
        )
        seen = await asyncio.to_thread(runs)  # the daemon serves from this test's event loop
        await wait_until(runs, lambda n: n >= seen + 10, TIMEOUT, "ten finder ticks")
        assert sim.control.calls("TerminateRecoveryInstances") == []
        assert "CleanupStatus" not in get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)

        for body in (None, {}, {"confirm": "someone-else"}):
            refused = await api("POST", f"{url}/executions/{execution_id}/cleanup", json=body)
            assert refused.status_code == 409, refused.text
            assert "RECOVERY" in refused.json()["error"] and "confirm" in refused.json()["error"]
        bad = await api("POST", f"{url}/executions/{execution_id}/cleanup", json={"confirm": 5})
        assert bad.status_code == 400 and bad.json()["field"] == "confirm"
        unknown = await api("POST", f"{url}/executions/{execution_id}/cleanup", json={"force": True})
        assert unknown.status_code == 400 and unknown.json()["field"] == "force"
        assert sim.control.calls("TerminateRecoveryInstances") == []

        accepted = await api(
            "POST", f"{url}/executions/{execution_id}/cleanup", json={"confirm": execution_id}
        )
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["cleanupStatus"] == "PENDING"
        read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
        await wait_until(read, lambda e: all(s.get("CleanupJobId") for s in all_servers(e)), TIMEOUT, "jobs")
        sim.control.advance_drs_phase("COMPLETED")
        item = await wait_until(read, lambda e: e.get("CleanupStatus") == "COMPLETED", TIMEOUT, "COMPLETED")
    assert sorted(_terminated_instances(sim.endpoint_url)) == sorted(
        s["InstanceId"] for s in all_servers(item)
    )
    again = await api("POST", f"{url}/executions/{execution_id}/cleanup", json={"confirm": execution_id})
    assert again.status_code == 409 and "already COMPLETED" in again.json()["error"]


async def test_a_running_execution_cannot_be_cleaned_up_and_unknown_ones_are_404(
    sim: RunningSimulator, daemon: RunningDaemon
) -> None:
    url = daemon.url
    plan_id = await _plan(url, waves=1, servers=1)
    with sim.control.drs_progression():
        response = await api("POST", f"{url}/executions", json={"PlanId": plan_id, "ExecutionType": "DRILL"})
        execution_id = response.json()["executionId"]
        refused = await api("POST", f"{url}/executions/{execution_id}/cleanup")
        assert refused.status_code == 409 and "once it has ended" in refused.json()["error"]
    missing = await api("POST", f"{url}/executions/nope/cleanup")
    assert missing.status_code == 404
    assert (await api("GET", f"{url}/executions/nope/report")).status_code == 404


@pytest.mark.slow
async def test_the_report_agrees_with_drssims_job_log_and_compares_with_the_targets(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, daemon: RunningDaemon, tmp_path: Path
) -> None:
    url = daemon.url
    body = plan_body(num_waves=2, servers_per_wave=2)
    body["RtoTargetSeconds"] = 3600
    body["Waves"][1]["RtoTargetSeconds"] = 0.001  # impossible: the wave and so the execution miss
    created = await api("POST", f"{url}/plans", json=body)
    assert created.status_code == 201, created.text
    with sim.control.drs_progression():
        item = await _run_to_end(url, created.json()["PlanId"], "DRILL", dynamodb, tables, sim)
    response = await api("GET", f"{url}/executions/{item['ExecutionId']}/report")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["Errors"] == []
    client = drs_client(sim.endpoint_url, REGION)
    for wave in report["Waves"]:
        for server in wave["Servers"]:
            log = [
                i
                for p in client.get_paginator("describe_job_log_items").paginate(
                    jobID=server["RecoveryJobId"]
                )
                for i in p["items"]
            ]
            (launch_start,) = [
                i
                for i in log
                if i["event"] == "LAUNCH_START"
                and i["eventData"]["sourceServerID"] == server["SourceServerId"]
            ]
            assert server["LaunchStartTime"] == pytest.approx(
                parse_time(launch_start["logDateTime"]), abs=0.001
            )
            (job,) = client.describe_jobs(filters={"jobIDs": [server["RecoveryJobId"]]})["items"]
            assert server["JobCreatedTime"] == pytest.approx(parse_time(job["creationDateTime"]), abs=0.001)
            assert server["JobEndTime"] == pytest.approx(parse_time(job["endDateTime"]), abs=0.001)
            assert server["RecoverySeconds"] == pytest.approx(
                server["LaunchedTime"] - float(item["StartTime"]), abs=0.002
            )
        assert wave["RecoverySeconds"] == max(s["RecoverySeconds"] for s in wave["Servers"])
    first, second = report["Waves"]
    assert (first["RtoTargetSeconds"], first["RtoMet"]) == (3600, True)
    assert (second["RtoTargetSeconds"], second["RtoMet"]) == (0.001, False)
    assert report["RtoMet"] is False
    assert report["RecoverySeconds"] == max(w["RecoverySeconds"] for w in report["Waves"])
    # the command line renders the same report for people: one self-contained HTML file, Markdown
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"report.{fmt}"
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "poller",
                "report",
                item["ExecutionId"],
                "--api",
                url,
                "--format",
                fmt,
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(out)
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "target " in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert all(s["SourceServerId"] in page for w in report["Waves"] for s in w["Servers"])
    assert "MISSED" in (tmp_path / "report.md").read_text()
    rendered = json.loads((tmp_path / "report.json").read_text())
    assert rendered["Waves"] == report["Waves"]
    # the plan's run history, newest first: a second (RECOVERY) run of the same plan comes first
    with sim.control.drs_progression():
        second = await _run_to_end(url, report["PlanId"], "RECOVERY", dynamodb, tables, sim)
    history = await api("GET", f"{url}/plans/{report['PlanId']}/executions")
    assert history.status_code == 200, history.text
    runs = history.json()["executions"]
    assert [r["ExecutionId"] for r in runs] == [second["ExecutionId"], item["ExecutionId"]]
    assert [r["ExecutionType"] for r in runs] == ["RECOVERY", "DRILL"]
    assert runs[1]["RecoverySeconds"] == pytest.approx(report["RecoverySeconds"], abs=0.002)
    assert (runs[1]["RtoMet"], runs[1]["Status"], runs[1]["CleanupStatus"]) == (
        False,
        "COMPLETED",
        "NOT_REQUESTED",
    )
    assert (await api("GET", f"{url}/plans/nope/executions")).status_code == 404
    metrics = (await api("GET", f"{url}/metrics")).text  # the plan's last run: the RECOVERY
    assert metric_value(metrics, "poller_plan_rto_met", plan=report["PlanId"]) == 0
    assert metric_value(metrics, "poller_plan_last_recovery_seconds", plan=report["PlanId"]) == pytest.approx(
        runs[0]["RecoverySeconds"], abs=0.01
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_a_daemon_killed_during_cleanup_resumes_without_a_second_terminate(
    moto_url: str, dynamodb: Any, tables: Tables, sim: RunningSimulator
) -> None:
    port = _free_port()
    env = daemon_process_env(
        moto_url,
        sim.endpoint_url,
        tables.executions,
        tables.plans,
        http_port=port,
        cleanup_claim_timeout_seconds=20,  # the first daemon's TerminateRecoveryInstances waits up to 5 s
    )
    url = f"http://127.0.0.1:{port}"

    def spawn(extra: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "poller", "run"],
            env={**env, **extra},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = spawn({"POLLER_REPLICA_ID": "first"})
    second: subprocess.Popen[bytes] | None = None
    try:
        await wait_until(lambda: _up(url), bool, TIMEOUT, "first daemon serving")
        plan_id = await _plan(url, waves=1, servers=3, CleanupAfterSeconds=0)
        with sim.control.drs_progression():
            item = await _run_to_end(url, plan_id, "DRILL", dynamodb, tables, sim)
            execution_id = item["ExecutionId"]
            ours = sorted(s["InstanceId"] for s in all_servers(item))
            sim.control.inject_latency(3000, ["TerminateRecoveryInstances"])  # the call is in flight 3 s
            read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
            await wait_until(
                read,
                lambda e: all(s.get("CleanupToken") for s in all_servers(e)),
                TIMEOUT,
                "the claim written",
            )
            os.kill(first.pid, signal.SIGKILL)  # killed while DRS is working on the call
            first.wait(timeout=TIMEOUT)
            await wait_until(
                lambda: sim.control.calls("TerminateRecoveryInstances"),
                bool,
                TIMEOUT,
                "DRS finished the call",
            )
            item = read()
            assert not any(s.get("CleanupJobId") for s in all_servers(item)), (
                "the answer was lost with the daemon"
            )
            sim.control.clear_faults()

            second = spawn({"POLLER_REPLICA_ID": "second", "POLLER_CLEANUP_CLAIM_TIMEOUT_SECONDS": "1"})
            await wait_until(
                read,
                lambda e: all(s.get("CleanupJobId") for s in all_servers(e)),
                TIMEOUT,
                "the TERMINATE job adopted after restart",
            )
            sim.control.advance_drs_phase("COMPLETED")
            item = await wait_until(
                read, lambda e: e.get("CleanupStatus") == "COMPLETED", TIMEOUT, "cleanup COMPLETED"
            )
        calls = sim.control.calls("TerminateRecoveryInstances")
        assert [c["outcome"] for c in calls] == ["OK"], calls
        assert sorted(_terminated_instances(sim.endpoint_url)) == ours
        assert all(s.get("TerminatedTime") for s in all_servers(item))
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=TIMEOUT)


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
