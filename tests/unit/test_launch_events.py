"""Launch-result events: reading DRS's event shape, and what the wake board does with one."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.aws.launch_events import NotALaunchResult, parse_launch_event
from poller.domain.model import Execution
from poller.domain.phases import PollingIntervals
from poller.domain.statuses import ServerStatus
from poller.pipeline.batch import JobStatusBatcher
from poller.pipeline.track import ExecutionTracker, TrackerConfig
from poller.pipeline.wake import (
    Alarm,
    Wake,
    WakeBoard,
    awaiting_launch_result,
    launch_results_learned,
    settle,
)
from poller.store.executions import ExecutionStore
from tests.fakes import FixedAnswers, MemoryStore
from tests.unit.builders import START, drs_job, participant, server, server_id, wave
from tests.unit.builders import execution as build

JOB = "drsjob-04ca7d0d3fb6afa3e"
SERVER = "s-12345678901234567"

# The user guide's sample (Elastic Disaster Recovery, "Source server launch result").
SAMPLE: dict[str, Any] = {
    "version": "0",
    "id": "9da9af57-9253-4406-87cb-7cc400e43465",
    "detail-type": "DRS Source Server Launch Result",
    "source": "aws.drs",
    "account": "111122223333",
    "time": "2016-08-22T20:12:19Z",
    "region": "us-west-2",
    "resources": [f"arn:aws:drs:us-west-2:111122223333:source-server/{SERVER}"],
    "detail": {"state": "RECOVERY_LAUNCH_SUCCEEDED", "job-id": JOB, "is-drill": "FALSE"},
}


def body(**changes: Any) -> str:
    event = json.loads(json.dumps(SAMPLE))
    detail = changes.pop("detail", {})
    event.update(changes)
    event["detail"].update(detail)
    return json.dumps(event)


def test_the_documented_sample_reads_as_a_launch_result() -> None:
    event = parse_launch_event(json.dumps(SAMPLE))
    assert (event.job_id, event.state, event.source_server_id) == (JOB, "RECOVERY_LAUNCH_SUCCEEDED", SERVER)
    assert (event.region, event.is_drill, event.event_id) == ("us-west-2", False, SAMPLE["id"])
    failed = parse_launch_event(body(detail={"state": "RECOVERY_LAUNCH_FAILED", "is-drill": "TRUE"}))
    assert (failed.state, failed.is_drill) == ("RECOVERY_LAUNCH_FAILED", True)


def test_an_event_without_a_source_server_arn_still_names_its_job() -> None:
    assert parse_launch_event(body(resources=[])).source_server_id is None
    assert (
        parse_launch_event(body(resources=["arn:aws:ec2:us-west-2:1:instance/i-1"])).source_server_id is None
    )


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        (body(detail={"job-id": "drsjob-short"}), "malformed"),
        (body(detail={"job-id": None}), "malformed"),
        (json.dumps({**SAMPLE, "detail": None}), "malformed"),
        (json.dumps({**SAMPLE, "detail": "text"}), "malformed"),
        (body(**{"detail-type": "DRS Source Server Data Replication Stalled Change"}), "other_type"),
        (body(source="aws.mgn"), "other_type"),
        (body(detail={"state": "FAILBACK_COMPLETED"}), "other_type"),
    ],
)
def test_what_is_not_a_launch_result_says_why(text: str, outcome: str) -> None:
    with pytest.raises(NotALaunchResult) as caught:
        parse_launch_event(text)
    assert caught.value.outcome == outcome


@given(
    st.one_of(
        st.text(),
        st.binary().map(lambda b: b.decode("latin-1")),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        ).map(json.dumps),
    )
)
def test_any_body_parses_or_is_dropped_with_an_outcome(text: str) -> None:
    try:
        parse_launch_event(text)
    except NotALaunchResult as err:
        assert err.outcome in ("malformed", "other_type")


def execution(*servers: tuple[str, str, str], wave_status: str = "LAUNCHING") -> Execution:
    """An execution with one wave; ``servers`` are (source server, job, status)."""
    return Execution.model_validate(
        {
            "ExecutionId": "exec-1",
            "PlanId": "plan-1",
            "ExecutionType": "DRILL",
            "Status": "POLLING",
            "StartTime": 1.0,
            "Version": 1,
            "LastPolledTime": 5.0,
            "Waves": [
                {
                    "WaveName": "w1",
                    "Region": "us-east-1",
                    "Status": wave_status,
                    "Servers": [
                        {"SourceServerId": s, "RecoveryJobId": j, "Status": st_} for s, j, st_ in servers
                    ],
                }
            ],
        }
    )


def test_only_servers_without_a_launch_result_are_awaited() -> None:
    e = execution((SERVER, JOB, "IN_PROGRESS"), ("s-2", JOB, "LAUNCHED"), ("s-3", "drsjob-other", "FAILED"))
    assert awaiting_launch_result(e) == {JOB: frozenset({SERVER})}
    assert awaiting_launch_result(execution((SERVER, JOB, "IN_PROGRESS"), wave_status="PENDING")) == {}
    done = execution((SERVER, JOB, "LAUNCHED"), ("s-2", JOB, "FAILED"), ("s-3", "drsjob-other", "FAILED"))
    assert launch_results_learned(e, done) == 1


async def test_the_board_wakes_the_waiting_tracker_once_and_drops_the_rest() -> None:
    board, alarm = WakeBoard(), Alarm()
    watched = board.watch(
        alarm, execution((SERVER, JOB, "IN_PROGRESS"), ("s-2", JOB, "LAUNCHED")), frozenset()
    )
    assert watched == {JOB}
    wake = board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0)
    assert isinstance(wake, Wake) and alarm.rung
    assert board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0) == "duplicate"  # in flight
    assert board.offer(JOB, "s-2", "RECOVERY_LAUNCH_SUCCEEDED", 1.0) == "finished"  # already LAUNCHED
    assert board.offer("drsjob-ZZZZZZZZZZZZZZZZZ", SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0) == "unknown_job"
    taken = alarm.take()
    assert taken == [wake] and not alarm.rung
    settle(taken, True)
    await asyncio.sleep(0)  # done callbacks run on the next turn
    assert board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0) == "duplicate"  # already applied
    board.watch(alarm, execution((SERVER, JOB, "LAUNCHED"), ("s-2", JOB, "LAUNCHED")), watched)
    assert board.offer(JOB, SERVER, "RECOVERY_LAUNCH_FAILED", 1.0) == "finished"


async def test_a_wake_whose_poll_failed_may_wake_again_when_redelivered() -> None:
    board, alarm = WakeBoard(), Alarm()
    board.watch(alarm, execution((SERVER, JOB, "IN_PROGRESS")), frozenset())
    first = board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0)
    assert isinstance(first, Wake)
    settle(alarm.take(), False)
    await asyncio.sleep(0)
    assert isinstance(board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0), Wake)
    alarm.close()  # the tracker ends: what it did not answer is left for redelivery
    await asyncio.sleep(0)


async def test_events_without_a_server_are_told_apart_by_their_id() -> None:
    board, alarm = WakeBoard(), Alarm()
    board.watch(alarm, execution((SERVER, JOB, "IN_PROGRESS"), ("s-2", JOB, "IN_PROGRESS")), frozenset())
    assert isinstance(board.offer(JOB, None, "RECOVERY_LAUNCH_SUCCEEDED", 1.0, "event-a"), Wake)
    assert isinstance(board.offer(JOB, None, "RECOVERY_LAUNCH_SUCCEEDED", 1.0, "event-b"), Wake)
    assert board.offer(JOB, None, "RECOVERY_LAUNCH_SUCCEEDED", 1.0, "event-a") == "duplicate"
    alarm.close()


async def test_a_rung_alarm_ends_the_sleep_at_once() -> None:
    board, alarm = WakeBoard(), Alarm()
    board.watch(alarm, execution((SERVER, JOB, "IN_PROGRESS")), frozenset())
    sleeping = asyncio.create_task(alarm.sleep(3600))
    await asyncio.sleep(0)
    board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0)
    await asyncio.wait_for(sleeping, timeout=30)  # an hour's sleep, ended by the event
    alarm.close()


async def test_a_newer_tracker_keeps_the_job_when_an_older_one_forgets_it() -> None:
    board, old, new = WakeBoard(), Alarm(), Alarm()
    e = execution((SERVER, JOB, "IN_PROGRESS"))
    watched = board.watch(old, e, frozenset())
    board.watch(new, e, frozenset())
    board.forget(old, watched, finished=False)
    assert isinstance(board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0), Wake)
    assert new.rung and not old.rung
    new.close()


# ---- a tracker woken by an event ---------------------------------------------------------------
async def _until(condition: Any, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def test_an_event_wakes_a_sleeping_tracker_and_its_written_poll_settles_the_wake() -> None:
    now = [START]
    store = MemoryStore(build([wave([server(1, ServerStatus.IN_PROGRESS, job=1)])], start=START))
    job = drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")])
    drs = FixedAnswers({job["jobID"]: job})
    board = WakeBoard()
    tracker = ExecutionTracker(
        "exec-1",
        cast(ExecutionStore, store),
        cast(JobStatusBatcher, drs),
        TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800, idle_write_seconds=300),
        lambda: now[0],
        wakes=board,
    )
    task = asyncio.create_task(tracker.run())
    await _until(lambda: drs.asked == 1 and tracker.sleeping, "the first poll, then a 30 s sleep")
    now[0] += 10  # 20 s before the timer's poll
    drs.answer = {job["jobID"]: drs_job(1, "STARTED", [participant(1, "LAUNCHED")])}
    wake = board.offer(job["jobID"], server_id(1), "RECOVERY_LAUNCH_SUCCEEDED", now[0])
    assert isinstance(wake, Wake)
    assert await asyncio.wait_for(wake.written, timeout=30)  # the woken poll was written
    assert drs.asked == 2 and store.item.Waves[0].Servers[0].Status == ServerStatus.LAUNCHED
    tracker.stopping = True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_wakes_whose_result_a_written_poll_already_knows_need_no_poll_of_their_own() -> None:
    board, alarm = WakeBoard(), Alarm()
    board.watch(alarm, execution((SERVER, JOB, "IN_PROGRESS"), ("s-2", JOB, "IN_PROGRESS")), frozenset())
    known = board.offer(JOB, SERVER, "RECOVERY_LAUNCH_SUCCEEDED", 1.0)
    other = board.offer(JOB, "s-2", "RECOVERY_LAUNCH_SUCCEEDED", 1.0)
    anonymous = board.offer(JOB, None, "RECOVERY_LAUNCH_SUCCEEDED", 1.0, "event-a")
    assert isinstance(known, Wake) and isinstance(other, Wake) and isinstance(anonymous, Wake)
    alarm.answered(execution((SERVER, JOB, "LAUNCHED"), ("s-2", JOB, "IN_PROGRESS")))
    assert known.written.done() and known.written.result() is True
    assert alarm.take() == [other, anonymous]  # s-2 still awaits DRS's word; so may the anonymous one
    alarm.answered(execution((SERVER, JOB, "LAUNCHED"), ("s-2", JOB, "FAILED")))
    alarm.close()
