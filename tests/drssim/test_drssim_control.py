"""Control API, test-plan vocabulary, faults and ground truth (real client + SimControl only)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from drssim.client import SimControlError
from drssim.testing import RunningSimulator
from drssim_helpers import describe, start, statuses


def _post_launch(job: dict[str, Any]) -> list[set[str]]:
    return [
        {r["status"] for r in s.get("launchActionsStatus", {}).get("runs", [])}
        for s in job["participatingServers"]
    ]


def test_drs_progression_manual_phases(sim: RunningSimulator, drs: Any) -> None:
    ctl = sim.control
    sim.clock.advance(100_000)  # irrelevant: held jobs do not move
    with ctl.drs_progression():
        job = start(drs, n_servers=3, is_drill=False)
        jid = job["jobID"]
        sim.clock.advance(100_000)
        assert describe(drs, jid)["status"] == "PENDING"
        ctl.advance_drs_phase("STARTED", [jid])
        got = describe(drs, jid)
        assert (got["status"], set(statuses(got))) == ("STARTED", {"PENDING"})
        ctl.advance_drs_phase("IN_PROGRESS")
        got = describe(drs, jid)
        assert (got["status"], set(statuses(got))) == ("STARTED", {"IN_PROGRESS"})
        ctl.advance_drs_phase("COMPLETED", [jid])
        got = describe(drs, jid)
        assert (got["status"], set(statuses(got))) == ("COMPLETED", {"LAUNCHED"})
        assert all(s["recoveryInstanceID"].startswith("i-") for s in got["participatingServers"])
        assert _post_launch(got) == [{"IN_PROGRESS"}] * 3
        ctl.advance_post_launch_phase("COMPLETED", [jid])
        assert _post_launch(describe(drs, jid)) == [{"SUCCEEDED"}] * 3
        assert ctl.advance_drs_phase("STARTED", [jid]) == []  # never backwards
    assert ctl.config()["manual"] is False


def test_post_launch_failed_carries_reason(sim: RunningSimulator, drs: Any) -> None:
    with sim.control.drs_progression():
        jid = start(drs, is_drill=False)["jobID"]
        sim.control.advance_drs_phase("COMPLETED", [jid])
        sim.control.advance_post_launch_phase("FAILED", [jid])
        server = describe(drs, jid)["participatingServers"][0]
    runs = server["launchActionsStatus"]["runs"]
    assert {r["status"] for r in runs} == {"FAILED"} and all(r["failureReason"] for r in runs)
    assert server["launchActionsStatus"]["ssmAgentDiscoveryDatetime"].endswith("Z")
    truth = sim.control.job_truth(jid)["servers"][0]
    assert truth["postLaunchStatus"] == "FAILED"
    assert [c["status"] for c in truth["postLaunchChanges"]] == ["IN_PROGRESS", "FAILED"]


def test_drills_have_no_post_launch_runs(sim: RunningSimulator, drs: Any) -> None:
    jid = start(drs, is_drill=True)["jobID"]
    sim.control.advance_drs_phase("COMPLETED", [jid])
    assert "launchActionsStatus" not in describe(drs, jid)["participatingServers"][0]


def test_fail_server_and_job_completion(sim: RunningSimulator, drs: Any) -> None:
    ctl = sim.control
    with ctl.drs_progression():
        job = start(drs, n_servers=2)
        jid, (a, b) = job["jobID"], [s["sourceServerID"] for s in job["participatingServers"]]
        ctl.advance_drs_phase("IN_PROGRESS", [jid])
        ctl.fail_server(jid, a, "Insufficient capacity")
        got = describe(drs, jid)
        assert (got["status"], statuses(got)) == ("STARTED", ["FAILED", "IN_PROGRESS"])
        ctl.advance_drs_phase("COMPLETED", [jid])
        got = describe(drs, jid)
        assert (got["status"], statuses(got)) == ("COMPLETED", ["FAILED", "LAUNCHED"])
        with pytest.raises(SimControlError) as exc:
            ctl.fail_server(jid, b, "too late")
        assert exc.value.status == 409
    events = [i["event"] for i in drs.describe_job_log_items(jobID=jid)["items"]]
    assert "LAUNCH_FAILED" in events
    assert (
        drs.describe_source_servers(filters={"sourceServerIDs": [a]})["items"][0]["lastLaunchResult"]
        == "FAILED"
    )


def test_hold_freezes_one_job_while_others_move(sim: RunningSimulator, drs: Any) -> None:
    held, free = start(drs)["jobID"], start(drs)["jobID"]
    sim.control.hold([held])
    sim.clock.advance(3600)
    assert describe(drs, held)["status"] == "PENDING"
    assert describe(drs, free)["status"] == "COMPLETED"
    assert sim.control.job_truth(held)["held"] is True
    sim.control.release([held])
    sim.clock.advance(3600)
    assert describe(drs, held)["status"] == "COMPLETED"


def test_time_scale_plays_drill_in_real_time(sim: RunningSimulator, drs: Any) -> None:
    sim.control.set_time_scale(3000.0)  # ~20 simulated minutes in ~0.4 s
    jid = start(drs)["jobID"]
    seen = []
    deadline = time.time() + 5
    while time.time() < deadline:
        got = describe(drs, jid)
        key = got["status"] + "/" + ",".join(statuses(got))
        if not seen or seen[-1] != key:
            seen.append(key)
        if got["status"] == "COMPLETED":
            break
        time.sleep(0.005)
    assert seen[0] == "PENDING/PENDING" and seen[-1] == "COMPLETED/LAUNCHED"
    assert "STARTED/IN_PROGRESS" in seen


def test_truth_change_timestamps_are_wall_clock(sim: RunningSimulator, drs: Any) -> None:
    jid = start(drs)["jobID"]
    sim.clock.advance(60)
    before = time.time()
    sim.control.advance_drs_phase("STARTED", [jid])
    after = time.time()
    truth = sim.control.job_truth(jid)
    assert truth["status"] == "STARTED" and truth["region"] == "us-east-1"
    changes = {c["status"]: c["wallTime"] for c in truth["statusChanges"]}
    assert set(changes) == {"PENDING", "STARTED"}
    assert before <= changes["STARTED"] <= after
    assert changes["PENDING"] <= before
    server = truth["servers"][0]
    assert [c["status"] for c in server["launchStatusChanges"]] == ["PENDING"]


def test_throttling_is_parsed_and_retried(sim: RunningSimulator, drs: Any, drs_factory: Any) -> None:
    sim.control.inject_throttling(count=2, operations=["DescribeJobs"], retry_after_seconds=3)
    assert drs.describe_jobs()["items"] == []
    calls = sim.control.calls(operation="DescribeJobs")
    assert [c["outcome"] for c in calls] == ["ThrottlingException", "ThrottlingException", "OK"]
    assert [c["status"] for c in calls] == [429, 429, 200]
    sim.control.inject_throttling(count=1, retry_after_seconds=7)
    no_retry = drs_factory(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        no_retry.describe_jobs()
    err = exc.value.response
    assert err["Error"]["Code"] == "ThrottlingException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "7"
    assert err["retryAfterSeconds"] == "7"
    assert sim.control.faults()["throttling"][0]["count"] == 0


def test_throttling_only_for_matching_operation_and_region(sim: RunningSimulator, drs_factory: Any) -> None:
    sim.control.inject_throttling(count=1, operations=["StartRecovery"], regions=["eu-west-1"])
    drs_factory("us-east-1").describe_jobs()
    start(drs_factory("us-east-1"))
    assert [c["outcome"] for c in sim.control.calls()] == ["OK", "OK"]
    start(drs_factory("eu-west-1"))
    assert [c["outcome"] for c in sim.control.calls(region="eu-west-1")] == ["ThrottlingException", "OK"]


def test_5xx_retried_then_surface(sim: RunningSimulator, drs: Any, drs_factory: Any) -> None:
    sim.control.inject_errors(count=1, status=503)
    assert drs.describe_jobs()["items"] == []
    assert [c["status"] for c in sim.control.calls()] == [503, 200]
    sim.control.inject_errors(count=5)
    once = drs_factory(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        once.describe_jobs()
    assert exc.value.response["Error"]["Code"] == "InternalServerException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_rate_faults_and_clear(sim: RunningSimulator, drs_factory: Any) -> None:
    sim.control.inject_throttling(rate=1.0, operations=["DescribeSourceServers"])
    once = drs_factory(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    for _ in range(3):
        with pytest.raises(ClientError):
            once.describe_source_servers()
    sim.control.clear_faults()
    assert once.describe_source_servers()["items"] == []
    with pytest.raises(SimControlError):
        sim.control.inject_throttling(rate=2.0)


def test_latency_injection(sim: RunningSimulator, drs: Any) -> None:
    sim.control.inject_latency(150, operations=["DescribeJobs"])
    t0 = time.perf_counter()
    drs.describe_jobs()
    assert time.perf_counter() - t0 >= 0.15
    assert sim.control.calls()[-1]["durationMs"] >= 150


def test_call_log_counts_job_ids_and_order(sim: RunningSimulator, drs: Any) -> None:
    jobs = [start(drs)["jobID"] for _ in range(3)]
    drs.describe_jobs(filters={"jobIDs": jobs})
    drs.describe_jobs(filters={"jobIDs": jobs[:1]})
    calls = sim.control.calls()
    assert [c["operation"] for c in calls] == ["StartRecovery"] * 3 + ["DescribeJobs"] * 2
    assert [c["jobIDs"] for c in calls[-2:]] == [3, 1]
    assert [c["seq"] for c in calls] == sorted(c["seq"] for c in calls)
    assert all(calls[i]["wallTime"] <= calls[i + 1]["wallTime"] for i in range(len(calls) - 1))
    sim.control.clear_calls()
    assert sim.control.calls() == []


def test_reset_and_control_errors(sim: RunningSimulator, drs: Any) -> None:
    jid = start(drs)["jobID"]
    sim.control.reset()
    assert drs.describe_jobs(filters={"jobIDs": [jid]})["items"] == []
    for call in (
        lambda: sim.control.advance_drs_phase("LAUNCHED"),
        lambda: sim.control.advance_drs_phase("STARTED", ["drsjob-" + "x" * 17]),
        lambda: sim.control.advance_post_launch_phase("DONE"),
        lambda: sim.control.fail_server("drsjob-" + "x" * 17, "s-" + "x" * 17),
    ):
        with pytest.raises(SimControlError) as exc:
            call()
        assert exc.value.status in (400, 404)
