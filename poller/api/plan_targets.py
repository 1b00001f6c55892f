"""Plan fields of the after-drill features: ``CleanupAfterSeconds`` (plan) and ``RtoTargetSeconds``
(plan and wave), validated as pydantic models and merged into the plan item by poller/api/plans.py.

``CleanupAfterSeconds`` only ever applies to DRILL executions: a RECOVERY of the same plan never
gets it (poller/api/executions.py copies it onto DRILLs only).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from poller.api.errors import ApiError

MAX_SECONDS = 30 * 24 * 3600  # a month: beyond that a value is a unit mistake (milliseconds?)
PLAN_TARGET_FIELDS = frozenset({"CleanupAfterSeconds", "RtoTargetSeconds"})
WAVE_TARGET_FIELDS = frozenset({"RtoTargetSeconds"})


class PlanTargets(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    CleanupAfterSeconds: int | float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    RtoTargetSeconds: int | float | None = Field(default=None, gt=0, le=MAX_SECONDS)


class WaveTargets(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    RtoTargetSeconds: int | float | None = Field(default=None, gt=0, le=MAX_SECONDS)


def _fields(model: type[BaseModel], body: dict[str, Any], at: str) -> dict[str, Any]:
    try:
        parsed = model.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "body"
        field = f"{at}.{name}" if at else name
        raise ApiError(
            400, f"{field} must be a number of seconds from 0 to {MAX_SECONDS} ({first['msg']})", field
        ) from None
    return parsed.model_dump(exclude_none=True)


def plan_targets(body: dict[str, Any]) -> dict[str, Any]:
    """The plan-level target fields of a POST /plans body, or ApiError(400) naming the field."""
    return _fields(PlanTargets, body, "")


def wave_targets(wave: dict[str, Any], at: str) -> dict[str, Any]:
    """The wave-level target fields of ``Waves[i]``."""
    return _fields(WaveTargets, wave, at)
