"""deploy/poller.yaml, checked without an AWS account.

The key check ties the task role to the code: every AWS call the ``poller`` package makes (found with
``ast`` against botocore's service models) must be granted, and every granted action must be called
or be a documented dependency of a call. The rest pins what an operator relies on: health check,
graceful stop, logs, rollback, table safety, alarms on metrics that actually reach CloudWatch.
"""

from __future__ import annotations

import ast
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
import yaml
from cfnlint.decode import decode

from poller.pipeline.find import INDEX_ATTRIBUTES
from poller.store.tables import STATUS_INDEX_ATTRIBUTES

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "deploy" / "poller.yaml"
DOCKERFILE = REPO / "Dockerfile"
CODE_DIR = REPO / "poller"

# Services whose calls are scanned in the code and whose grants must match them exactly.
SCANNED_SERVICES = ("dynamodb", "drs", "events", "sts")
IAM_PREFIX = {"dynamodb": "dynamodb", "drs": "drs", "events": "events", "sts": "sts"}

# Table administration: `poller init-tables` and the local demo create/wait for/delete tables against
# moto or with an administrator's credentials. The deployed task never does: CloudFormation owns the
# tables, so the task role must not be able to create or delete them.
ADMIN_ONLY_ACTIONS = {
    "dynamodb:CreateTable": "poller init-tables / demo (poller/store/tables.py)",
    "dynamodb:DescribeTable": "table_exists waiter after CreateTable (poller/store/tables.py)",
    "dynamodb:DeleteTable": "demo teardown",
}

# Operations whose IAM authorization is not an action of the same name.
OPERATION_ACTIONS: dict[str, set[str]] = {
    "dynamodb:TransactGetItems": {"dynamodb:GetItem"},
    "dynamodb:TransactWriteItems": {
        "dynamodb:ConditionCheckItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
}

# "Dependent actions" (Service Authorization Reference, AWS Elastic Disaster Recovery): DRS performs
# these with the caller's credentials (forward access sessions) while it runs the call; without them
# the job fails later. They are granted only when the code makes the parent call. The EC2, KMS and
# SSM sets are those AWS's own AWSElasticDisasterRecoveryConsoleFullAccess_v2 grants for launching
# (its console-only reads - CloudFormation, S3, license manager, console output - left out), with
# AWS's conditions: see DRS_SCOPING below.
_LAUNCH_EC2_READS = frozenset(
    {
        "ec2:DescribeAccountAttributes",
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeCapacityReservations",
        "ec2:DescribeHosts",
        "ec2:DescribeImages",
        "ec2:DescribeInstanceAttribute",
        "ec2:DescribeInstanceStatus",
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstances",
        "ec2:DescribeKeyPairs",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshots",
        "ec2:DescribeSubnets",
        "ec2:DescribeVolumes",
        "ec2:GetEbsDefaultKmsKeyId",
        "ec2:GetEbsEncryptionByDefault",
        "ec2:GetInstanceTypesFromInstanceRequirements",
    }
)
_LAUNCH_EC2_WRITES = frozenset(
    {
        "ec2:AssociateIamInstanceProfile",
        "ec2:AttachVolume",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateFleet",
        "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion",
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:CreateSecurityGroup",
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
        "ec2:CreateVolume",
        "ec2:DeleteLaunchTemplateVersions",
        "ec2:DeleteSnapshot",
        "ec2:DeleteTags",
        "ec2:DeleteVolume",
        "ec2:DetachVolume",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyLaunchTemplate",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:RunInstances",
        "ec2:StartInstances",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
    }
)
# Post-launch actions run through Systems Manager with the starter's credentials (DRS user guide).
_LAUNCH_ACTIONS_SSM = frozenset(
    {
        "ssm:DescribeInstanceInformation",
        "ssm:DescribeParameters",
        "ssm:GetAutomationExecution",
        "ssm:GetParameters",
        "ssm:SendCommand",
        "ssm:StartAutomationExecution",
    }
)
DEPENDENT_ACTIONS: dict[str, frozenset[str]] = {
    "drs:StartRecovery": frozenset(
        {
            "drs:CreateRecoveryInstanceForDrs",  # registers the launched instance with DRS
            "drs:ListTagsForResource",  # reads source-server tags to copy onto the instance
            "drs:TagResource",  # poller/pipeline/launch.py passes tags= (ExecutionId, LaunchToken) to StartRecovery
            "iam:PassRole",  # hands DRS's instance roles to the instances it launches
            "kms:DescribeKey",  # encrypted replicated volumes
            *_LAUNCH_EC2_READS,
            *_LAUNCH_EC2_WRITES,
            *_LAUNCH_ACTIONS_SSM,
        }
    ),
    "drs:TerminateRecoveryInstances": frozenset(
        {
            "drs:DescribeSourceServers",
            "ec2:DeleteVolume",
            "ec2:DescribeInstances",
            "ec2:DescribeVolumes",
            "ec2:TerminateInstances",
        }
    ),
}

# How AWS scopes what DRS does with a caller's credentials (AWSElasticDisasterRecoveryConsoleFullAccess_v2):
# the poller never calls EC2 or Systems Manager itself, so every EC2/SSM write it is granted must
# arrive through an AWS service (Bool aws:ViaAWSService "true", or aws:CalledVia naming DRS or SSM),
# and the destructive ones only on resources DRS tagged (aws:ResourceTag/ec2:ResourceTag
# AWSElasticDisasterRecoveryManaged present, or AWSDRS=AllowLaunchingIntoThisInstance).
DRS_MANAGED_TAG = "AWSElasticDisasterRecoveryManaged"
DESTRUCTIVE_EC2_ACTIONS = frozenset(
    {
        "ec2:AssociateIamInstanceProfile",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteLaunchTemplateVersions",
        "ec2:DeleteSnapshot",
        "ec2:DeleteTags",
        "ec2:DeleteVolume",
        "ec2:ModifyInstanceAttribute",
        "ec2:ModifyLaunchTemplate",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:StopInstances",
        "ec2:TerminateInstances",
    }
)
# Creations whose new resource must carry the DRS tag (aws:RequestTag), on these resource types.
TAGGED_CREATIONS = {
    "ec2:CreateLaunchTemplate": "launch-template",
    "ec2:CreateNetworkInterface": "network-interface",
    "ec2:CreateSecurityGroup": "security-group",
    "ec2:CreateSnapshot": "snapshot",
    "ec2:CreateVolume": "volume",
    "ec2:RunInstances": "instance",
}

# Calls the brief for poller/ plans but the code does not make yet: granted ahead so the stack works
# when they land. Each entry must be deleted once the code makes the call (a test enforces it), so the
# strict "granted == called" check takes over.
PLANNED_CALLS: dict[str, str] = {}

# With KmsKeyArn set, the tables are under that key: DynamoDB uses it with the caller's
# permissions (kms:ViaService dynamodb), so the task role gets these, only through DynamoDB.
TABLE_KEY_ACTIONS = frozenset({"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"})

# The ADOT sidecar runs with the task role: the awsemf exporter writes to its EMF log group.
SIDECAR_ACTIONS = frozenset({"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"})

# Actions allowed with Resource "*": they have no resource-level permissions (no resource type in
# the Service Authorization Reference). Anything else must name its resources.
NO_RESOURCE_LEVEL_ACTIONS = frozenset(
    {
        "drs:DescribeJobs",
        "drs:DescribeRecoveryInstances",
        "drs:DescribeSourceServers",
        "drs:CreateRecoveryInstanceForDrs",
        "ssm:DescribeInstanceInformation",
        "ssm:DescribeParameters",
        *_LAUNCH_EC2_READS,
    }
)

# Receivers that hold attributes named like DynamoDB operations but are not AWS clients
# (aiohttp's request.query), matched on the last dotted name.
NOT_AWS_RECEIVERS = frozenset({"request", "req"})
# A bare ``self.get_item(...)`` is a wrapper method of the code's own class; the wrapper's body
# makes the real client call, which the scanner finds there.

# Receiver-name hints that settle operations several scanned services share (tag_resource ...).
SERVICE_HINTS = {
    "drs": ("drs",),
    "dynamodb": ("dynamo", "ddb", "table", "_db"),
    "events": ("event", "bus"),
    "sts": ("sts",),
}


# ------------------------------------------------------------------------------ template helpers


@cache
def template() -> dict[str, Any]:
    parsed, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    assert parsed is not None
    return parsed


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] == kind}


