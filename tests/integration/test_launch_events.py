"""Launch-result events over real sockets: drssim → EventBridge (moto) → SQS (moto) → daemon.

drssim publishes "DRS Source Server Launch Result" when a server launches or fails; a moto rule
delivers it to a queue the daemon long-polls. The IN_PROGRESS interval here is 30 s, so a
LAUNCHED written before it comes round was woken by the event (the trigger label says so).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import boto3
import pytest
import pytest_asyncio
from drssim.launch_events import EventOptions, create_launch_event_queue
from drssim.testing import RunningSimulator, running_simulator
from prometheus_client import REGISTRY

from poller.config import Settings
from tests.conftest import RunningDaemon, Tables, start_daemon
from tests.integration.support import (
    SeedWave,
    all_servers,
    api,
    create_test_plan_with_waves,
    get_execution_from_dynamodb,
    job_ids_of,
    seed_execution,
    source_server_id,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.integration]

REGIONS = ["us-east-1", "us-west-2"]
SLOW = {  # launch results are due while IN_PROGRESS: the timer would not poll for 30 s
    "interval_in_progress_seconds": 30.0,
    "interval_post_launch_seconds": 30.0,
    "interval_default_seconds": 30.0,
    "launch_events_wait_seconds": 1,
}
# Waits stay under the 30 s interval: past it, the timer (not the event) would have found it.
EVENT_WAIT = 20.0


@pytest.fixture
def sim(moto_url: str) -> Iterator[RunningSimulator]:
    """drssim publishing launch results to moto's EventBridge (replaces the plain fixture)."""
    with running_simulator(time_scale=1.0, seed=11, events=EventOptions(moto_url)) as running:
        yield running


@pytest.fixture
def queue_url(moto_url: str) -> Iterator[str]:
    name = f"launch-events-{uuid.uuid4().hex[:8]}"
    url = create_launch_event_queue(moto_url, "us-east-1", REGIONS, name=name)
    yield url
    for region in REGIONS:  # later tests' events must not be delivered to this queue
        events = boto3.client("events", endpoint_url=moto_url, region_name=region)
        events.remove_targets(Rule=f"{name}-rule", Ids=["launch-events"])
        events.delete_rule(Name=f"{name}-rule")


@pytest.fixture
def sqs(moto_url: str) -> Any:
    return boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")


@pytest_asyncio.fixture
async def event_daemon(
    make_settings: Callable[..., Settings], moto_url: str, queue_url: str
) -> AsyncIterator[RunningDaemon]:
    settings = make_settings(launch_events_queue_url=queue_url, sqs_endpoint_url=moto_url, **SLOW)
    running = await start_daemon(settings)
    yield running
    running.stop.set()
    await asyncio.wait_for(running.task, timeout=30)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcomes() -> dict[str, float]:
    names = (
        "applied",
        "requeued",
        "passed_on",
        "duplicate",
        "finished",
        "unknown_job",
        "other_type",
        "malformed",
    )
    return {o: sample("poller_launch_events_total", outcome=o) for o in names}


def detections(trigger: str) -> float:
    return sample("poller_launch_detection_seconds_count", trigger=trigger)


async def wait_for_counter(read: Callable[[], float], at_least: float, what: str, timeout: float) -> None:
    await wait_until(read, lambda value: value >= at_least, timeout, what)


async def _in_progress(dynamodb: Any, tables: Tables, sim: RunningSimulator, servers: int) -> dict[str, Any]:
    """One drill wave held by drssim, polled up to IN_PROGRESS (its next poll is 30 s away)."""
    seeded = seed_execution(
        dynamodb,
        tables.executions,
        sim.endpoint_url,
        [SeedWave("us-east-1", [source_server_id() for _ in range(servers)])],
    )
    sim.control.advance_drs_phase("IN_PROGRESS", seeded.job_ids)
    read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, seeded.execution_id)  # noqa: E731
    return dict(
        await wait_until(
            read,
            lambda e: all(s["Status"] == "IN_PROGRESS" for s in all_servers(e)),
            15,
            "servers IN_PROGRESS",
        )
    )


