"""Recovery-time evidence (poller/domain/evidence.py): properties over random executions and job logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.domain.evidence import parse_time, recovery_report, server_log_times, usable_time
from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import (
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from tests.unit.builders import START, job_id, server_id

targets = st.none() | st.floats(1, 2000)


@st.composite
def servers(draw: st.DrawFn, n: int) -> Server:
    status = draw(st.sampled_from([ServerStatus.LAUNCHED, ServerStatus.FAILED, ServerStatus.IN_PROGRESS]))
    launched = START + draw(st.floats(1, 1500)) if status == ServerStatus.LAUNCHED else None
    post = draw(st.none() | st.sampled_from(PostLaunchStatus)) if launched else None
    done = launched + draw(st.floats(0, 300)) if launched and post is not None else None
    return Server(
        SourceServerId=server_id(n),
        RecoveryJobId=job_id(n),
        Status=status,
        LaunchedTime=launched,
        PostLaunchActionsStatus=post,
        UsableTime=done,
    )


@st.composite
def executions(draw: st.DrawFn) -> Execution:
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    n = 0
    waves = []
    for w, size in enumerate(sizes):
        members = []
        for _ in range(size):
            n += 1
            members.append(draw(servers(n)))
        waves.append(
            Wave(
                WaveName=f"W{w}",
                Region="us-east-1",
                Status=WaveStatus.COMPLETED,
                Servers=members,
                RtoTargetSeconds=draw(targets),
            )
        )
    return Execution(
        ExecutionId="e",
        PlanId="p",
        ExecutionType=draw(st.sampled_from(ExecutionType)),
        Status=ExecutionStatus.COMPLETED,
        StartTime=START,
        EndTime=START + 2000,
        RtoTargetSeconds=draw(targets),
        Waves=waves,
    )


@settings(max_examples=300, deadline=None)
@given(executions())
def test_wave_and_execution_times_are_their_slowest_server_and_rto_met_compares_with_the_target(
    execution: Execution,
) -> None:
    report = recovery_report(execution, {}, {})
    for wave, model in zip(report["Waves"], execution.Waves, strict=True):
        times = [s["RecoverySeconds"] for s in wave["Servers"]]
        for s, server in zip(wave["Servers"], model.Servers, strict=True):
            usable = usable_time(server, execution.ExecutionType)
            assert (s["RecoverySeconds"] is None) == (usable is None)
            if execution.ExecutionType == ExecutionType.DRILL and server.Status == ServerStatus.LAUNCHED:
                assert s["UsableTime"] == round(server.LaunchedTime or 0, 3)
            if execution.ExecutionType == ExecutionType.RECOVERY and server.PostLaunchActionsStatus in (
                None,
                PostLaunchStatus.FAILED,
                PostLaunchStatus.IN_PROGRESS,
                PostLaunchStatus.NOT_STARTED,
            ):
                assert s["RecoverySeconds"] is None, "a RECOVERY server is usable once post-launch succeeded"
        if any(t is None for t in times):
            assert wave["RecoverySeconds"] is None
        else:
            assert wave["RecoverySeconds"] == max(times)
        target = model.RtoTargetSeconds or execution.RtoTargetSeconds
        if target is None:
            assert wave["RtoMet"] is None
        else:
            assert wave["RtoMet"] == (
                wave["RecoverySeconds"] is not None and wave["RecoverySeconds"] <= target
            )
    waves = [w["RecoverySeconds"] for w in report["Waves"]]
    assert report["RecoverySeconds"] == (None if any(t is None for t in waves) else max(waves))
    verdicts = [w["RtoMet"] for w in report["Waves"] if w["RtoMet"] is not None]
    if execution.RtoTargetSeconds is not None:
        seconds = report["RecoverySeconds"]
        verdicts.append(seconds is not None and seconds <= execution.RtoTargetSeconds)
    assert report["RtoMet"] == (all(verdicts) if verdicts else None)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["JOB_START", "LAUNCH_START", "CONVERSION_END", "JOB_END"]),
            st.integers(0, 3),
            st.floats(0, 1e5),
        ),
        max_size=20,
    )
)
def test_job_log_times_are_the_first_event_of_this_server_or_of_the_job(
    events: list[tuple[str, int, float]],
) -> None:
    log: list[dict[str, Any]] = []
    for name, owner, offset in events:
        item: dict[str, Any] = {"event": name, "logDateTime": _iso(START + offset)}
        if owner:
            item["eventData"] = {"sourceServerID": server_id(owner)}
        log.append(item)
    times = server_log_times(log, server_id(1))
    for name in {e for e, _, _ in events}:
        mine = [
            parse_time(i["logDateTime"])
            for i in log
            if i["event"] == name
            and i.get("eventData", {}).get("sourceServerID", server_id(1)) == server_id(1)
        ]
        if mine:
            assert times[name] == mine[0]
        else:
            assert name not in times


def test_unreadable_log_items_and_dates_are_skipped() -> None:
    log = [
        {"event": 5},
        {"event": "JOB_START", "logDateTime": "yesterday"},
        {"event": "JOB_END", "eventData": "x"},
    ]
    assert server_log_times(log, server_id(1)) == {}
    assert parse_time(None) is None and parse_time("2026-01-01T00:00:00Z") == 1767225600.0
