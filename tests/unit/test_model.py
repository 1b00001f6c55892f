"""Reading and writing the DynamoDB execution item: defects become one MalformedItemError."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from poller.domain.model import MalformedItemError, execution_from_item, execution_to_item
from poller.domain.statuses import ExecutionStatus, ExecutionType, PostLaunchStatus, ServerStatus, WaveStatus

from .builders import START, execution, instance_id, job_id, server, server_id, wave


def good_item() -> dict[str, Any]:
    """A deserialized item as boto3's TypeDeserializer returns it: numbers are Decimal."""
    return {
        "ExecutionId": "exec-1",
        "PlanId": "plan-1",
        "ExecutionType": "RECOVERY",
        "Status": "POLLING",
        "StartTime": Decimal("1700000000"),
        "LastPolledTime": Decimal("1700000030.125"),
        "Version": Decimal("3"),
        "Waves": [
            {
                "WaveName": "Wave-1",
                "Region": "us-east-1",
                "Status": "LAUNCHING",
                "Servers": [
                    {
                        "SourceServerId": server_id(1),
                        "RecoveryJobId": job_id(1),
                        "Status": "LAUNCHED",
                        "InstanceId": instance_id(1),
                        "LaunchedTime": Decimal("1700000020.5"),
                        "PollAttempts": Decimal("4"),
                        "PostLaunchActionsStatus": "IN_PROGRESS",
                    },
                    {"SourceServerId": server_id(2), "RecoveryJobId": job_id(2), "Status": "STARTED"},
                ],
            }
        ],
    }


def test_item_is_read_with_decimal_numbers_as_numbers() -> None:
    read = execution_from_item(good_item())
    assert read.ExecutionType == ExecutionType.RECOVERY
    assert read.StartTime == START
    assert read.LastPolledTime == 1700000030.125
    assert read.Version == 3
    first = read.Waves[0].Servers[0]
    assert first.Status == ServerStatus.LAUNCHED
    assert first.PollAttempts == 4
    assert first.LaunchedTime == 1700000020.5
    assert first.PostLaunchActionsStatus == PostLaunchStatus.IN_PROGRESS


def test_item_round_trip_keeps_everything() -> None:
    original = execution(
        [
            wave([server(1, ServerStatus.LAUNCHED, InstanceId=instance_id(1), LaunchedTime=START + 1.25)]),
            wave(
                [server(2, ServerStatus.FAILED, FailureReason="boom")],
                name="Wave-2",
                status=WaveStatus.FAILED,
            ),
        ],
        ExecutionType.RECOVERY,
        last_polled=START + 30.5,
    )
    item = execution_to_item(original)
    assert execution_from_item(item) == original
    assert item["StartTime"] == Decimal("1700000000.0")
    assert isinstance(item["Waves"][0]["Servers"][0]["PollAttempts"], Decimal)
    assert "EndTime" not in item  # no None attributes
    assert all(type(v) is not float for v in _leaves(item))


def test_item_round_trip_preserves_decimal_numbers_and_unknown_attributes() -> None:
    item = good_item()
    item["Owner"] = "team-dr"
    item["Budget"] = Decimal("12.3456789")  # more digits than our own time fields keep
    item["Huge"] = Decimal("123456789012345678901234567890")
    item["Tags"] = {"env": "prod", "weight": Decimal("0.1"), "list": [Decimal("1"), "x", True]}
    item["Waves"][0]["Servers"][1]["Note"] = {"by": "hand", "at": Decimal("1700000001.0001")}
    item["Waves"][0]["Extra"] = [Decimal("2.5")]
    read = execution_from_item(item)
    written = execution_to_item(read)
    assert written["Owner"] == "team-dr"
    assert written["Budget"] == Decimal("12.3456789")
    assert written["Huge"] == Decimal("123456789012345678901234567890")
    assert written["Tags"] == {"env": "prod", "weight": Decimal("0.1"), "list": [Decimal("1"), "x", True]}
    assert written["Waves"][0]["Servers"][1]["Note"] == {"by": "hand", "at": Decimal("1700000001.0001")}
    assert written["Waves"][0]["Extra"] == [Decimal("2.5")]
    assert execution_from_item(written) == read
    assert all(type(v) is not float for v in _leaves(written))


def test_item_round_trip_preserves_number_sets() -> None:
    item = good_item()
    item["Ports"] = {Decimal("22"), Decimal("443")}  # DynamoDB NS as boto3 deserializes it
    written = execution_to_item(execution_from_item(item))
    assert written["Ports"] == {Decimal("22"), Decimal("443")}


