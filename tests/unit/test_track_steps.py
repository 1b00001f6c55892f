"""A written poll is one ``transitions`` log line; a burst of polls goes through the turn budget."""

from __future__ import annotations

import asyncio
from typing import cast

from structlog.testing import capture_logs

from poller.domain.phases import PollingIntervals
from poller.domain.statuses import ServerStatus
from poller.pipeline.batch import JobStatusBatcher
from poller.pipeline.track import ExecutionTracker, TrackerConfig
from poller.runtime.turns import TurnBudget
from poller.store.executions import ExecutionStore
from tests.fakes import FixedAnswers, MemoryStore
from tests.prom import sample
from tests.unit.builders import START, drs_job, execution, participant, server, server_id, wave


def tracker(store: MemoryStore, drs: FixedAnswers, turns: TurnBudget | None = None) -> ExecutionTracker:
    return ExecutionTracker(
        "exec-1",
        cast(ExecutionStore, store),
        cast(JobStatusBatcher, drs),
        TrackerConfig(intervals=PollingIntervals(), timeout_seconds=1800, idle_write_seconds=300),
        lambda: START + 60,
        turns=turns,
    )


def deferrals() -> float:
    return sample("poller_turn_deferrals_total")


async def test_a_poll_that_changes_three_servers_logs_one_line_with_all_of_them() -> None:
    servers = [server(n, ServerStatus.PENDING, job=1) for n in (1, 2, 3)]
    store = MemoryStore(execution([wave(servers)], start=START))
    drs = FixedAnswers(
        {
            drs_job(1, "STARTED")["jobID"]: drs_job(
                1, "STARTED", [participant(n, "IN_PROGRESS") for n in (1, 2, 3)]
            )
        }
    )
    with capture_logs() as logs:
        await tracker(store, drs).poll_once(store.item)
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
    store = MemoryStore(execution([wave(servers)], start=START))
    drs = FixedAnswers(
        {drs_job(1, "STARTED")["jobID"]: drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")])}
    )
    watched = tracker(store, drs)
    watched._last_write = START + 60  # written just now: an idle poll is not written again
    with capture_logs() as logs:
        await asyncio.wait_for(watched.poll_once(store.item), timeout=5)
    assert not [e for e in logs if e["event"] == "transitions"]
    assert store.saves == 0


async def test_a_burst_of_polls_is_sliced_by_the_turn_budget_and_every_poll_is_written() -> None:
    work = [0.0]
    budget = TurnBudget(0.010, clock=lambda: work[0])
    stores = [
        MemoryStore(execution([wave([server(1, ServerStatus.PENDING)])], start=START)) for _ in range(6)
    ]
    drs = FixedAnswers(
        {drs_job(1, "STARTED")["jobID"]: drs_job(1, "STARTED", [participant(1, "IN_PROGRESS")])}
    )
    trackers = [tracker(store, drs, budget) for store in stores]
    before = deferrals()

    async def poll(t: ExecutionTracker, store: MemoryStore) -> None:
        await t.poll_once(store.item)
        work[0] += 0.004  # each poll's work, as the budget's clock sees it

    await asyncio.wait_for(asyncio.gather(*(poll(t, s) for t, s in zip(trackers, stores, strict=True))), 5)
    assert [s.saves for s in stores] == [1] * 6
    assert deferrals() > before
