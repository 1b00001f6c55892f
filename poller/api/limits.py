"""Plans whose executions could not be stored: refused when the plan is created, not mid-run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poller.api.errors import ApiError
from poller.config import Settings
from poller.domain.itemsize import ITEM_LIMIT_BYTES, worst_case_execution_bytes

_DEFAULT_LAUNCH_ATTEMPTS = int(Settings.model_fields["launch_max_attempts"].default)


def refuse_oversized_plan(
    plan: Mapping[str, Any], launch_max_attempts: int = _DEFAULT_LAUNCH_ATTEMPTS
) -> None:
    """ApiError(400) saying by how much when an execution of ``plan`` (a validated plan item)
    could outgrow DynamoDB's 400 KB item, counted at its worst case (every server tracked)."""
    size = worst_case_execution_bytes(plan, launch_max_attempts)
    if size > ITEM_LIMIT_BYTES:
        raise ApiError(
            400,
            f"an execution of this plan can grow to {size} bytes, {size - ITEM_LIMIT_BYTES} bytes over "
            f"DynamoDB's item limit of {ITEM_LIMIT_BYTES} bytes (400 KB); use fewer servers or waves, "
            "shorter names or fewer DependsOn entries, or split the plan",
            "Waves",
        )
