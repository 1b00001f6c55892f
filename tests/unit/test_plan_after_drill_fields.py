"""Plan fields of the after-drill features: CleanupAfterSeconds (plan), RtoTargetSeconds (plan, wave)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from poller.api.errors import ApiError
from poller.api.plans import validate_plan
from poller.api.requests import PlanRequest, validated

REGIONS = ["us-east-1"]


def _body(**fields: Any) -> dict[str, Any]:
    wave = {"WaveName": "db", "Region": "us-east-1", "SourceServerIds": ["s-" + "0" * 17]}
    wave.update(fields.pop("wave", {}))
    return {"PlanId": "p1", "Waves": [wave], **fields}


def test_the_fields_reach_the_plan_item() -> None:
    item = validate_plan(
        _body(CleanupAfterSeconds=0, RtoTargetSeconds=900, wave={"RtoTargetSeconds": 300.5}), REGIONS
    )
    assert (item["CleanupAfterSeconds"], item["RtoTargetSeconds"]) == (0, 900)
    assert item["Waves"][0]["RtoTargetSeconds"] == 300.5
    assert "CleanupAfterSeconds" not in validate_plan(_body(), REGIONS)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"CleanupAfterSeconds": -1}, "CleanupAfterSeconds"),
        ({"CleanupAfterSeconds": True}, "CleanupAfterSeconds"),
        ({"CleanupAfterSeconds": "60"}, "CleanupAfterSeconds"),
        ({"RtoTargetSeconds": 0}, "RtoTargetSeconds"),
        ({"RtoTargetSeconds": 10**9}, "RtoTargetSeconds"),
        ({"wave": {"RtoTargetSeconds": False}}, "Waves[0].RtoTargetSeconds"),
    ],
)
def test_bad_values_are_a_400_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ApiError) as err:
        validate_plan(_body(**fields), REGIONS)
    assert err.value.status == 400 and err.value.field == field, err.value.message


def test_a_stored_plan_reads_back_with_decimal_seconds() -> None:
    stored = _body(CleanupAfterSeconds=Decimal("60"), RtoTargetSeconds=Decimal("900.5"))
    plan = validated(PlanRequest, stored, {"regions": REGIONS})
    assert (plan.CleanupAfterSeconds, plan.RtoTargetSeconds) == (60.0, 900.5)
