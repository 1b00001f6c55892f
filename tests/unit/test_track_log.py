"""A written poll is one ``transitions`` log line carrying every change it wrote."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from structlog.testing import capture_logs

from poller.batch import JobStatusBatcher
from poller.domain.model import Execution
from poller.domain.phases import PollingIntervals
from poller.domain.statuses import ServerStatus
from poller.track import ExecutionTracker, TrackerConfig
from poller.write import ExecutionStore
from tests.unit.builders import START, drs_job, execution, participant, server, server_id, wave


class Store:
    """Keeps what was written; every write lands."""

    def __init__(self, initial: Execution) -> None:
        self.item = initial
        self.saves = 0

    async def get(self, execution_id: str) -> Execution:
        return self.item

    async def save(self, updated: Execution, expected_version: int, lease: Any = None) -> Execution:
        self.saves += 1
        self.item = updated.model_copy(update={"Version": expected_version + 1})
        return self.item


class Drs:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    async def ask(self, region: str, job_ids: list[str]) -> dict[str, Any]:
        return self.answer


def tracker(store: Store, drs: Drs) -> ExecutionTracker:
    return ExecutionTracker(
        "exec-1",
        cast(ExecutionStore, store),
        cast(JobStatusBatcher, drs),
        TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800, idle_write_seconds=300),
        lambda: START + 60,
    )


async def test_a_poll_that_changes_three_servers_logs_one_line_with_all_of_them() -> None:
    servers = [server(n, ServerStatus.PENDING, job=1) for n in (1, 2, 3)]
    store = Store(execution([wave(servers)], start=START))
    drs = Drs(
        {
            drs_job(1, "STARTED")["jobID"]: drs_job(
                1, "STARTED", [participant(n, "IN_PROGRESS") for n in (1, 2, 3)]
            )
        }
    )
    with capture_logs() as logs:
        await tracker(store, drs)._poll_once(store.item)
    lines = [e for e in logs if e["event"] == "transitions"]
    assert len(lines) == 1 and store.saves == 1
    assert lines[0]["changes"] == [
        {
            "scope": "server",
            "subject": server_id(n),
            "attribute": "Status",
            "old": "PENDING",
            "new": "IN_PROGRESS",
        }
        for n in (1, 2, 3)
    ]


async def test_a_poll_without_changes_logs_no_transitions() -> None:
    servers = [server(1, ServerStatus.IN_PROGRESS)]
    store = Store(execution([wave(servers)], start=START))
    drs = Drs({drs_job(1, "STARTED")["jobID"]: drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")])})
    watched = tracker(store, drs)
    watched._last_write = START + 60  # written just now: an idle poll is not written again
    with capture_logs() as logs:
        await asyncio.wait_for(watched._poll_once(store.item), timeout=5)
    assert not [e for e in logs if e["event"] == "transitions"]
    assert store.saves == 0