def one(kind: str) -> dict[str, Any]:
    found = resources(kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def role_statements(role: str) -> list[dict[str, Any]]:
    """The role's inline policies and the customer-managed policies attached to it."""
    props = template()["Resources"][role]["Properties"]
    inline = [s for p in props.get("Policies", []) for s in as_list(p["PolicyDocument"]["Statement"])]
    attached = [
        s
        for policy in resources("AWS::IAM::ManagedPolicy").values()
        if {"Ref": role} in policy["Properties"].get("Roles", [])
        for s in as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    ]
    return inline + attached


def all_policy_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, res in template()["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for st in role_statements(name):
                yield name, st
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for st in as_list(props["PolicyDocument"]["Statement"]):
                yield name, st


def granted_actions(role: str) -> set[str]:
    return {
        a for st in role_statements(role) if st["Effect"] == "Allow" for a in as_list(st.get("Action", []))
    }


def container(name: str) -> dict[str, Any]:
    defs = one("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    return next(c for c in defs if c["Name"] == name)


def poller_env() -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container("poller")["Environment"]}


def collector_config() -> dict[str, Any]:
    env = {e["Name"]: e["Value"] for e in container("adot-collector")["Environment"]}
    raw = env["AOT_CONFIG_CONTENT"]["Fn::Sub"]
    # ${AWS::StackName}-style references become placeholders; the collector's own ${env:X} stays out.
    return yaml.safe_load(re.sub(r"\$\{([A-Za-z0-9:]+)\}", r"SUB_\1", raw))


# ------------------------------------------------------------------------------ code scanner


@dataclass(frozen=True)
class AwsCall:
    action: str  # IAM action, e.g. dynamodb:Query
    where: str  # file:line


@cache
def operation_index() -> dict[str, set[str]]:
    """snake_case operation (and waiter) name -> {"service:Operation", ...} of the scanned services."""
    session = botocore.session.get_session()
    index: dict[str, set[str]] = {}
    for service in SCANNED_SERVICES:
        for op in session.get_service_model(service).operation_names:
            index.setdefault(botocore.xform_name(op), set()).add(f"{service}:{op}")
    return index


@cache
def waiter_index() -> dict[str, set[str]]:
    session = botocore.session.get_session()
    index: dict[str, set[str]] = {}
    for service in SCANNED_SERVICES:
        try:
            model = session.get_waiter_model(service)
        except Exception:  # a service without waiters
            continue
        for name in model.waiter_names:
            op = model.get_waiter(name).operation
            index.setdefault(botocore.xform_name(name), set()).add(f"{service}:{op}")
    return index


def _receiver(node: ast.AST) -> str:
    return ast.unparse(node).lower()


def _settle(candidates: set[str], receiver: str, where: str) -> set[str]:
    if len(candidates) == 1:
        return candidates
    hinted = {c for c in candidates if any(h in receiver for h in SERVICE_HINTS[c.split(":", 1)[0]])}
    if len(hinted) == 1:
        return hinted
    raise AssertionError(
        f"{where}: cannot tell which service {receiver!r} is ({sorted(candidates)}); "
        "name the client after its service or extend SERVICE_HINTS"
    )


def _to_actions(operations: set[str]) -> set[str]:
    actions: set[str] = set()
    for op in operations:
        service, name = op.split(":", 1)
        actions |= OPERATION_ACTIONS.get(op, {f"{IAM_PREFIX[service]}:{name}"})
    return actions


def scan_source(source: str, filename: str) -> list[AwsCall]:
    """AWS calls in one module: ``c.op(...)``, ``c.op`` passed as an argument, paginators and waiters."""
    tree = ast.parse(source, filename)
    ops = operation_index()
    argument_ids = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for arg in [*node.args, *(k.value for k in node.keywords)]
    }
    called_ids = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    found: list[AwsCall] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        where = f"{filename}:{node.lineno}"
        receiver = _receiver(node.value)
        if receiver == "self" or receiver.split(".")[-1] in NOT_AWS_RECEIVERS:
            continue
        if node.attr in ("get_paginator", "get_waiter") and id(node) in called_ids:
            call = next(
                n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func is node
            )  # the Call whose func is this attribute
            if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                table = ops if node.attr == "get_paginator" else waiter_index()
                if call.args[0].value in table:
                    settled = _settle(table[call.args[0].value], receiver, where)
                    found += [AwsCall(a, where) for a in sorted(_to_actions(settled))]
            continue
        if node.attr in ops and (id(node) in called_ids or id(node) in argument_ids):
            settled = _settle(ops[node.attr], receiver, where)
            found += [AwsCall(a, where) for a in sorted(_to_actions(settled))]
    return found


@cache
def code_calls() -> tuple[AwsCall, ...]:
    calls: list[AwsCall] = []
    for path in sorted(CODE_DIR.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        calls += scan_source(path.read_text(encoding="utf-8"), rel)
    return tuple(calls)


def called_actions() -> dict[str, list[str]]:
    """IAM action -> where it is called, admin-only table calls left out."""
    by_action: dict[str, list[str]] = {}
    for call in code_calls():
        if call.action not in ADMIN_ONLY_ACTIONS:
            by_action.setdefault(call.action, []).append(call.where)
    return by_action


def expected_task_actions() -> set[str]:
    called = set(called_actions()) | set(PLANNED_CALLS)
    deps = {d for parent in called for d in DEPENDENT_ACTIONS.get(parent, ())}
    return called | deps | SIDECAR_ACTIONS | TABLE_KEY_ACTIONS


# ------------------------------------------------------------------------------ IAM vs code


def test_scanner_finds_calls_references_paginators_and_waiters() -> None:
    source = """
async def f(clients, dynamodb, request, drs_client):
    await clients.drs(region).describe_jobs(filters={})
    await timed("Query", table, dynamodb.query, **params)
    pages = dynamodb.get_paginator("scan")
    await dynamodb.get_waiter("table_exists").wait(TableName="t")
    await clients.events.put_events(Entries=[])
    await drs_client.tag_resource(resourceArn="a", tags={})
    dict(request.query)
    self.get_item("wrapper of the code's own class")
    x = dynamodb.update_item  # neither called nor passed: not a call
"""
    actions = {c.action for c in scan_source(source, "example.py")}
    assert actions == {
        "drs:DescribeJobs",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
        "events:PutEvents",
        "drs:TagResource",
    }


def test_scanner_refuses_to_guess_the_service_of_a_shared_operation() -> None:
    with pytest.raises(AssertionError, match="cannot tell which service"):
        scan_source("client.list_tags_for_resource(ResourceArn='x')\n", "example.py")


def test_scanner_finds_aws_calls_in_the_poller_package() -> None:
    # Guards the scanner itself: if it found nothing, the two checks below would pass vacuously.
    assert {"dynamodb:Query", "drs:DescribeJobs"} <= set(called_actions())


def test_shipped_package_imports_no_development_tooling() -> None:
    # Every module of the product is scanned for AWS calls with no exclusions, because the demo, the
    # local stand-ins and drssim live in distributions of their own that the image does not install.
    tooling = re.compile(r"^\s*(?:from|import)\s+(moto|poller_devtools|drssim)\b", re.MULTILINE)
    offenders = {
        path.relative_to(REPO).as_posix(): match.group(1)
        for path in CODE_DIR.rglob("*.py")
        if (match := tooling.search(path.read_text(encoding="utf-8")))
    }
    assert not offenders, offenders


def test_every_aws_call_in_the_code_is_granted_to_the_task_role() -> None:
    granted = granted_actions("TaskRole")
    missing = {a: where for a, where in called_actions().items() if a not in granted}
    assert not missing, f"the code calls these without a grant in TaskRole: {missing}"


def test_every_granted_action_is_called_or_a_documented_dependency() -> None:
    unused = granted_actions("TaskRole") - expected_task_actions()
    assert not unused, (
        f"TaskRole grants actions the code never calls: {sorted(unused)} "
        "(remove them, or document them in DEPENDENT_ACTIONS / SIDECAR_ACTIONS)"
    )


def test_planned_calls_are_not_yet_made_by_the_code() -> None:
    landed = set(PLANNED_CALLS) & set(called_actions())
    assert not landed, f"the code now makes {sorted(landed)}: delete them from PLANNED_CALLS"


def test_dependencies_of_called_actions_are_all_granted() -> None:
    missing = expected_task_actions() - granted_actions("TaskRole")
    assert not missing, f"TaskRole lacks dependencies of calls the code makes: {sorted(missing)}"


def test_table_administration_is_not_granted_to_the_task() -> None:
    assert not granted_actions("TaskRole") & set(ADMIN_ONLY_ACTIONS)


EXECUTIONS_TABLE = {
    "Fn::If": [
        "DefaultExecutionsTableName",
        {"Fn::Sub": "${AWS::StackName}-executions"},
        {"Ref": "ExecutionsTableName"},
    ]
}
PLANS_TABLE = {
    "Fn::If": ["DefaultPlansTableName", {"Fn::Sub": "${AWS::StackName}-plans"}, {"Ref": "PlansTableName"}]
}


def test_dynamodb_grants_are_per_table_and_per_action_the_code_uses() -> None:
    statements = [
        s for s in role_statements("TaskRole") if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]
    grants = {}
    for st in statements:
        template_arn, variables = st["Resource"]["Fn::Sub"]
        table = "executions" if variables["Table"] == EXECUTIONS_TABLE else "plans"
        assert variables["Table"] in (EXECUTIONS_TABLE, PLANS_TABLE)
        grants[(table, template_arn.rpartition(":table/")[2])] = sorted(as_list(st["Action"]))
    assert grants == {
        ("executions", "${Table}"): ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        ("executions", "${Table}/index/StatusIndex"): ["dynamodb:Query"],
        ("executions", "${Table}/index/CleanupIndex"): ["dynamodb:Query"],  # the drill cleaner
        ("plans", "${Table}"): ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"],
    }


def test_table_names_default_to_the_stack_name_so_two_stacks_never_share_tables() -> None:
    params = template()["Parameters"]
    assert params["ExecutionsTableName"]["Default"] == params["PlansTableName"]["Default"] == ""
    assert _tables()["ExecutionsTable"]["Properties"]["TableName"] == EXECUTIONS_TABLE
    assert _tables()["PlansTable"]["Properties"]["TableName"] == PLANS_TABLE
    env = poller_env()
    assert (env["POLLER_TABLE_NAME"], env["POLLER_PLANS_TABLE_NAME"]) == (EXECUTIONS_TABLE, PLANS_TABLE)
    assert "ReusedTablesAreNamed" in template()["Rules"]


def test_put_events_is_limited_to_the_stacks_bus() -> None:
    statements = [s for s in role_statements("TaskRole") if "events:PutEvents" in as_list(s["Action"])]
    assert statements
    assert all(s["Resource"] == {"Fn::GetAtt": ["CompletionEventBus", "Arn"]} for s in statements)


# ------------------------------------------------------------------------------ IAM hygiene


def test_resource_star_only_for_actions_without_resource_level_permissions() -> None:
    offenders = []
    for role, st in all_policy_statements():
        if "*" in as_list(st.get("Resource", [])):
            extra = set(as_list(st["Action"])) - NO_RESOURCE_LEVEL_ACTIONS
            if extra:
                offenders.append((role, st.get("Sid"), sorted(extra)))
    assert not offenders, f'Resource "*" on actions that support resource-level permissions: {offenders}'


def test_no_action_wildcards_and_no_not_action() -> None:
    offenders = []
    for role, st in all_policy_statements():
        assert "NotAction" not in st and "NotResource" not in st, (role, st.get("Sid"))
        offenders += [(role, a) for a in as_list(st["Action"]) if "*" in a or "?" in a]
    assert not offenders, offenders


def _assumes_member_roles(st: dict[str, Any]) -> bool:
    """The one grant outside this account: the member role, in the listed accounts only."""
    pinned = _condition(st, "StringEquals", "aws:ResourceAccount") == {"Ref": "MemberAccountIds"}
    return as_list(st["Action"]) == ["sts:AssumeRole"] and pinned


def test_resource_arns_stay_in_this_account() -> None:
    for role, st in all_policy_statements():
        if _assumes_member_roles(st):
            continue
        for res in as_list(st.get("Resource", [])):
            if isinstance(res, dict) and "Fn::Sub" in res:
                sub = res["Fn::Sub"]
                arn = (sub if isinstance(sub, str) else sub[0]).replace("${AWS::AccountId}", "ACCOUNT")
                account = re.sub(r"\$\{[^}]*\}", "VAR", arn).split(":")[4]
                assert account in ("ACCOUNT", ""), (role, st.get("Sid"), res)


def test_pass_role_only_hands_drs_roles_to_ec2() -> None:
    statements = [s for s in role_statements("TaskRole") if "iam:PassRole" in as_list(s["Action"])]
    for st in statements:
        assert st["Condition"]["StringEquals"]["iam:PassedToService"] == "ec2.amazonaws.com"
        for res in as_list(st["Resource"]):
            assert "role/service-role/AWSElasticDisasterRecovery" in res["Fn::Sub"]


def test_drs_and_ec2_grants_are_limited_to_the_polled_regions() -> None:
    for st in role_statements("TaskRole"):
        services = {a.split(":")[0] for a in as_list(st["Action"])}
        if services & {"drs", "ec2", "ssm"} or (services == {"kms"} and not _through_kms_service(st)):
            condition = st["Condition"]["StringEquals"]["aws:RequestedRegion"]
            assert condition == {"Ref": "DrsRegions"}, st.get("Sid")


def _through_kms_service(st: dict[str, Any]) -> Any:
    return st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")


def test_kms_key_is_optional_and_used_only_through_its_services() -> None:
    params = template()["Parameters"]
    assert params["KmsKeyArn"]["Default"] == ""
    key_policies = {
        name: p
        for name, p in resources("AWS::IAM::ManagedPolicy").items()
        if p.get("Condition") == "HasKmsKey"
    }
    via = {}
    for name, policy in key_policies.items():
        for st in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            assert st["Resource"] == {"Ref": "KmsKeyArn"}, name
            role = policy["Properties"]["Roles"][0]["Ref"]
            via.setdefault(role, set()).add(_through_kms_service(st)["Fn::Sub"])
    assert via == {
        "TaskExecutionRole": {"secretsmanager.${AWS::Region}.amazonaws.com"},
        "TaskRole": {"dynamodb.${AWS::Region}.amazonaws.com", "sqs.${AWS::Region}.amazonaws.com"},
    }
    key = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    for table in resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"]["KMSMasterKeyId"] == key
    for group in resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == key
    assert one("AWS::SecretsManager::Secret")["Properties"]["KmsKeyId"] == key
    for queue in resources("AWS::SQS::Queue").values():
        assert queue["Properties"]["KmsMasterKeyId"] == key
        # without a key, SQS-managed encryption: never an unencrypted queue
        assert queue["Properties"]["SqsManagedSseEnabled"] == {
            "Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]
        }


def _condition(st: dict[str, Any], operator: str, key: str) -> Any:
    return st.get("Condition", {}).get(operator, {}).get(key)


def _through_an_aws_service(st: dict[str, Any]) -> bool:
    """The call must come from an AWS service acting for the role (forward access session)."""
    if str(_condition(st, "Bool", "aws:ViaAWSService")).lower() == "true":
        return True
    called_via = _condition(st, "ForAnyValue:StringEquals", "aws:CalledVia")
    return bool(called_via) and set(as_list(called_via)) <= {"drs.amazonaws.com", "ssm.amazonaws.com"}


def _on_drs_tagged_resources(st: dict[str, Any]) -> bool:
    for key in (f"aws:ResourceTag/{DRS_MANAGED_TAG}", f"ec2:ResourceTag/{DRS_MANAGED_TAG}"):
        if str(_condition(st, "Null", key)).lower() == "false":
            return True
    return _condition(st, "StringEquals", "ec2:ResourceTag/AWSDRS") == "AllowLaunchingIntoThisInstance"


def _creates_drs_tagged(st: dict[str, Any]) -> bool:
    return str(_condition(st, "Null", f"aws:RequestTag/{DRS_MANAGED_TAG}")).lower() == "false"


def _resource_types(st: dict[str, Any]) -> set[str]:
    types = set()
    for res in as_list(st.get("Resource", [])):
        arn = res["Fn::Sub"] if isinstance(res, dict) else str(res)
        parts = re.sub(r"\$\{[^}]*\}", "X", arn).split(":")
        types.add(parts[5].split("/")[0] if len(parts) > 5 else arn)
    return types


def drs_scoping_violations(statements: list[dict[str, Any]]) -> list[str]:
    """What in ``statements`` AWS's DRS policies would not allow (see DRS_SCOPING above)."""
    problems = []
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        sid = st.get("Sid", "?")
        for action in as_list(st.get("Action", [])):
            service = action.split(":", 1)[0]
            if service not in ("ec2", "ssm") or action in NO_RESOURCE_LEVEL_ACTIONS:
                continue
            ssm_on_drs_resources = service == "ssm" and _on_drs_tagged_resources(st)
            if not (_through_an_aws_service(st) or ssm_on_drs_resources):
                problems.append(
                    f"{sid}: {action} is not limited to calls DRS makes (aws:ViaAWSService/aws:CalledVia)"
                )
            volume_side_of_detach = action == "ec2:DetachVolume" and _resource_types(st) == {"volume"}
            tag_scoped = action in DESTRUCTIVE_EC2_ACTIONS or action in (
                "ec2:AttachVolume",
                "ec2:DetachVolume",
                "ec2:StartInstances",
            )
            if tag_scoped and not volume_side_of_detach and not _on_drs_tagged_resources(st):
                problems.append(f"{sid}: {action} reaches resources DRS did not tag {DRS_MANAGED_TAG}")
            created = TAGGED_CREATIONS.get(action)
            if created in _resource_types(st) and not _creates_drs_tagged(st):
                problems.append(f"{sid}: {action} may create a {created} without the {DRS_MANAGED_TAG} tag")
            if action == "ec2:CreateTags" and not (
                _condition(st, "StringEquals", "ec2:CreateAction") or _on_drs_tagged_resources(st)
            ):
                problems.append(f"{sid}: ec2:CreateTags may retag any resource (needs ec2:CreateAction)")
    return problems


def test_ec2_and_ssm_grants_are_scoped_the_way_aws_scopes_drs() -> None:
    assert not drs_scoping_violations(role_statements("TaskRole"))


def _region_only(actions: list[str], resource: str) -> dict[str, Any]:
    return {
        "Sid": "Ec2WriteForRecovery",
        "Effect": "Allow",
        "Action": actions,
        "Resource": {"Fn::Sub": resource},
        "Condition": {"StringEquals": {"aws:RequestedRegion": {"Ref": "DrsRegions"}}},
    }


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("ec2:TerminateInstances", "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*"),
        ("ec2:DeleteVolume", "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:volume/*"),
        ("ec2:DeleteSnapshot", "arn:${AWS::Partition}:ec2:*::snapshot/*"),
        (
            "ec2:AuthorizeSecurityGroupIngress",
            "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:security-group/*",
        ),
        ("ec2:RunInstances", "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*"),
        ("ec2:CreateTags", "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*"),
    ],
)
def test_scoping_check_rejects_an_ec2_write_conditioned_only_on_the_region(
    action: str, resource: str
) -> None:
    # The grant the template had before: account and region only - anyone in the container could use it.
    problems = drs_scoping_violations([_region_only([action], resource)])
    assert problems and all(action in p for p in problems), problems
    via_drs_only = _region_only([action], resource)
    via_drs_only["Condition"]["Bool"] = {"aws:ViaAWSService": "true"}
    # Through DRS is not enough for what destroys or creates: the resource must be DRS's own.
    assert drs_scoping_violations([via_drs_only])


