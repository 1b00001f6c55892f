"""Operator actions keep an execution within its plan's worst-case item size (poller.domain.itemsize):
paused, resumed, every wave retried as often as allowed with every server failing, then skipped."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.api.executions import execution_from_plan
from poller.api.requests import validate_plan_request
from poller.domain.apply import apply_poll
from poller.domain.itemsize import item_size, worst_case_execution_bytes
from poller.domain.model import Execution, execution_to_item
from poller.domain.operators import MAX_WAVE_RETRIES, resume, retry_wave, skip_wave
from poller.domain.statuses import ExecutionType, WaveStatus
from poller.pipeline.launch import STARTED, StartResult, claim_waves, record_results, wave_actions
from poller.store.executions import PENDING_WAVES
from tests.unit.builders import drs_job


def _plan(sizes: list[int], name_length: int) -> dict[str, Any]:
    waves = []
    for w, count in enumerate(sizes):
        servers = [f"s-{w:03d}{i:014d}" for i in range(count)]
        waves.append(
            {
                "WaveName": f"w{w}-" + "n" * name_length,
                "Region": "us-east-1",
                "SourceServerIds": servers,
                "PauseBefore": True,
                "OptionalServerIds": servers[: count // 2],
            }
        )
    return {
        "PlanId": "plan-" + uuid.uuid4().hex[:8],
        "PlanName": "p",
        "WaveOrder": "PARALLEL",
        "Waves": waves,
    }


def _launch_and_fail(execution: Execution, now: float, round_: int) -> Execution:
    actions = wave_actions(execution, now, 0.0)
    tokens = {i: uuid.uuid4().hex for i in actions.launch}
    execution = claim_waves(execution, actions, tokens, now)
    results = {i: StartResult(STARTED, t, job_id=f"drsjob-{round_:03d}{i:014d}") for i, t in tokens.items()}
    execution = record_results(execution, results, now, 5, 120.0)
    failed = {
        f"drsjob-{round_:03d}{i:014d}": drs_job(
            0,
            "COMPLETED",
            [
                {"sourceServerID": s.SourceServerId, "launchStatus": "FAILED"}
                for s in w.Servers
                if s.RecoveryJobId == f"drsjob-{round_:03d}{i:014d}"
            ],
        )
        for i, w in enumerate(execution.Waves)
    }
    for job_id_, job in failed.items():
        job["jobID"] = job_id_
    return apply_poll(execution, failed, now + 1).execution


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4), name_length=st.integers(1, 240))
def test_operator_actions_never_outgrow_the_plans_worst_case(sizes: list[int], name_length: int) -> None:
    plan = _plan(sizes, name_length)
    now = 1.7e9
    request = validate_plan_request(plan, ["us-east-1"])
    execution = execution_from_plan(request, str(uuid.uuid4()), ExecutionType.RECOVERY, now, "0" * 64)
    execution = claim_waves(execution, wave_actions(execution, now, 0.0), {}, now)
    assert all(w.Status == WaveStatus.PAUSED for w in execution.Waves)
    execution = resume(execution, None, now + 1).execution
    for round_ in range(MAX_WAVE_RETRIES + 1):
        execution = _launch_and_fail(execution, now + 10 * (round_ + 1), round_)
        assert all(w.Status == WaveStatus.FAILED for w in execution.Waves), [
            w.Status for w in execution.Waves
        ]
        for w in execution.Waves:
            decision = retry_wave(execution, w.WaveName, now + 10 * (round_ + 1) + 5)
            assert decision.changed == (round_ < MAX_WAVE_RETRIES), decision.refusal
            execution = decision.execution
    for w in execution.Waves:
        execution = skip_wave(execution, w.WaveName, now + 999).execution
    assert (
        execution.Status != "POLLING"
        and len(execution.Waves[0].PreviousRecoveryJobIds or []) == MAX_WAVE_RETRIES
    )
    item = execution_to_item(execution.model_copy(update={"Version": 10**9}))
    item.update({"LeaseOwner": "r" * 128, "LeaseExpiry": Decimal("1700000123.456"), PENDING_WAVES: 0})
    assert item_size(item) <= worst_case_execution_bytes(plan)