async def test_launch_event_writes_launched_long_before_the_next_poll_through_the_api(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, event_daemon: RunningDaemon
) -> None:
    await create_test_plan_with_waves(
        event_daemon.url, num_waves=1, servers_per_wave=3, plan_id="events-plan"
    )
    with sim.control.drs_progression():
        created = await api(
            "POST", f"{event_daemon.url}/executions", json={"PlanId": "events-plan", "ExecutionType": "DRILL"}
        )
        assert created.status_code == 202, created.text
        execution_id = created.json()["executionId"]
        execution = await wait_for_status(dynamodb, tables.executions, execution_id, "POLLING", timeout=15)
        [job_id] = job_ids_of(execution)
        sim.control.advance_drs_phase("IN_PROGRESS", [job_id])
        read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
        await wait_until(
            read, lambda e: all(s["Status"] == "IN_PROGRESS" for s in all_servers(e)), 15, "IN_PROGRESS"
        )
        applied, by_event, by_timer = outcomes()["applied"], detections("event"), detections("timer")

        sim.control.advance_drs_phase("COMPLETED", [job_id])  # every server LAUNCHED: 3 events

        final = await wait_for_status(
            dynamodb, tables.executions, execution_id, "COMPLETED", timeout=EVENT_WAIT
        )
    assert {s["Status"] for s in all_servers(final)} == {"LAUNCHED"}
    await wait_for_counter(lambda: outcomes()["applied"] - applied, 1, "an applied event", EVENT_WAIT)
    assert detections("event") - by_event == 3  # the three LAUNCHED were found by event-woken polls
    assert detections("timer") == by_timer


async def test_failed_launch_event_wakes_the_poll_too(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, event_daemon: RunningDaemon
) -> None:
    with sim.control.drs_progression():
        execution = await _in_progress(dynamodb, tables, sim, servers=3)
        [job_id] = job_ids_of(execution)
        server = all_servers(execution)[0]["SourceServerId"]
        by_event, by_timer = detections("event"), detections("timer")
        sim.control.fail_server(job_id, server, "boot volume unavailable")
        read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution["ExecutionId"])  # noqa: E731
        final = await wait_until(
            read, lambda e: all_servers(e)[0]["Status"] == "FAILED", EVENT_WAIT, "the server FAILED"
        )
    assert [s["Status"] for s in all_servers(final)] == ["FAILED", "IN_PROGRESS", "IN_PROGRESS"]
    assert detections("event") - by_event == 1
    assert detections("timer") == by_timer


def _event(job_id: str, server_id: str, state: str = "RECOVERY_LAUNCH_SUCCEEDED") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "DRS Source Server Launch Result",
            "source": "aws.drs",
            "account": "123456789012",
            "region": "us-east-1",
            "resources": [f"arn:aws:drs:us-east-1:123456789012:source-server/{server_id}"],
            "detail": {"state": state, "job-id": job_id, "is-drill": "TRUE"},
        }
    )


async def test_duplicates_unknown_jobs_other_types_and_malformed_bodies_are_counted_and_dropped(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    sqs: Any,
    queue_url: str,
    event_daemon: RunningDaemon,
) -> None:
    with sim.control.drs_progression():
        execution = await _in_progress(dynamodb, tables, sim, servers=2)
        [job_id] = job_ids_of(execution)
        server = all_servers(execution)[0]["SourceServerId"]
        before = outcomes()
        hint = _event(job_id, server)  # DRS still says IN_PROGRESS: the woken poll writes nothing new
        other = json.loads(_event(job_id, server))
        other["detail-type"] = "DRS Source Server Data Replication Stalled Change"
        bodies = [
            hint,
            hint,  # the same event twice, as EventBridge may deliver it
            _event("drsjob-" + "Z" * 17, source_server_id()),  # nobody tracks this job
            json.dumps(other),
            "{not json",
            json.dumps({"source": "aws.drs", "detail-type": "DRS Source Server Launch Result", "detail": []}),
            _event("not-a-job-id", server),
        ]
        sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
        )
        # the unknown job's event is put back for another replica 3 times (handoffs), then dropped
        expected = {
            "applied": 1,
            "duplicate": 1,
            "passed_on": 3,
            "unknown_job": 1,
            "other_type": 1,
            "malformed": 3,
        }
        await wait_until(
            outcomes,
            lambda now: all(now[k] - before[k] >= n for k, n in expected.items()),
            EVENT_WAIT,
            f"outcomes {expected}",
        )
        await wait_until(lambda: _queue_depth(sqs, queue_url), lambda depth: depth == 0, 15, "an empty queue")
        after = get_execution_from_dynamodb(dynamodb, tables.executions, execution["ExecutionId"])
    assert after["Status"] == "POLLING"
    assert {s["Status"] for s in all_servers(after)} == {"IN_PROGRESS"}  # a hint changes nothing by itself
    assert outcomes()["requeued"] == before["requeued"]