def test_written_statuses_are_plain_strings() -> None:
    written = execution_to_item(execution_from_item(good_item()))
    assert type(written["Status"]) is str
    assert type(written["Waves"][0]["Servers"][0]["Status"]) is str


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | set):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


# --- malformed items -------------------------------------------------------------------------


def _without(path: list[Any]) -> dict[str, Any]:
    item = good_item()
    target: Any = item
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return item


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    item = good_item()
    target: Any = item
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return item


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (_without(["PlanId"]), "PlanId"),
        (_without(["Status"]), "Status"),
        (_without(["Waves"]), "Waves"),
        (_without(["Waves", 0, "Region"]), "Waves.0.Region"),
        (_without(["Waves", 0, "Servers", 1, "SourceServerId"]), "Waves.0.Servers.1.SourceServerId"),
        (_with(["StartTime"], "yesterday"), "StartTime"),
        (_with(["Waves"], "Wave-1"), "Waves"),
        (_with(["Waves"], []), "Waves"),
        (_with(["Version"], Decimal("1.5")), "Version"),
        (_with(["Waves", 0, "Region"], "mars"), "Waves.0.Region"),
        (_with(["Waves", 0, "Servers", 0, "PollAttempts"], Decimal("-1")), "Waves.0.Servers.0.PollAttempts"),
        (_with(["Waves", 0, "Servers", 0, "LaunchedTime"], [1]), "Waves.0.Servers.0.LaunchedTime"),
    ],
    ids=[
        "missing-PlanId",
        "missing-Status",
        "missing-Waves",
        "missing-Region",
        "missing-SourceServerId",
        "StartTime-not-a-number",
        "Waves-not-a-list",
        "Waves-empty",
        "Version-fractional",
        "Region-invalid",
        "PollAttempts-negative",
        "LaunchedTime-a-list",
    ],
)
def test_malformed_item_error_names_key_and_field(item: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedItemError) as caught:
        execution_from_item(item)
    assert caught.value.key == "exec-1"
    assert caught.value.field == field
    assert "exec-1" in str(caught.value) and field in str(caught.value)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["Status"], "RUNNING", "Status"),
        (["ExecutionType"], "FAILOVER", "ExecutionType"),
        (["Waves", 0, "Status"], "DONE", "Waves.0.Status"),
        (["Waves", 0, "Servers", 1, "Status"], "COMPLETED", "Waves.0.Servers.1.Status"),
        (
            ["Waves", 0, "Servers", 0, "PostLaunchActionsStatus"],
            "SUCCEEDED",
            "Waves.0.Servers.0.PostLaunchActionsStatus",
        ),
    ],
)
def test_unknown_status_is_malformed(path: list[Any], value: str, field: str) -> None:
    with pytest.raises(MalformedItemError) as caught:
        execution_from_item(_with(path, value))
    assert caught.value.field == field
    assert value in caught.value.reason or "Input should be" in caught.value.reason


def test_duplicate_server_is_malformed_and_named() -> None:
    item = good_item()
    item["Waves"].append(
        {"WaveName": "Wave-2", "Region": "us-east-1", "Servers": [{"SourceServerId": server_id(2)}]}
    )
    with pytest.raises(MalformedItemError) as caught:
        execution_from_item(item)
    assert caught.value.key == "exec-1"
    assert caught.value.field == "Waves"
    assert server_id(2) in caught.value.reason


@pytest.mark.parametrize("item", [None, "exec-1", 42, ["ExecutionId"], b"{}", Decimal("1")])
def test_non_map_item_is_malformed(item: Any) -> None:
    with pytest.raises(MalformedItemError) as caught:
        execution_from_item(item)
    assert caught.value.field == "<item>"


def test_item_without_execution_id_is_still_reported_as_malformed() -> None:
    with pytest.raises(MalformedItemError) as caught:
        execution_from_item(_without(["ExecutionId"]))
    assert caught.value.field == "ExecutionId"
    assert caught.value.key == "<no ExecutionId>"


def test_status_enums_survive_the_round_trip_as_enums() -> None:
    read = execution_from_item(execution_to_item(execution([wave([server(1)])])))
    assert read.Status is ExecutionStatus.POLLING
    assert read.Waves[0].Status is WaveStatus.LAUNCHING
