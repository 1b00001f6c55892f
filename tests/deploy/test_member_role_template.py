"""deploy/member-account-role.yaml: the role the poller assumes in a member account, and the
poller template's permission to assume it. Its DRS permissions are the poller task role's own
(same statements, Sid by Sid), so the two cannot drift, less what only the poller's own account
needs; the scoping checks of the main template apply to it unchanged."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from tests.deploy.test_template import (
    DEPENDENT_ACTIONS,
    REPO,
    as_list,
    called_actions,
    drs_scoping_violations,
    poller_env,
    role_statements,
    template,
)

MEMBER_TEMPLATE = REPO / "deploy" / "member-account-role.yaml"
# Called by the daemon in its own account only: GET /drill-instances lists the daemon's account.
OWN_ACCOUNT_ONLY = frozenset({"drs:DescribeRecoveryInstances"})


@cache
def member_template() -> dict[str, Any]:
    parsed, errors = decode(str(MEMBER_TEMPLATE))
    assert not errors, errors
    assert parsed is not None
    return parsed


def member_statements() -> list[dict[str, Any]]:
    resources = member_template()["Resources"]
    inline = [
        s
        for p in resources["MemberRole"]["Properties"]["Policies"]
        for s in as_list(p["PolicyDocument"]["Statement"])
    ]
    attached = [
        s
        for r in resources.values()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": "MemberRole"} in r["Properties"]["Roles"]
        for s in as_list(r["Properties"]["PolicyDocument"]["Statement"])
    ]
    return inline + attached


def test_member_role_grants_exactly_the_drs_calls_made_in_a_member_account_and_their_dependencies() -> None:
    drs_called = {a for a in called_actions() if a.startswith("drs:")} - OWN_ACCOUNT_ONLY
    expected = drs_called | {d for a in drs_called for d in DEPENDENT_ACTIONS.get(a, ())}
    granted = {a for s in member_statements() if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert granted == expected, (sorted(granted - expected), sorted(expected - granted))


def test_member_role_statements_are_the_task_roles_own_sid_by_sid() -> None:
    poller = {s["Sid"]: s for s in role_statements("TaskRole") if "Sid" in s}
    for statement in member_statements():
        assert statement == poller[statement["Sid"]], statement["Sid"]


def test_member_role_ec2_and_ssm_grants_are_scoped_the_way_aws_scopes_drs() -> None:
    assert drs_scoping_violations(member_statements()) == []


def test_member_role_trusts_only_the_poller_task_role_with_an_optional_external_id() -> None:
    role = member_template()["Resources"]["MemberRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole" and trust["Effect"] == "Allow"
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${PollerAccountId}:root"}}
    condition, with_id, without_id = trust["Condition"]["Fn::If"][0], *trust["Condition"]["Fn::If"][1:]
    assert condition == "HasExternalId"
    for branch in (with_id, without_id):
        assert branch["ArnEquals"] == {"aws:PrincipalArn": {"Ref": "PollerTaskRoleArn"}}
    assert with_id["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}
    assert role["RoleName"] == {"Ref": "RoleName"}
    assert member_template()["Parameters"]["RoleName"]["Default"] == "drs-execution-poller"


def test_poller_task_role_assumes_only_the_member_role_in_the_listed_accounts() -> None:
    grants = [s for s in role_statements("TaskRole") if "sts:AssumeRole" in as_list(s["Action"])]
    assert len(grants) == 1
    [grant] = grants
    assert grant["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
    assert grant["Condition"] == {"StringEquals": {"aws:ResourceAccount": {"Ref": "MemberAccountIds"}}}
    policy = template()["Resources"]["MemberAccountsPolicy"]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [grant]
    assert policy["Condition"] == "HasMemberAccounts"  # no member accounts listed: no grant at all
    assert "sts:TagSession" not in {a for s in role_statements("TaskRole") for a in as_list(s["Action"])}


def test_poller_names_its_account_and_the_member_role_of_the_template() -> None:
    env = poller_env()
    assert env["POLLER_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    assert env["POLLER_MEMBER_ROLE_ARN"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::{account}:role/${MemberRoleName}"
    }
    default = template()["Parameters"]["MemberRoleName"]["Default"]
    assert default == member_template()["Parameters"]["RoleName"]["Default"]
    assert "TaskRoleArn" in template()["Outputs"]


def test_member_template_passes_cfn_lint_cleanly() -> None:
    script = Path(sys.executable).with_name("cfn-lint")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "cfnlint"]
    result = subprocess.run([*cmd, str(MEMBER_TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
