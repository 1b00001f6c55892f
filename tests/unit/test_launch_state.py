"""The launcher's state on a wave is typed, under the attribute names items already carry."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from poller.domain.model import MalformedItemError, execution_from_item, execution_to_item
from poller.pipeline.launch import StartResult, claim_waves, record_results, wave_actions

from .builders import START, server_id


def stored_item(**wave_fields: Any) -> dict[str, Any]:
    """A PENDING execution item as an earlier version wrote it (numbers are Decimal)."""
    return {
        "ExecutionId": "exec-1",
        "PlanId": "plan-1",
        "ExecutionType": "DRILL",
        "Status": "PENDING",
        "StartTime": Decimal("1700000000"),
        "Version": Decimal("2"),
        "PlanName": "plan one",
        "WaveOrder": "SEQUENTIAL",
        "IdempotencyKeyHash": "ab" * 32,
        "PendingWaves": Decimal("2"),
        "Waves": [
            {
                "WaveName": "Wave-1",
                "Region": "us-east-1",
                "Status": "PENDING",
                "Servers": [{"SourceServerId": server_id(1), "Status": "LAUNCHING"}],
                **wave_fields,
            },
            {
                "WaveName": "Wave-2",
                "Region": "us-east-1",
                "Status": "PENDING",
                "Servers": [{"SourceServerId": server_id(2), "Status": "LAUNCHING"}],
                "DependsOn": ["Wave-1"],
            },
        ],
    }


CLAIMED = {
    "LaunchToken": "t2",
    "LaunchTokens": ["t1", "t2"],
    "LaunchClaimedAt": Decimal("1700000010.5"),
    "LaunchFirstClaimedAt": Decimal("1700000001"),
    "LaunchAttempts": Decimal("2"),
}


def test_a_claim_written_by_an_earlier_version_loads_into_typed_fields_and_writes_back_the_same() -> None:
    item = stored_item(**CLAIMED)
    execution = execution_from_item(item)
    wave = execution.Waves[0]
    assert wave.LaunchToken == "t2"
    assert wave.launch_tokens() == ["t1", "t2"]
    assert wave.LaunchClaimedAt == 1700000010.5
    assert wave.LaunchFirstClaimedAt == 1700000001.0
    assert wave.launch_attempts() == 2
    assert execution.Waves[1].depends_on() == ["Wave-1"]
    assert (execution.PlanName, execution.WaveOrder) == ("plan one", "SEQUENTIAL")
    assert wave.model_extra == {} and execution.model_extra == {"PendingWaves": Decimal("2")}
    written = execution_to_item(execution)
    assert {k: v for k, v in written["Waves"][0].items() if k.startswith("Launch")} == CLAIMED
    assert written["Waves"][1]["DependsOn"] == ["Wave-1"]
    assert {k: written[k] for k in ("PlanName", "WaveOrder", "IdempotencyKeyHash", "PendingWaves")} == {
        k: item[k] for k in ("PlanName", "WaveOrder", "IdempotencyKeyHash", "PendingWaves")
    }


def test_an_unclaimed_wave_writes_no_launch_attributes() -> None:
    written = execution_to_item(execution_from_item(stored_item()))
    assert not any(k.startswith("Launch") for w in written["Waves"] for k in w)


def test_a_single_dependency_name_reads_as_a_list() -> None:
    item = stored_item()
    item["Waves"][1]["DependsOn"] = "Wave-1"
    assert execution_from_item(item).Waves[1].DependsOn == ["Wave-1"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("LaunchAttempts", "three"),
        ("LaunchAttempts", Decimal("-1")),
        ("LaunchTokens", "t1"),
        ("LaunchClaimedAt", "yesterday"),
        ("DependsOn", [1]),
    ],
)
def test_mistyped_launch_state_is_a_malformed_item_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(MalformedItemError) as err:
        execution_from_item(stored_item(**{field: value}))
    assert err.value.field.startswith(f"Waves.0.{field}")


def test_claim_and_record_carry_the_state_through_typed_fields() -> None:
    execution = execution_from_item(stored_item())
    actions = wave_actions(execution, START + 5, claim_timeout=60.0)
    assert actions.launch == [0]  # Wave-2 waits for Wave-1
    claimed = claim_waves(execution, actions, {0: "tok"}, START + 5)
    wave = claimed.Waves[0]
    assert (wave.LaunchToken, wave.launch_tokens(), wave.LaunchClaimedAt) == ("tok", ["tok"], START + 5)
    assert (wave.LaunchFirstClaimedAt, wave.launch_attempts()) == (START + 5, 1)
    assert not wave_actions(claimed, START + 6, claim_timeout=60.0)  # claimed: nothing to do yet
    assert wave_actions(claimed, START + 70, claim_timeout=60.0).reconcile == [0]
    recorded = record_results(
        claimed, {0: StartResult("started", "tok", job_id="drsjob-1")}, START + 6, 3, 60.0
    )
    assert recorded.Waves[0].RecoveryJobId == "drsjob-1" and recorded.Waves[0].LaunchClaimedAt is None
    written = execution_to_item(recorded)["Waves"][0]
    assert "LaunchClaimedAt" not in written and written["LaunchTokens"] == ["tok"]
    stale = record_results(
        claimed, {0: StartResult("started", "other", job_id="drsjob-2")}, START + 6, 3, 60.0
    )
    assert stale.Waves[0].RecoveryJobId is None  # a result for a token the wave never had