def test_iam_policies_fit_the_iam_size_quotas() -> None:
    """Managed policies hold 6,144 characters, a role's inline policies 10,240 together (no spaces)."""

    def expand(node: Any) -> Any:  # as IAM stores it: ARNs substituted, six regions listed
        if isinstance(node, dict) and "Fn::Sub" in node:
            sub = node["Fn::Sub"]
            arn = (sub if isinstance(sub, str) else sub[0]).replace("${AWS::AccountId}", "123456789012")
            return re.sub(r"\$\{[^}]*\}", "a" * 255 if "${Table}" in arn else "aws-us-gov", arn)
        if node == {"Ref": "DrsRegions"}:
            return [f"ap-southeast-{i}" for i in range(6)]
        if isinstance(node, dict):
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    def size(document: Any) -> int:
        return len(re.sub(r"\s", "", json.dumps(expand(document))))

    for name, policy in resources("AWS::IAM::ManagedPolicy").items():
        assert size(policy["Properties"]["PolicyDocument"]) <= 6144, name
    for name, role in resources("AWS::IAM::Role").items():
        inline = sum(size(p["PolicyDocument"]) for p in role["Properties"].get("Policies", []))
        assert inline <= 10240, name


def test_execution_role_reads_exactly_the_injected_secret() -> None:
    statements = [
        s for s in role_statements("TaskExecutionRole") if not _through_kms_service(s)
    ]  # the KMS grant is checked above
    assert [a for s in statements for a in as_list(s["Action"])] == ["secretsmanager:GetSecretValue"]
    injected = {s["Name"]: s["ValueFrom"] for s in container("poller")["Secrets"]}
    assert statements[0]["Resource"] == injected["POLLER_API_TOKEN"]


