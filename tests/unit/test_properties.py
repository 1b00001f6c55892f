"""Properties over random job histories: random but REAL-shaped describe_jobs answers,
including jobs missing from an answer and stale answers that report an earlier phase."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.domain.apply import apply_poll
from poller.domain.completion import server_is_finished, server_succeeded
from poller.domain.model import Execution, MalformedItemError, execution_from_item, execution_to_item
from poller.domain.statuses import (
    POST_LAUNCH_RANK,
    SERVER_RANK,
    TERMINAL_EXECUTION,
    TERMINAL_SERVER,
    TERMINAL_WAVE,
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
)

from .builders import START, drs_job, execution, job_id, participant, server, server_id, wave

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JOB_STATUSES = ["PENDING", "STARTED", "COMPLETED"]
LAUNCH_STATUSES = [None, "PENDING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED"]
RUN_STATUSES = ["IN_PROGRESS", "SUCCEEDED", "FAILED"]


@dataclass(frozen=True)
class History:
    execution: Execution
    job_of: dict[int, int]  # server number -> job number
    answers: list[dict[str, Any]]


@st.composite
def executions(draw: st.DrawFn) -> tuple[Execution, dict[int, int]]:
    """1-3 waves of 1-5 servers; DRS jobs per server or one per wave (as start_recovery does)."""
    execution_type = draw(st.sampled_from(ExecutionType))
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    job_of: dict[int, int] = {}
    waves = []
    n = 0
    for w, size in enumerate(sizes):
        one_job_per_wave = draw(st.booleans())
        servers = []
        for _ in range(size):
            n += 1
            job_of[n] = 1000 + w if one_job_per_wave else n
            servers.append(server(n, job=job_of[n]))
        waves.append(wave(servers, name=f"Wave-{w + 1}", region=["us-east-1", "us-west-2", "eu-west-1"][w]))
    return execution(waves, execution_type), job_of


RUNS: list[list[str] | None] = [
    None,
    [],
    ["IN_PROGRESS"],
    ["SUCCEEDED"],
    ["FAILED"],
    ["SUCCEEDED", "IN_PROGRESS"],
    ["SUCCEEDED", "FAILED"],
    ["SUCCEEDED", "SUCCEEDED"],
]
# every participant shape, pre-enumerated: one draw per server keeps generation cheap
PARTICIPANT_SHAPES: list[tuple[str | None, bool, list[str] | None] | None] = [
    None,  # the server is not listed in participatingServers
    *[
        (launch, has_instance, runs)
        for launch in LAUNCH_STATUSES
        for has_instance in ([False, True] if launch in (None, "LAUNCHED") else [False])
        for runs in RUNS
    ],
]
JOB_STATES = ["MISSING", *JOB_STATUSES]  # a job left out of the answer a quarter of the time


@st.composite
def answers(draw: st.DrawFn, job_of: dict[int, int]) -> dict[str, Any]:
    """One describe_jobs answer: each job present or missing, each participant in any phase."""
    jobs: dict[int, list[int]] = {}
    for n, j in job_of.items():
        jobs.setdefault(j, []).append(n)
    states = draw(st.lists(st.sampled_from(JOB_STATES), min_size=len(jobs), max_size=len(jobs)))
    shapes = draw(st.lists(st.sampled_from(PARTICIPANT_SHAPES), min_size=len(job_of), max_size=len(job_of)))
    shape_of = dict(zip(job_of, shapes, strict=True))
    result: dict[str, Any] = {}
    for (j, members), state in zip(jobs.items(), states, strict=True):
        if state == "MISSING":
            continue
        shown = [
            participant(n, shape[0], instance=shape[1], runs=shape[2])
            for n in members
            if (shape := shape_of[n]) is not None
        ]
        result[job_id(j)] = drs_job(j, state, shown)
    return result


@st.composite
def histories(draw: st.DrawFn) -> History:
    start, job_of = draw(executions())
    steps = draw(st.lists(answers(job_of), min_size=1, max_size=6))
    return History(start, job_of, steps)


def _post_rank(status: PostLaunchStatus | None) -> int:
    return -1 if status is None else POST_LAUNCH_RANK[status]


Steps = list[tuple[Execution, dict[str, Any], Execution]]


def _run(history: History) -> Steps:
    steps = []
    current = history.execution
    for i, jobs in enumerate(history.answers):
        after = apply_poll(current, jobs, START + 15.5 * (i + 1)).execution
        steps.append((current, jobs, after))
        current = after
    return steps


def check_server_and_post_launch_ranks_never_decrease(steps: Steps) -> None:
    for before, _, after in steps:
        for old, new in zip(before.servers(), after.servers(), strict=True):
            assert SERVER_RANK[new.Status] >= SERVER_RANK[old.Status]
            assert _post_rank(new.PostLaunchActionsStatus) >= _post_rank(old.PostLaunchActionsStatus)
            if old.InstanceId is not None:
                assert new.InstanceId == old.InstanceId
            if old.LaunchedTime is not None:
                assert new.LaunchedTime == old.LaunchedTime


def check_terminal_states_are_absorbing(steps: Steps) -> None:
    for before, _, after in steps:
        if before.Status in TERMINAL_EXECUTION:
            assert after == before
        for old_wave, new_wave in zip(before.Waves, after.Waves, strict=True):
            if old_wave.Status in TERMINAL_WAVE:
                assert new_wave == old_wave
        for old, new in zip(before.servers(), after.servers(), strict=True):
            if old.Status in TERMINAL_SERVER:
                assert new.Status == old.Status
            if server_is_finished(old, before.ExecutionType):
                assert new == old


def check_poll_attempts_grow_by_one_exactly_for_unfinished_servers_whose_job_answered(steps: Steps) -> None:
    for before, jobs, after in steps:
        for old, new in zip(before.servers(), after.servers(), strict=True):
            answered = old.RecoveryJobId in jobs
            unfinished = not server_is_finished(old, before.ExecutionType)
            assert new.PollAttempts - old.PollAttempts == (1 if answered and unfinished else 0)
            if answered and unfinished:
                assert new.LastPolledTime == after.LastPolledTime
            else:
                assert new.LastPolledTime == old.LastPolledTime


def check_completion_holds_exactly_when_the_rule_holds(steps: Steps) -> None:
    for _, _, after in steps:
        kind = after.ExecutionType
        all_waves_terminal = all(w.Status in TERMINAL_WAVE for w in after.Waves)
        assert (after.Status in TERMINAL_EXECUTION) == all_waves_terminal
        assert (after.EndTime is not None) == (after.Status in TERMINAL_EXECUTION)
        every_server_succeeded = all(server_succeeded(s, kind) for s in after.servers())
        assert (after.Status == ExecutionStatus.COMPLETED) == every_server_succeeded
        for w in after.Waves:
            assert (w.Status in TERMINAL_WAVE) == all(server_is_finished(s, kind) for s in w.Servers)
            if w.Status in TERMINAL_WAVE:
                assert w.FailedServerIds == [
                    s.SourceServerId for s in w.Servers if not server_succeeded(s, kind)
                ]
        for s in after.servers():  # the rule spelled out, independent of completion.py
            ok = s.Status == "LAUNCHED" and (
                kind == ExecutionType.DRILL or s.PostLaunchActionsStatus in ("COMPLETED", "NONE")
            )
            assert server_succeeded(s, kind) == ok


def check_missing_jobs_are_reported_and_their_servers_untouched(steps: Steps) -> None:
    for before, jobs, after in steps:
        outcome = apply_poll(before, jobs, START + 10_000)
        if before.Status in TERMINAL_EXECUTION:
            continue
        expected_missing = [
            s.RecoveryJobId
            for s in before.servers()
            if s.RecoveryJobId not in jobs and not server_is_finished(s, before.ExecutionType)
        ]
        assert list(outcome.missing_job_ids) == expected_missing
        for old, new in zip(before.servers(), after.servers(), strict=True):
            if old.RecoveryJobId not in jobs:
                assert new == old


def check_item_round_trip_after_any_history(steps: Steps) -> None:
    for _, _, after in steps:
        assert execution_from_item(execution_to_item(after)) == after


@PROPERTY_SETTINGS
@given(histories())
def test_random_histories_keep_every_invariant(history: History) -> None:
    """One generated history, every property: generation dominates the runtime, so share it."""
    steps = _run(history)
    check_server_and_post_launch_ranks_never_decrease(steps)
    check_terminal_states_are_absorbing(steps)
    check_poll_attempts_grow_by_one_exactly_for_unfinished_servers_whose_job_answered(steps)
    check_completion_holds_exactly_when_the_rule_holds(steps)
    check_missing_jobs_are_reported_and_their_servers_untouched(steps)
    check_item_round_trip_after_any_history(steps)


# --- execution_from_item never raises anything but MalformedItemError ----------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.decimals()
    | st.binary(max_size=4)
    | st.sampled_from(["POLLING", "LAUNCHED", "DRILL", "us-east-1", server_id(1), job_id(1)])
)
dictish = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=5)
        | st.frozensets(st.integers() | st.text(max_size=4), max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [
    "ExecutionId",
    "PlanId",
    "ExecutionType",
    "Status",
    "StartTime",
    "EndTime",
    "LastPolledTime",
    "Waves",
    "Version",
    "TimeoutDetected",
    "StatusReason",
]
WAVE_FIELDS = ["WaveName", "Region", "Status", "Servers", "FailedServerIds", "StatusReason"]
SERVER_FIELDS = [
    "SourceServerId",
    "RecoveryJobId",
    "Status",
    "InstanceId",
    "LaunchedTime",
    "LastPolledTime",
    "PollAttempts",
    "PostLaunchActionsStatus",
    "TimeoutDetected",
    "FailureReason",
]


BASE_ITEMS = [
    execution_to_item(execution([wave([server(1), server(2)])])),
    execution_to_item(
        execution(
            [wave([server(1)]), wave([server(2), server(3)], name="Wave-2", region="us-west-2")],
            ExecutionType.RECOVERY,
        )
    ),
]


@st.composite
def damaged_items(draw: st.DrawFn) -> Any:
    """A valid item with fields replaced by anything or deleted, at every level."""
    item = copy.deepcopy(draw(st.sampled_from(BASE_ITEMS)))
    for _ in range(draw(st.integers(1, 4))):
        level = draw(st.sampled_from(["execution", "wave", "server"]))
        if level == "execution" or not isinstance(item.get("Waves"), list) or not item["Waves"]:
            target, names = item, FIELDS
        else:
            w = draw(st.sampled_from(item["Waves"]))
            if not isinstance(w, dict):
                continue
            target, names = w, WAVE_FIELDS
            if level == "server" and isinstance(w.get("Servers"), list) and w["Servers"]:
                s = draw(st.sampled_from(w["Servers"]))
                if not isinstance(s, dict):
                    continue
                target, names = s, SERVER_FIELDS
        name = draw(st.sampled_from(names))
        if draw(st.booleans()):
            target.pop(name, None)
        else:
            target[name] = draw(dictish)
    return item


@settings(max_examples=200, deadline=None)
@given(damaged_items() | dictish | st.dictionaries(st.sampled_from(FIELDS), dictish, max_size=11))
def test_execution_from_item_raises_only_malformed_item_error(item: Any) -> None:
    try:
        read = execution_from_item(item)
    except MalformedItemError as err:
        assert err.field
        if isinstance(item, Mapping):
            assert err.key == str(item.get("ExecutionId", "<no ExecutionId>"))
        return
    assert isinstance(read, Execution)
    execution_to_item(read)  # whatever was read can be written back


@settings(max_examples=100, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=6))
def test_unknown_decimal_attribute_survives_unchanged(value: Decimal) -> None:
    start = execution([wave([server(1)])])
    item = execution_to_item(start)
    item["Custom"] = value
    assert execution_to_item(execution_from_item(item))["Custom"] == value
