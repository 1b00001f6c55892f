"""The deploy template's launch-result path: EventBridge rule → SQS queue (+ dead-letter queue),
least-privilege grants, an alarm on the queue's backlog, and the daemon told the queue's URL."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import botocore
import botocore.session

from poller.aws.launch_events import DETAIL_TYPE, SOURCE
from tests.deploy.test_template import REPO, as_list, poller_env, template

CONSUMER = REPO / "poller" / "aws" / "launch_events.py"
# IAM action of each SQS operation the consumer calls (DeleteMessageBatch authorizes as DeleteMessage).
ACTIONS = {
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def resource(name: str) -> dict[str, Any]:
    return dict(template()["Resources"][name])


def sqs_calls() -> set[str]:
    """SQS operations the consumer makes (``self._sqs.<op>(...)``), by their API names."""
    names = {
        botocore.xform_name(op): op
        for op in botocore.session.get_session().get_service_model("sqs").operation_names
    }
    tree = ast.parse(Path(CONSUMER).read_text())
    return {
        names[node.func.attr]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and ast.unparse(node.func.value) == "self._sqs"
        and node.func.attr in names
    }


def test_the_rule_sends_drs_launch_results_to_the_queue_with_a_dead_letter_queue() -> None:
    rule = resource("LaunchResultRule")["Properties"]
    assert rule["EventPattern"] == {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["LaunchEventsQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["LaunchEventsDeadLetterQueue", "Arn"]}
    queue = resource("LaunchEventsQueue")["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["LaunchEventsDeadLetterQueue", "Arn"]
    }
    assert queue["SqsManagedSseEnabled"] == {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]}


def test_only_that_rule_may_send_to_the_queues() -> None:
    [statement] = resource("LaunchEventsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["LaunchResultRule", "Arn"]}}
    }


def test_the_task_may_read_and_delete_on_that_queue_only_exactly_what_the_code_calls() -> None:
    policy = resource("LaunchEventsTaskPolicy")["Properties"]
    assert policy["Roles"] == [{"Ref": "TaskRole"}]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Fn::GetAtt": ["LaunchEventsQueue", "Arn"]}
    calls = sqs_calls()
    assert calls == set(ACTIONS), calls  # a new SQS call needs its grant here
    assert sorted(as_list(statement["Action"])) == sorted(ACTIONS[c] for c in calls)


def test_an_alarm_watches_the_oldest_message_and_the_daemon_knows_the_queue() -> None:
    alarm = resource("LaunchEventsBacklogAlarm")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["LaunchEventsQueue", "QueueName"]}}
    ]
    assert poller_env()["POLLER_LAUNCH_EVENTS_QUEUE_URL"] == {"Ref": "LaunchEventsQueue"}