# ------------------------------------------------------------------------------ task definition


def test_task_definition_is_fargate_awsvpc_half_vcpu_one_gb() -> None:
    props = one("AWS::ECS::TaskDefinition")["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert (props["Cpu"], props["Memory"]) == ("512", "1024")


# After the shutdown deadline the daemon still closes its HTTP server (2 s), its clients and exits.
EXIT_AFTER_DEADLINE_SECONDS = 10


def test_shutdown_deadline_fits_inside_the_stop_timeout() -> None:
    from poller.runtime.daemon import HTTP_CLOSE_SECONDS

    grace = float(poller_env()["POLLER_SHUTDOWN_GRACE_SECONDS"])
    stop_timeout = container("poller")["StopTimeout"]
    assert stop_timeout <= 120  # Fargate's maximum
    assert HTTP_CLOSE_SECONDS < EXIT_AFTER_DEADLINE_SECONDS
    assert grace + EXIT_AFTER_DEADLINE_SECONDS <= stop_timeout


def test_containers_log_to_cloudwatch_with_retention() -> None:
    groups = resources("AWS::Logs::LogGroup")
    for name in ("poller", "adot-collector"):
        log = container(name)["LogConfiguration"]
        assert log["LogDriver"] == "awslogs"
        group = log["Options"]["awslogs-group"]["Ref"]
        assert "RetentionInDays" in groups[group]["Properties"]


def _health_command() -> str:
    check = container("poller")["HealthCheck"]
    assert check["Command"][0] == "CMD-SHELL"
    assert "curl" not in check["Command"][1]
    return str(check["Command"][1])


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_container_health_check_command_reports_healthz(status: int, healthy: bool) -> None:
    """Runs the task definition's exact command (port swapped) against a stand-in /healthz."""
    command = _health_command()
    assert "http://127.0.0.1:8080/healthz" in command
    handler = type("H", (_Handler,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        local = command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        python_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{python_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        result = subprocess.run(["sh", "-c", local], env=env, capture_output=True, timeout=20, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr


def test_container_environment_is_accepted_by_the_settings() -> None:
    from poller.config import Settings

    env = poller_env()
    fields = set(Settings.model_fields)
    unknown = [n for n in env if n.removeprefix("POLLER_").lower() not in fields]
    assert not unknown, f"env vars the daemon does not know: {unknown}"
    required = {
        "POLLER_TABLE_NAME",
        "POLLER_PLANS_TABLE_NAME",
        "POLLER_STATUS_INDEX_NAME",
        "POLLER_AWS_REGION",
        "POLLER_DRS_REGIONS",
        "POLLER_EVENT_BUS_NAME",
        "POLLER_HTTP_HOST",
        "POLLER_HTTP_PORT",
        "POLLER_LOG_FORMAT",
        "POLLER_LOG_LEVEL",
    }
    assert required <= set(env)
    assert env["POLLER_HTTP_HOST"] == "0.0.0.0"
    assert env["POLLER_LOG_FORMAT"] == "json"
    assert env["POLLER_DRS_REGIONS"] == {"Fn::Join": [",", {"Ref": "DrsRegions"}]}
    # The literal values as the daemon would read them (with the injected token) must validate.
    literal = {n: v for n, v in env.items() if isinstance(v, str)}
    settings = Settings(**{n.removeprefix("POLLER_").lower(): v for n, v in literal.items()}, api_token="t")
    assert settings.http_port == 8080


def test_api_token_comes_from_secrets_manager() -> None:
    secrets = {s["Name"] for s in container("poller")["Secrets"]}
    assert secrets == {"POLLER_API_TOKEN"}
    assert "POLLER_API_TOKEN" not in poller_env()


def test_status_index_name_in_env_matches_the_table() -> None:
    table = template()["Resources"]["ExecutionsTable"]
    names = [g["IndexName"] for g in table["Properties"]["GlobalSecondaryIndexes"]]
    assert poller_env()["POLLER_STATUS_INDEX_NAME"] in names


# ------------------------------------------------------------------------------ service


def test_service_rolls_back_failed_deployments() -> None:
    props = one("AWS::ECS::Service")["Properties"]
    breaker = props["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}
    assert props["LaunchType"] == "FARGATE"


def test_two_replicas_by_default() -> None:
    assert template()["Parameters"]["DesiredCount"]["Default"] == 2
    assert one("AWS::ECS::Service")["Properties"]["DesiredCount"] == {"Ref": "DesiredCount"}


def test_cluster_has_container_insights() -> None:
    settings = one("AWS::ECS::Cluster")["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


def test_internal_alb_exists_only_when_the_api_is_exposed() -> None:
    assert template()["Parameters"]["ApiExposure"]["AllowedValues"] == ["internal-alb", "none"]
    for kind in (
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
    ):
        assert one(kind)["Condition"] == "ExposeApi", kind
    assert one("AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["Scheme"] == "internal"


def test_api_is_exposed_by_default_over_https_only() -> None:
    params = template()["Parameters"]
    assert params["ApiExposure"]["Default"] == "internal-alb"
    listener = one("AWS::ElasticLoadBalancingV2::Listener")["Properties"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "ApiCertificateArn"}}]
    assert listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    # No way to deploy the ALB without a certificate: the bearer token never travels over HTTP.
    rule = template()["Rules"]["HttpsNeedsACertificate"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "ApiExposure"}, "internal-alb"]}
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiCertificateArn"}, ""]}]
    }
    ingress = resources("AWS::EC2::SecurityGroup")["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [(r["FromPort"], r["ToPort"]) for r in ingress] == [(443, 443)]
    outputs = template()["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::Sub": "https://${ApiLoadBalancer.DNSName}"}


def test_load_balancer_and_circuit_breaker_watch_readiness() -> None:
    """/readyz (DynamoDB readable, not stopping) decides traffic and rollback; /healthz liveness."""
    target_group = one("AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]
    assert target_group["HealthCheckPath"] == "/readyz"
    assert "/healthz" in _health_command()
    service = one("AWS::ECS::Service")["Properties"]
    assert service["LoadBalancers"]["Fn::If"][0] == "ExposeApi"


# ------------------------------------------------------------------------------ data


def _tables() -> dict[str, dict[str, Any]]:
    return resources("AWS::DynamoDB::Table")


def test_tables_are_created_or_reused_by_a_switch() -> None:
    assert set(_tables()) == {"ExecutionsTable", "PlansTable"}
    for table in _tables().values():
        assert table["Condition"] == "CreateTables"
        assert table["DeletionPolicy"] == "Retain"


def test_tables_are_on_demand_with_pitr_deletion_protection_and_sse() -> None:
    for name, table in _tables().items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name


def test_table_shapes_match_the_codes_table_definitions() -> None:
    from poller.store.tables import execution_table_definition, plans_table_definition

    for resource, code in (
        ("ExecutionsTable", execution_table_definition("t", "StatusIndex")),
        ("PlansTable", plans_table_definition("t")),
    ):
        props = _tables()[resource]["Properties"]
        assert props["KeySchema"] == code["KeySchema"], resource
        key = "AttributeName"
        assert sorted(props["AttributeDefinitions"], key=lambda a: a[key]) == sorted(
            code["AttributeDefinitions"], key=lambda a: a[key]
        )
        assert props.get("GlobalSecondaryIndexes", []) == code.get("GlobalSecondaryIndexes", [])


def test_status_index_is_status_hash_starttime_range_projecting_a_summary() -> None:
    gsis = _tables()["ExecutionsTable"]["Properties"]["GlobalSecondaryIndexes"]
    (gsi,) = [g for g in gsis if g["IndexName"] == "StatusIndex"]
    assert gsi["KeySchema"] == [
        {"AttributeName": "Status", "KeyType": "HASH"},
        {"AttributeName": "StartTime", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(STATUS_INDEX_ATTRIBUTES),
    }
    assert set(INDEX_ATTRIBUTES) <= {"ExecutionId", "Status", "StartTime", *STATUS_INDEX_ATTRIBUTES}
    types = {
        a["AttributeName"]: a["AttributeType"]
        for a in _tables()["ExecutionsTable"]["Properties"]["AttributeDefinitions"]
    }
    assert (types["Status"], types["StartTime"]) == ("S", "N")


# ------------------------------------------------------------------------------ metrics and alarms


NAMESPACE = {"Fn::Sub": "DRSPoller/${AWS::StackName}"}


def _poller_alarms() -> dict[str, dict[str, Any]]:
    """Every (alarm, metric) of the poller's namespace, metric-math alarms' inputs included, as
    {"MetricName": ..., "Dimensions": [...]}; keyed "Alarm" or "Alarm/id"."""
    found = {}
    for name, a in resources("AWS::CloudWatch::Alarm").items():
        props = a["Properties"]
        if props.get("Namespace") == NAMESPACE:
            found[name] = props
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == NAMESPACE:
                found[f"{name}/{query['Id']}"] = metric
    return found


def _exported_metrics() -> Iterator[tuple[str, list[str]]]:
    """(metric name, dimension set) pairs the awsemf exporter puts into CloudWatch."""
    cfg = collector_config()
    emf = cfg["exporters"]["awsemf"]
    assert emf["namespace"] == "DRSPoller/SUB_AWS::StackName"
    assert cfg["service"]["pipelines"]["metrics"]["exporters"] == ["awsemf"]
    for decl in emf["metric_declarations"]:
        for selector in decl["metric_name_selectors"]:
            for dims in decl["dimensions"]:
                yield selector.strip("^$"), sorted(dims)


def test_collector_scrapes_the_daemons_metrics_endpoint() -> None:
    (job,) = collector_config()["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:8080"]


def test_collector_pins_the_names_the_alarms_use() -> None:
    cfg = collector_config()
    assert "metricstransform" in cfg["service"]["pipelines"]["metrics"]["processors"]
    renamed = {t.get("new_name") for t in cfg["processors"]["metricstransform"]["transforms"]}
    for name, alarm in _poller_alarms().items():
        assert alarm["MetricName"] in renamed, name


def test_every_poller_alarm_watches_a_metric_the_collector_exports() -> None:
    exported = set((m, tuple(d)) for m, d in _exported_metrics())
    alarms = _poller_alarms()
    assert alarms
    for name, alarm in alarms.items():
        dims = tuple(sorted(d["Name"] for d in alarm.get("Dimensions", [])))
        assert (alarm["MetricName"], dims) in exported, name


def _labelnames(metric: str) -> set[str]:
    import poller.metrics

    for value in vars(poller.metrics).values():
        if getattr(value, "_name", None) in (metric, metric.removesuffix("_total")):
            return set(getattr(value, "_labelnames", ()))
    return set()


def test_exported_metrics_exist_in_the_daemon() -> None:
    from prometheus_client import REGISTRY

    from poller.runtime.daemon import start_alarmed_series_at_zero  # imports every metric

    start_alarmed_series_at_zero()

    names: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
        names.setdefault(family.name, set())
        if family.type == "counter":
            names.setdefault(f"{family.name}_total", set())
    for metric, dims in _exported_metrics():
        assert metric in names, f"{metric} is not a metric of poller/metrics.py"
        # Dimensions are Prometheus labels, or the constant "service" the collector adds.
        assert set(dims) - {"service"} <= names[metric] | _labelnames(metric), (metric, dims)


def test_alarms_cover_tasks_throttling_timeouts_and_event_loop_lag() -> None:
    alarms = _poller_alarms()
    watched = {
        (a["MetricName"], tuple((d["Name"], d["Value"]) for d in a.get("Dimensions", [])))
        for a in alarms.values()
    }
    assert watched == {
        ("poller_drs_throttled_total", (("service", "drs-poller"),)),
        ("poller_timeouts_total", (("outcome", "TIMEOUT"),)),
        ("poller_event_loop_lag_seconds", (("service", "drs-poller"),)),
        ("poller_finder_runs_total", (("outcome", "error"),)),
        ("poller_dynamodb_failures_total", (("service", "drs-poller"),)),
        ("poller_launches_total", (("outcome", "rejected"),)),
        ("poller_launches_total", (("outcome", "gave_up"),)),
        ("poller_events_published_total", (("outcome", "error"),)),
        ("poller_events_published_total", (("outcome", "rejected"),)),
    }
    task_alarm = template()["Resources"]["TasksBelowDesiredAlarm"]["Properties"]
    metric_names = {
        m["MetricStat"]["Metric"]["MetricName"] for m in task_alarm["Metrics"] if "MetricStat" in m
    }
    assert metric_names == {"RunningTaskCount", "DesiredTaskCount"}


def test_timeout_alarm_outcome_is_a_status_the_daemon_records() -> None:
    from poller.domain.statuses import ExecutionStatus

    assert ExecutionStatus.TIMEOUT.value == "TIMEOUT"


def test_collector_may_write_only_its_emf_log_group() -> None:
    statements = [
        s for s in role_statements("TaskRole") if any(a.startswith("logs:") for a in as_list(s["Action"]))
    ]
    assert {a for s in statements for a in as_list(s["Action"])} == SIDECAR_ACTIONS
    assert all(s["Resource"] == {"Fn::GetAtt": ["MetricsLogGroup", "Arn"]} for s in statements)
    emf = collector_config()["exporters"]["awsemf"]
    assert emf["log_group_name"] == "SUB_MetricsLogGroup"


# ------------------------------------------------------------------------------ image


def test_image_runs_the_daemon_as_a_non_root_user() -> None:
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines()]
    assert 'ENTRYPOINT ["poller"]' in lines
    assert 'CMD ["run"]' in lines
    users = [shlex.split(ln)[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


# ------------------------------------------------------------------------------ lint


@pytest.fixture(scope="module", autouse=True)
def cfn_lint_run() -> Iterator[subprocess.Popen[str]]:
    """cfn-lint takes seconds: start it once, in the background, while the other checks run."""
    script = Path(sys.executable).with_name("cfn-lint")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "cfnlint"]
    proc = subprocess.Popen(
        [*cmd, str(TEMPLATE_PATH)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_template_passes_cfn_lint_cleanly(cfn_lint_run: subprocess.Popen[str]) -> None:
    output, _ = cfn_lint_run.communicate(timeout=120)
    assert cfn_lint_run.returncode == 0, output


# ------------------------------------------------------------------------------ docs


DEPLOY_DOC = REPO / "docs" / "deploy.md"


def _doc_table(header: str) -> list[list[str]]:
    lines = DEPLOY_DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_deploy_doc_lists_every_parameter_with_its_default() -> None:
    params = template()["Parameters"]
    documented: dict[str, str] = {}
    for name_cell, default_cell, *_ in _doc_table("| Parameter | Default | Meaning |"):
        for name in re.findall(r"`([A-Za-z]+)`", name_cell):
            documented[name] = default_cell
    assert set(documented) == set(params)
    for name, default_cell in documented.items():
        default = params[name].get("Default")
        if default is None:
            assert default_cell == "(required)", name
        elif default in ("", []):
            assert default_cell == "empty", name
        else:
            assert f"`{default}`" in default_cell, (name, default, default_cell)


def test_deploy_doc_lists_every_alarm() -> None:
    documented = {
        re.sub(r"`", "", row[0]) for row in _doc_table("| Alarm | Fires when | What it means / what to do |")
    }
    assert documented == set(resources("AWS::CloudWatch::Alarm"))


def test_replica_records_expire_by_ttl_and_execution_items_cannot() -> None:
    from poller.domain.model import Execution
    from poller.store.lease import RECORD_TTL

    table = resources("AWS::DynamoDB::Table")["ExecutionsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": RECORD_TTL, "Enabled": True}
    assert RECORD_TTL not in Execution.model_fields  # the model never writes it on an execution item


# ------------------------------------------------------------------------------ tags

TAG_PARAMETERS = {"Environment": "TagEnvironment", "Owner": "TagOwner", "CostCenter": "TagCostCenter"}


def _supports_tags(kind: str) -> bool:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema
    return "Tags" in schema.get("properties", {})


def test_every_taggable_resource_carries_the_stack_tags() -> None:
    """Cost and ownership reports find every resource: Application always, the optional tag
    parameters when set (an empty parameter adds no tag), per the resource type's schema."""
    conditional = [
        {
            "Fn::If": [
                f"Has{key}Tag",
                {"Key": key, "Value": {"Ref": parameter}},
                {"Ref": "AWS::NoValue"},
            ]
        }
        for key, parameter in TAG_PARAMETERS.items()
    ]
    taggable = {name: body for name, body in template()["Resources"].items() if _supports_tags(body["Type"])}
    assert len(taggable) >= 20  # tables, queues, roles, logs, ECS, ALB, alarms, bus, rule, secret
    for name, body in taggable.items():
        tags = body["Properties"].get("Tags")
        assert tags is not None, f"{name} ({body['Type']}) carries no Tags"
        assert {"Key": "Application", "Value": "drs-execution-poller"} in tags, name
        for tag in conditional:
            assert tag in tags, (name, tag)
    for key, parameter in TAG_PARAMETERS.items():
        assert template()["Parameters"][parameter]["Default"] == ""
        assert template()["Conditions"][f"Has{key}Tag"] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]
        }
    service = one("AWS::ECS::Service")["Properties"]
    assert (service["PropagateTags"], service["EnableECSManagedTags"]) == ("SERVICE", True)


def test_a_tag_check_would_notice_an_untagged_resource() -> None:
    assert _supports_tags("AWS::SQS::Queue") and _supports_tags("AWS::CloudWatch::Alarm")
    assert not _supports_tags("AWS::IAM::ManagedPolicy")  # no Tags property: not required


# ------------------------------------------------------------------------------ scaling


def test_scaling_on_executions_per_replica_exists_only_when_switched_on() -> None:
    params = template()["Parameters"]
    assert params["AutoScaling"]["Default"] == "false"
    assert template()["Conditions"]["EnableAutoScaling"] == {"Fn::Equals": [{"Ref": "AutoScaling"}, "true"]}
    target = one("AWS::ApplicationAutoScaling::ScalableTarget")
    policy = one("AWS::ApplicationAutoScaling::ScalingPolicy")
    assert target["Condition"] == policy["Condition"] == "EnableAutoScaling"
    assert target["Properties"]["MinCapacity"] == {"Ref": "DesiredCount"}
    assert target["Properties"]["MaxCapacity"] == {"Ref": "MaxCount"}
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == {"Ref": "TargetExecutionsPerReplica"}
    metric = tracking["CustomizedMetricSpecification"]
    # the series the collector exports per task, averaged over the tasks: executions per replica
    assert (metric["MetricName"], metric["Statistic"]) == ("poller_executions_tracked", "Average")
    assert metric["Namespace"] == {"Fn::Sub": "DRSPoller/${AWS::StackName}"}
    from prometheus_client import REGISTRY

    import poller.metrics  # noqa: F401  (declares the series)

    assert REGISTRY.get_sample_value("poller_executions_tracked") is not None
