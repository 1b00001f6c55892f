"""The worst-case execution item (finding 4): DynamoDB's size rules, and a bound real runs stay under."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.api.executions import execution_from_plan
from poller.api.requests import validate_plan_request
from poller.domain.apply import apply_poll
from poller.domain.itemsize import ITEM_LIMIT_BYTES, attribute_size, item_size, worst_case_execution_bytes
from poller.domain.model import execution_to_item
from poller.domain.statuses import ExecutionType
from poller.domain.trackable import abandoned
from poller.pipeline.launch import REJECTED, STARTED, StartResult, claim_waves, record_results, wave_actions
from poller.store.executions import PENDING_WAVES
from tests.unit.builders import drs_job, job_id


def test_sizes_follow_dynamodb_rules() -> None:
    assert attribute_size("abc") == 3
    assert attribute_size("é") == 2  # UTF-8 bytes
    assert attribute_size(Decimal("123")) == 3  # 1 byte per two significant digits, plus one
    assert attribute_size(Decimal("1.5E+20")) == 2
    assert attribute_size(True) == attribute_size(None) == 1
    assert attribute_size(["a", "b"]) == 3 + 2 * (1 + 1)
    assert attribute_size({"ab": "c"}) == 3 + (2 + 1 + 1)
    assert item_size({"Id": "x", "N": Decimal(7)}) == (2 + 1) + (1 + 2)


def _plan(waves: list[tuple[str, int]], order: str, name_length: int) -> dict[str, Any]:
    return {
        "PlanId": "plan-" + uuid.uuid4().hex[:8],
        "PlanName": "p" * name_length,
        "WaveOrder": order,
        "Waves": [
            {
                "WaveName": name,
                "Region": "us-east-1",
                "SourceServerIds": [f"s-{w:03d}{i:014d}" for i in range(count)],
                **({"DependsOn": [waves[0][0]]} if w else {}),
            }
            for w, (name, count) in enumerate(waves)
        ],
    }


def _run_to_the_end(plan: dict[str, Any], launched: bool) -> dict[str, Any]:
    """An execution of ``plan`` taken as far as it can grow: every wave claimed five times, then
    started (every server launched, post-launch failed) or refused with a long message."""
    request = validate_plan_request(plan, ["us-east-1"])
    execution = execution_from_plan(request, str(uuid.uuid4()), ExecutionType.RECOVERY, 1.7e9, "0" * 64)
    now = 1.7e9
    for attempt in range(5):
        actions = wave_actions(execution, now, 0.0)
        actions.launch.extend(actions.reconcile)
        actions.launch.extend(i for i in range(len(execution.Waves)) if i not in actions.launch)
        tokens = {i: uuid.uuid4().hex for i in range(len(execution.Waves))}
        execution = claim_waves(execution, actions, tokens, now + attempt)
    results = {
        i: StartResult(STARTED, str(w.LaunchToken), job_id=job_id(i))
        if launched
        else StartResult(REJECTED, str(w.LaunchToken), message="E" * 5_000)
        for i, w in enumerate(execution.Waves)
    }
    execution = record_results(execution, results, now, 5, 120.0)
    if launched:
        jobs = {
            job_id(i): drs_job(
                i,
                "COMPLETED",
                [
                    {
                        "sourceServerID": s.SourceServerId,
                        "launchStatus": "LAUNCHED",
                        "recoveryInstanceID": "i-" + "0" * 17,
                        "launchActionsStatus": {"runs": [{"status": "FAILED"}]},
                    }
                    for s in w.Servers
                ],
            )
            for i, w in enumerate(execution.Waves)
        }
        for _ in range(3):
            execution = apply_poll(execution, jobs, now + 99.999).execution
    execution = abandoned(execution, "R" * 5_000, now + 1234.567)
    item = execution_to_item(execution.model_copy(update={"Version": 10**9}))
    item.update({"LeaseOwner": "r" * 128, "LeaseExpiry": Decimal("1700000123.456"), PENDING_WAVES: 0})
    return item


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    order=st.sampled_from(["PARALLEL", "SEQUENTIAL"]),
    name_length=st.integers(1, 250),  # "w<i>-" + name stays within the 256 a wave name may have
    launched=st.booleans(),
)
def test_no_execution_outgrows_its_plans_worst_case(
    sizes: list[int], order: str, name_length: int, launched: bool
) -> None:
    names = [(f"w{i}-" + "n" * name_length)[:256] for i in range(len(sizes))]  # the API's limit
    plan = _plan(list(zip(names, sizes, strict=True)), order, name_length)
    assert item_size(_run_to_the_end(plan, launched)) <= worst_case_execution_bytes(plan)


def test_a_thousand_servers_in_five_waves_fit_and_the_issues_plan_does_not() -> None:
    fits = _plan([(f"wave-{i}", 200) for i in range(5)], "PARALLEL", 20)
    assert worst_case_execution_bytes(fits) < ITEM_LIMIT_BYTES
    names = [f"wave-{i:03d}-" + "x" * 100 for i in range(100)]
    wide = {
        "PlanId": "p",
        "Waves": [
            {
                "WaveName": n,
                "Region": "us-east-1",
                "SourceServerIds": [f"s-{i:03d}{j:014d}" for j in range(10)],
            }
            for i, n in enumerate(names)
        ],
    }
    assert worst_case_execution_bytes(wide) > ITEM_LIMIT_BYTES
