"""Crash takeover: three daemon processes, one killed with SIGKILL every few seconds.

At the end every execution is terminal and equals drssim's ground truth; no server regressed
and none got two launch times (a transition is neither lost nor duplicated).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from drssim.testing import running_simulator

from tests.conftest import Tables
from tests.integration.support import (
    SeedWave,
    all_servers,
    daemon_process_env,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The suite runs 12; `CRASH_EXECUTIONS=200 pytest tests/integration/test_crash.py` is the full-size run.
EXECUTIONS = int(os.environ.get("CRASH_EXECUTIONS", "12"))
TIME_SCALE = 80.0  # a ~20-minute drill plays in ~15 s


def _spawn(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "poller", "run"],
        env={**env, "POLLER_REPLICA_ID": name},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _unfinished(dynamodb: Any, tables: Tables) -> int:
    """One COUNT query on the StatusIndex: cheap enough not to slow the kill cadence."""
    return int(
        dynamodb.query(
            TableName=tables.executions,
            IndexName=tables.index,
            KeyConditionExpression="#s = :p",
            ExpressionAttributeNames={"#s": "Status"},
            ExpressionAttributeValues={":p": {"S": "POLLING"}},
            Select="COUNT",
        )["Count"]
    )


def test_sigkilled_replicas_are_taken_over_and_every_outcome_matches_drs(
    dynamodb: Any, tables: Tables, moto_url: str
) -> None:
    rng = random.Random(11)
    with running_simulator(time_scale=TIME_SCALE, seed=11) as sim:
        seeded = []
        failed: set[str] = set()
        sim.control.set_manual(True)  # timelines wait until every execution is seeded
        for i in range(EXECUTIONS):
            servers = [source_server_id() for _ in range(2)]
            s = seed_execution(
                dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", servers)]
            )
            seeded.append(s)
            if i % 3 == 0:  # a third of the executions lose one server
                sim.control.fail_server(s.waves[0].job_id or "", servers[0], "injected")
                failed.add(servers[0])
        env = daemon_process_env(
            moto_url, sim.endpoint_url, tables.executions, tables.plans, http_port=0, lease_seconds=1.5
        )
        replicas = {f"replica-{i}": _spawn(env, f"replica-{i}-0") for i in range(3)}
        sim.control.set_manual(False)
        kills = 0
        deadline = time.monotonic() + 60 + EXECUTIONS
        try:
            while time.monotonic() < deadline:
                time.sleep(2.0)
                if _unfinished(dynamodb, tables) == 0:
                    break
                victim = rng.choice(sorted(replicas))
                replicas[victim].send_signal(signal.SIGKILL)
                replicas[victim].wait(timeout=10)
                kills += 1
                replicas[victim] = _spawn(env, f"{victim}-{kills}")
        finally:
            for proc in replicas.values():
                proc.terminate()
            for proc in replicas.values():
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        truth = {j["jobID"]: j for j in sim.control.truth()}

    print(f"crash takeover: {EXECUTIONS} executions, 3 replicas, {kills} SIGKILLs")
    assert kills >= 2, "the run ended before replicas were killed: nothing was proven"
    for s in seeded:
        execution = get_execution_from_dynamodb(dynamodb, tables.executions, s.execution_id)
        job = truth[s.waves[0].job_id or ""]
        real = {srv["sourceServerID"]: srv["launchStatus"] for srv in job["servers"]}
        assert execution["Status"] in ("COMPLETED", "PARTIAL"), execution["ExecutionId"]
        for server in all_servers(execution):
            assert server["Status"] == real[server["SourceServerId"]]
            assert (server["Status"] == "FAILED") == (server["SourceServerId"] in failed)
            if server["Status"] == "LAUNCHED":
                assert server["InstanceId"] == next(
                    x["recoveryInstanceID"]
                    for x in job["servers"]
                    if x["sourceServerID"] == server["SourceServerId"]
                )
                assert server["LaunchedTime"] >= execution["StartTime"]
            assert server["PollAttempts"] >= 1
