"""DynamoDB errors: at start the tracker ends quietly (the next finder tick restarts it); while
tracking, a failed re-read after a lost write is a failed poll, retried with backoff."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from botocore.exceptions import EndpointConnectionError
from structlog.testing import capture_logs

from poller.domain.model import Execution
from poller.domain.phases import PollingIntervals
from poller.domain.statuses import ServerStatus
from poller.pipeline.batch import JobStatusBatcher
from poller.pipeline.track import ExecutionTracker, TrackerConfig
from poller.store.dynamodb import DynamoDBError
from poller.store.executions import ExecutionStore, WriteConflict
from tests.unit.builders import START, drs_job, execution, participant, server, wave


def _outage() -> DynamoDBError:
    return DynamoDBError("GetItem", "executions", EndpointConnectionError(endpoint_url="http://ddb.invalid"))


class Store:
    """Reads succeed ``good_reads`` times, then DynamoDB is unreachable; every write conflicts."""

    def __init__(self, good_reads: int) -> None:
        self.good_reads = good_reads

    async def get(self, execution_id: str) -> Execution:
        if self.good_reads == 0:
            raise _outage()
        self.good_reads -= 1
        return execution([wave([server(1, ServerStatus.PENDING)])], start=START)

    async def save(self, updated: Execution, expected_version: int, lease: Any = None) -> Execution:
        raise WriteConflict("someone wrote first")


class Drs:
    async def ask(self, region: str, job_ids: list[str]) -> dict[str, Any]:
        return {job_ids[0]: drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")])}


def _tracker(good_reads: int) -> ExecutionTracker:
    return ExecutionTracker(
        "exec-1",
        cast(ExecutionStore, Store(good_reads)),
        cast(JobStatusBatcher, Drs()),
        TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800),
        lambda: START + 60,
    )


async def test_unreadable_item_at_start_ends_the_tracker_as_a_failed_start() -> None:
    with capture_logs() as logs:
        await asyncio.wait_for(_tracker(good_reads=0).run(), timeout=5)  # returns, raises nothing
    assert [e["event"] for e in logs] == ["tracker_start_failed"]
    assert "DynamoDB GetItem on executions failed" in logs[0]["error"]


async def test_unreadable_item_after_a_lost_write_is_a_failed_poll_that_is_retried() -> None:
    tracker = _tracker(good_reads=1)
    with capture_logs() as logs:
        task = asyncio.create_task(tracker.run())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if any(e["event"] == "poll_failed" for e in logs):
                break
        assert not task.done()  # still tracking: it backs off and tries again
        task.cancel()
    failed = [e for e in logs if e["event"] == "poll_failed"]
    assert failed and failed[0]["reason"] == "dynamodb_error"
    assert not any(e["event"] == "tracker_start_failed" for e in logs)