def _queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_deleted_queue_degrades_to_polling_and_the_execution_completes(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    sqs: Any,
    moto_url: str,
    queue_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        launch_events_queue_url=queue_url,
        sqs_endpoint_url=moto_url,
        launch_events_wait_seconds=1,
        interval_in_progress_seconds=0.5,
    )
    running = await start_daemon(settings)
    try:
        with sim.control.drs_progression():
            execution = await _in_progress(dynamodb, tables, sim, servers=2)
            errors = sample(
                "poller_launch_events_queue_errors_total",
                operation="ReceiveMessage",
                code="AWS.SimpleQueueService.NonExistentQueue",
            )
            sqs.delete_queue(QueueUrl=queue_url)
            await wait_until(
                lambda: sample("poller_launch_events_queue_up"), lambda up: up == 0, 15, "queue_up == 0"
            )
            assert (
                sum(
                    sample("poller_launch_events_queue_errors_total", operation="ReceiveMessage", code=code)
                    for code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
                )
                > errors
            )
            sim.control.advance_drs_phase("COMPLETED", job_ids_of(execution))
            final = await wait_for_status(
                dynamodb, tables.executions, execution["ExecutionId"], "COMPLETED", timeout=30
            )
        assert {s["Status"] for s in all_servers(final)} == {"LAUNCHED"}
        ready = await api("GET", f"{running.url}/readyz")
        assert ready.status_code == 200
        assert not running.task.done()
    finally:
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=30)


async def test_queue_deleted_mid_run_through_the_api_the_execution_completes_by_polling(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    sqs: Any,
    moto_url: str,
    queue_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    intervals = {f"interval_{p}_seconds": 3.0 for p in ("in_progress", "post_launch", "default")}
    settings = make_settings(
        launch_events_queue_url=queue_url,
        sqs_endpoint_url=moto_url,
        launch_events_wait_seconds=1,
        **intervals,
    )
    running = await start_daemon(settings)
    try:
        await create_test_plan_with_waves(running.url, num_waves=1, servers_per_wave=3, plan_id="queue-gone")
        with sim.control.drs_progression():
            created = await api(
                "POST", f"{running.url}/executions", json={"PlanId": "queue-gone", "ExecutionType": "DRILL"}
            )
            assert created.status_code == 202, created.text
            execution_id = created.json()["executionId"]
            execution = await wait_for_status(
                dynamodb, tables.executions, execution_id, "POLLING", timeout=15
            )
            [job_id] = job_ids_of(execution)
            sim.control.advance_drs_phase("IN_PROGRESS", [job_id])
            read = lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)  # noqa: E731
            await wait_until(
                read, lambda e: all(s["Status"] == "IN_PROGRESS" for s in all_servers(e)), 15, "IN_PROGRESS"
            )
            sqs.delete_queue(QueueUrl=queue_url)
            await wait_until(
                lambda: sample("poller_launch_events_queue_up"), lambda up: up == 0, 15, "queue_up == 0"
            )
            by_event, by_timer = detections("event"), detections("timer")

            sim.control.advance_drs_phase("COMPLETED", [job_id])  # its events reach no queue

            final = await wait_for_status(dynamodb, tables.executions, execution_id, "COMPLETED", timeout=60)
        assert {s["Status"] for s in all_servers(final)} == {"LAUNCHED"}
        assert detections("timer") - by_timer == 3  # found by the timer's polls alone
        assert detections("event") == by_event
        ready = await api("GET", f"{running.url}/readyz")
        assert ready.status_code == 200
        assert not running.task.done()
    finally:
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=30)
