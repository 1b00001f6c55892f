"""Plans across AWS accounts: the wave's AccountId, the (account, region) key, the member-role
settings, and the assumed-role credentials (refreshable, failures clear and counted once)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from poller.api.errors import ApiError
from poller.api.requests import validate_plan_request
from poller.aws.clients import AssumeRoleError, MemberRole, member_session
from poller.config import ConfigError, Settings, load_settings
from poller.domain.apply import jobs_to_request
from poller.domain.model import MalformedItemError, execution_from_item, execution_to_item
from poller.domain.statuses import ServerStatus
from poller.domain.targets import DrsTarget, target_fields
from poller.pipeline.launch import RETRY, classify_start_error
from tests.ids import job_id
from tests.prom import sample
from tests.unit.builders import execution, server, wave

MEMBER = "111122223333"
WAVE = {"Region": "us-east-1", "SourceServerIds": ["s-" + "a" * 17]}
OTHER_WAVE = {"Region": "us-east-1", "SourceServerIds": ["s-" + "b" * 17]}


# ---- the plan -------------------------------------------------------------------------------
def test_a_wave_may_name_its_account_and_it_reaches_the_execution_item() -> None:
    plan = validate_plan_request({"Waves": [{**WAVE, "AccountId": MEMBER}, OTHER_WAVE]}, ["us-east-1"])
    assert [w.AccountId for w in plan.Waves] == [MEMBER, None]


@pytest.mark.parametrize(
    "bad", ["12345678901", "1234567890123", "11112222333a", 111122223333, "", None, " " * 12]
)
def test_an_account_id_that_is_not_twelve_digits_is_a_400_naming_the_wave(bad: Any) -> None:
    body = {"Waves": [WAVE, {**OTHER_WAVE, "AccountId": bad}]}
    if bad is None:  # null is "no account": the daemon's own
        assert validate_plan_request(body, ["us-east-1"]).Waves[1].AccountId is None
        return
    with pytest.raises(ApiError) as refused:
        validate_plan_request(body, ["us-east-1"])
    assert refused.value.status == 400
    assert "Waves[1].AccountId must be an AWS account ID of exactly 12 digits" in str(refused.value)


def test_a_stored_wave_with_a_malformed_account_is_a_malformed_item_naming_the_field() -> None:
    item = execution_to_item(execution([wave([server(1, job=1)])]))
    item["Waves"][0]["AccountId"] = "not-an-account"
    with pytest.raises(MalformedItemError) as malformed:
        execution_from_item(item)
    assert malformed.value.field == "Waves.0.AccountId"


# ---- the key ----------------------------------------------------------------------------------
def test_jobs_are_asked_per_account_region() -> None:
    member = wave([server(2, job=2), server(3, job=2)], name="B").model_copy(update={"AccountId": MEMBER})
    other_region = wave([server(4, ServerStatus.LAUNCHING, job=4)], name="C", region="us-west-2")
    wanted = jobs_to_request(execution([wave([server(1, job=1)]), member, other_region]))
    assert wanted == {
        DrsTarget(None, "us-east-1"): [job_id(1)],
        DrsTarget(MEMBER, "us-east-1"): [job_id(2)],
        DrsTarget(None, "us-west-2"): [job_id(4)],
    }


def test_the_daemons_own_account_named_explicitly_is_the_same_target() -> None:
    own = "444455556666"
    assert DrsTarget(own, "us-east-1").own(own) == DrsTarget(None, "us-east-1")
    assert DrsTarget(MEMBER, "us-east-1").own(own) == DrsTarget(MEMBER, "us-east-1")
    assert DrsTarget(None, "us-east-1").where(own) == f"{own}/us-east-1"
    assert DrsTarget(None, "us-east-1").where(None) == "self/us-east-1"
    assert str(DrsTarget(None, "us-east-1")) == "us-east-1"
    assert str(DrsTarget(MEMBER, "us-east-1")) == f"{MEMBER}/us-east-1"
    assert target_fields(DrsTarget(MEMBER, "eu-west-1")) == {"account": MEMBER, "region": "eu-west-1"}


# ---- the settings -----------------------------------------------------------------------------
def test_the_member_role_is_the_template_unless_the_account_has_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLLER_MEMBER_ROLE_ARNS", f'{{"{MEMBER}": "arn:aws:iam::{MEMBER}:role/dr/poller"}}')
    settings = load_settings()
    assert settings.member_role(MEMBER) == f"arn:aws:iam::{MEMBER}:role/dr/poller"
    assert settings.member_role("444455556666") == "arn:aws:iam::444455556666:role/drs-execution-poller"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POLLER_MEMBER_ROLE_ARN", "arn:aws:iam::111122223333:role/fixed"),  # no {account}
        ("POLLER_MEMBER_ROLE_ARN", "arn:aws:iam::{account}:role/{name}"),
        ("POLLER_MEMBER_ROLE_ARN", "arn:aws:s3:::{account}"),
        ("POLLER_MEMBER_ROLE_ARNS", '{"1234": "arn:aws:iam::111122223333:role/x"}'),
        ("POLLER_MEMBER_ROLE_ARNS", '{"111122223333": "not-an-arn"}'),
        ("POLLER_MEMBER_ROLE_SESSION_NAME", "has spaces"),
        ("POLLER_MEMBER_ROLE_DURATION_SECONDS", "60"),
    ],
)
def test_bad_member_role_settings_fail_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


# ---- the assumed role -------------------------------------------------------------------------
class _Sts:
    """STS answering AssumeRole from a list: credentials (a lifetime in seconds) or an error code."""

    def __init__(self, *answers: float | str) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    async def assume_role(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        answer = self.answers.pop(0)
        if isinstance(answer, str):
            raise ClientError({"Error": {"Code": answer, "Message": "not authorized"}}, "AssumeRole")
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n:016d}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token-{n}",
                "Expiration": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=answer),
            }
        }


def _role(sts: _Sts, **settings: Any) -> MemberRole:
    async def client() -> _Sts:
        return sts

    return MemberRole(MEMBER, Settings(_env_file=None, **settings), client)  # type: ignore[call-arg]


async def test_assumed_credentials_are_renewed_before_they_expire() -> None:
    sts = _Sts(300, 3600)  # the first expire in 5 minutes: inside botocore's renewal window
    session = member_session(_role(sts, member_role_external_id="ext-1"))
    credentials = await session.get_credentials()
    first = await credentials.get_frozen_credentials()
    second = await credentials.get_frozen_credentials()
    assert (first.access_key, second.access_key) == ("ASIA0000000000000001", "ASIA0000000000000002")
    assert sts.calls[0]["RoleArn"] == f"arn:aws:iam::{MEMBER}:role/drs-execution-poller"
    assert sts.calls[0]["ExternalId"] == "ext-1" and sts.calls[0]["RoleSessionName"] == "drs-execution-poller"
    assert (await credentials.get_frozen_credentials()).access_key == second.access_key  # an hour left


async def test_a_refused_assume_role_names_account_and_role_logs_once_per_streak_and_counts_each() -> None:
    sts = _Sts("AccessDenied", "AccessDenied", 3600, "AccessDenied")
    role = _role(sts)
    before = sample("poller_assume_role_calls_total", account=MEMBER, outcome="AccessDenied")
    with capture_logs() as logs:
        for _ in range(2):
            with pytest.raises(AssumeRoleError) as refused:
                await role.assume()
        await role.assume()
        with pytest.raises(AssumeRoleError):
            await role.assume()
    assert refused.value.account == MEMBER and refused.value.code == "AccessDenied"
    assert f"arn:aws:iam::{MEMBER}:role/drs-execution-poller" in str(refused.value)
    events = [e["event"] for e in logs]
    assert events == ["assume_role_failed", "assume_role_recovered", "assume_role_failed"]
    assert all("secret" not in str(e) and "token" not in str(e) for e in logs)
    assert sample("poller_assume_role_calls_total", account=MEMBER, outcome="AccessDenied") - before == 3
    assert classify_start_error(refused.value) == RETRY  # the launch is retried, never "unknown"
