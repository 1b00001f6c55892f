"""drssim keeps each account apart: the account is read from the caller's credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from drssim.accounts import Accounts
from drssim.quotas import Quotas
from drssim.state import ACCOUNT_ID
from drssim.testing import RunningSimulator, running_simulator
from poller_devtools.local import running_moto_server

MEMBER = "111122223333"
MEMBER_KEY = "AKIAMEMBER0000000001"
SERVER = "s-00000000000000001"


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    accounts = Accounts(ACCOUNT_ID, {MEMBER_KEY: MEMBER})
    with running_simulator(
        time_scale=0.0, seed=3, accounts=accounts, quotas=Quotas(1, None, True)
    ) as running:
        yield running


def _drs(sim: RunningSimulator, key: str, token: str | None = None) -> Any:
    return boto3.client(
        "drs",
        endpoint_url=sim.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="testing",
        aws_session_token=token,
    )


def _start(drs: Any, server: str = SERVER) -> dict[str, Any]:
    job: dict[str, Any] = drs.start_recovery(sourceServers=[{"sourceServerID": server}], isDrill=True)["job"]
    return job


def test_each_account_has_its_own_jobs_arns_and_quota(sim: RunningSimulator) -> None:
    own, member = _drs(sim, "testing"), _drs(sim, MEMBER_KEY)
    own_job, member_job = _start(own), _start(member)  # the same server ID: each account has its own
    assert own_job["arn"].split(":")[4] == ACCOUNT_ID
    assert member_job["arn"].split(":")[4] == MEMBER
    assert [j["jobID"] for j in own.describe_jobs(filters={})["items"]] == [own_job["jobID"]]
    assert [j["jobID"] for j in member.describe_jobs(filters={})["items"]] == [member_job["jobID"]]
    assert own.describe_jobs(filters={"jobIDs": [member_job["jobID"]]})["items"] == []
    # the quota (1 job) is per account-region: each account is full now, with DRS's error shape
    with pytest.raises(ClientError) as refused:
        _start(member, "s-00000000000000002")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert refused.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    truth = {j["jobID"]: j["account"] for j in sim.control.truth()}
    assert truth == {own_job["jobID"]: ACCOUNT_ID, member_job["jobID"]: MEMBER}
    assert [j["jobID"] for j in sim.control.truth(account=MEMBER)] == [member_job["jobID"]]
    calls = [(c["operation"], c["account"]) for c in sim.control.calls(operation="StartRecovery")]
    assert calls == [("StartRecovery", ACCOUNT_ID), ("StartRecovery", MEMBER), ("StartRecovery", MEMBER)]


def test_an_sts_endpoint_names_the_account_of_assumed_role_credentials() -> None:
    with running_moto_server() as moto:
        accounts = Accounts(ACCOUNT_ID, sts_endpoint_url=moto)
        with running_simulator(time_scale=0.0, seed=4, accounts=accounts) as sim:
            sts = boto3.client("sts", endpoint_url=moto, region_name="us-east-1")
            creds = sts.assume_role(
                RoleArn=f"arn:aws:iam::{MEMBER}:role/drs-execution-poller", RoleSessionName="t1"
            )["Credentials"]
            member = boto3.client(
                "drs",
                endpoint_url=sim.endpoint_url,
                region_name="us-west-2",
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            job = _start(member)
            assert job["arn"] == f"arn:aws:drs:us-west-2:{MEMBER}:job/{job['jobID']}"
            own = _start(_drs(sim, "testing"))  # credentials moto does not know: the default account
            assert own["arn"].split(":")[4] == ACCOUNT_ID


def test_an_unreachable_sts_endpoint_is_an_aws_shaped_refusal() -> None:
    accounts = Accounts(ACCOUNT_ID, sts_endpoint_url="http://127.0.0.1:9")  # nothing listens there
    with running_simulator(time_scale=0.0, seed=5, accounts=accounts) as sim:
        with pytest.raises(ClientError) as refused:
            _drs(sim, "AKIAUNKNOWN000000001").describe_jobs(filters={})
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_account_of_the_static_map_must_be_twelve_digits() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        Accounts(ACCOUNT_ID, {"AKIA1": "1234"})
