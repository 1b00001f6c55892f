"""Plans across AWS accounts, end to end through the HTTP API over real sockets.

moto provides STS AssumeRole; drssim keeps a state per account and tells accounts apart by the
credentials it is called with (it asks moto's STS whose assumed-role keys they are). A wave naming
an ``AccountId`` runs in that account through the member role; a wave without it runs in the
daemon's own account. A refused AssumeRole (moto enforcing IAM) fails only the waves of that
account, and says so, while the other executions complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from drssim.accounts import Accounts
from drssim.state import ACCOUNT_ID
from drssim.testing import RunningSimulator, running_simulator
from poller_devtools.local import running_moto_server

from poller.config import Settings
from poller.store.tables import execution_table_definition, plans_table_definition
from tests.conftest import FAST_INTERVALS, Tables
from tests.ids import source_server_id
from tests.integration.support import (
    all_servers,
    api,
    daemon_running,
    get_execution_from_dynamodb,
    job_ids_of,
    metric_value,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.integration]

FAST_DRILLS = 600.0  # drssim seconds per wall second: a drill (~20 simulated minutes) in ~2 s
MEMBER_A, MEMBER_B, DENIED = "111122223333", "444455556666", "222222222222"


@pytest.fixture
def sim(moto_url: str) -> Iterator[RunningSimulator]:
    """drssim telling accounts apart through moto's STS (the conftest's sim knows one account)."""
    with running_simulator(
        time_scale=FAST_DRILLS, seed=11, accounts=Accounts(ACCOUNT_ID, sts_endpoint_url=moto_url)
    ) as running:
        yield running


def _wave(name: str, region: str, account: str | None = None) -> dict[str, Any]:
    wave: dict[str, Any] = {
        "WaveName": name,
        "Region": region,
        "SourceServerIds": [source_server_id(), source_server_id()],
    }
    if account is not None:
        wave["AccountId"] = account
    return wave


async def _run(url: str, waves: list[dict[str, Any]]) -> str:
    plan = await api("POST", f"{url}/plans", json={"PlanName": "across accounts", "Waves": waves})
    assert plan.status_code == 201, plan.text
    started = await api(
        "POST", f"{url}/executions", json={"PlanId": plan.json()["PlanId"], "ExecutionType": "DRILL"}
    )
    assert started.status_code == 202, started.text
    return str(started.json()["executionId"])


async def test_a_plan_with_waves_in_two_member_accounts_and_the_own_runs_each_wave_in_its_account(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    moto_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    sim.control.set_quotas(max_concurrent_jobs=1)  # per account-region: the three waves never queue
    settings = make_settings(sts_endpoint_url=moto_url, drs_max_concurrent_jobs=1)
    waves = [
        _wave("in-a", "us-east-1", MEMBER_A),
        _wave("own", "us-west-2"),
        _wave("in-b", "us-east-1", MEMBER_B),
    ]
    async with daemon_running(settings) as running:
        execution_id = await _run(running.url, waves)
        done = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", 60)
        assert all(s["Status"] == "LAUNCHED" for s in all_servers(done))
        report = await api("GET", f"{running.url}/executions/{execution_id}/report")
        metrics = (await api("GET", f"{running.url}/metrics")).text

    truth = {job["jobID"]: job for job in sim.control.truth()}
    assert len(job_ids_of(done)) == 3 and set(job_ids_of(done)) == set(truth)
    for wave, expected in zip(done["Waves"], (MEMBER_A, ACCOUNT_ID, MEMBER_B), strict=True):
        job = truth[wave["RecoveryJobId"]]
        assert (job["account"], job["region"]) == (expected, wave["Region"]), wave["WaveName"]
        assert wave.get("AccountId") == (None if expected == ACCOUNT_ID else expected)
        assert sorted(p["sourceServerID"] for p in job["servers"]) == sorted(
            s["SourceServerId"] for s in wave["Servers"]
        )
    assert report.status_code == 200 and report.json()["Errors"] == []  # DescribeJobs in each account
    for member in (MEMBER_A, MEMBER_B):
        assert metric_value(metrics, "poller_assume_role_calls_total", account=member, outcome="ok") >= 1


# ---- a member role that cannot be assumed -------------------------------------------------------
@pytest.fixture
def guarded_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server of its own that enforces IAM (after the three calls that create the poller's
    user), and the poller's credentials: a user allowed everything but assuming the DENIED role."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "3")
    with running_moto_server(in_process=False) as url:
        monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
        iam.create_user(UserName="poller")
        key = iam.create_access_key(UserName="poller")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "sts:AssumeRole",
                    "Resource": f"arn:aws:iam::{DENIED}:role/drs-execution-poller",
                },
            ],
        }
        iam.put_user_policy(UserName="poller", PolicyName="poller", PolicyDocument=json.dumps(policy))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])  # the daemon's session reads them
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        yield url, {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


async def test_a_refused_assume_role_fails_only_that_accounts_wave_saying_why_and_others_complete(
    guarded_moto: tuple[str, dict[str, str]],
) -> None:
    moto_url, credentials = guarded_moto
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1", **credentials)
    tables = Tables(f"executions-{uuid.uuid4().hex[:8]}", f"plans-{uuid.uuid4().hex[:8]}")
    dynamodb.create_table(**execution_table_definition(tables.executions, tables.index))
    dynamodb.create_table(**plans_table_definition(tables.plans))
    with running_simulator(time_scale=FAST_DRILLS, seed=12) as sim:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            table_name=tables.executions,
            plans_table_name=tables.plans,
            status_index_name=tables.index,
            dynamodb_endpoint_url=moto_url,
            sts_endpoint_url=moto_url,
            drs_endpoint_url=sim.endpoint_url,
            drs_regions=["us-east-1"],
            http_port=0,
            log_format="json",
            shutdown_grace_seconds=5.0,
            launch_max_attempts=3,
            **FAST_INTERVALS,
        )
        async with daemon_running(settings) as running:
            denied = await _run(running.url, [_wave("denied", "us-east-1", DENIED)])
            healthy = [await _run(running.url, [_wave(f"own-{i}", "us-east-1")]) for i in range(3)]
            for execution_id in healthy:
                await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", 60)
            failed = await wait_until(
                lambda: get_execution_from_dynamodb(dynamodb, tables.executions, denied),
                lambda e: e["Status"] == "FAILED",
                60,
                "the denied execution FAILED",
            )
            metrics = (await api("GET", f"{running.url}/metrics")).text
        truth = sim.control.truth()

    role = f"arn:aws:iam::{DENIED}:role/drs-execution-poller"
    reason = str(failed["Waves"][0]["StatusReason"])
    assert reason.startswith("StartRecovery failed 3 times") and role in reason and "AccessDenied" in reason
    assert sorted(j["account"] for j in truth) == [ACCOUNT_ID] * len(healthy)  # nothing in DENIED
    assert (
        metric_value(metrics, "poller_assume_role_calls_total", account=DENIED, outcome="AccessDenied") >= 3
    )
