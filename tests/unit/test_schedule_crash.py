"""Finding 5: a tracker that crashes on its item's data is quarantined once, not restarted every tick."""

from __future__ import annotations

import asyncio
import decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY

from poller.pipeline.schedule import Scheduler


class _Crashing:
    """Stands in for ExecutionTracker: its run raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.malformed = False
        self.stopping = False
        self.sleeping = False

    async def run(self) -> None:
        await asyncio.sleep(0)
        raise self.error


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def _sync_until_done(scheduler: Scheduler, ids: list[str]) -> None:
    scheduler.sync(ids)
    for _ in range(100):
        await asyncio.sleep(0)
        if not scheduler.running:
            return
    raise AssertionError("trackers did not finish")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "error", [decimal.Rounded(), LookupError("region 'eu-north-1' is not served"), TypeError("x")]
)
async def test_a_crash_on_data_is_quarantined_and_counted_once(error: Exception) -> None:
    made: list[str] = []

    def make(execution_id: str) -> Any:
        made.append(execution_id)
        return _Crashing(error)

    scheduler = Scheduler(make, quarantine_seconds=300)
    malformed, crashes = (
        _value("poller_malformed_items_total"),
        _value("poller_poll_failures_total", {"reason": "crash"}),
    )
    await _sync_until_done(scheduler, ["e1"])
    for _ in range(3):
        report = scheduler.sync(["e1"])
        assert report.scheduled == 0 and report.quarantined == 1
    assert made == ["e1"]
    assert _value("poller_malformed_items_total") - malformed == 1
    assert _value("poller_poll_failures_total", {"reason": "crash"}) == crashes


@pytest.mark.asyncio
async def test_any_other_crash_is_retried_at_the_next_tick() -> None:
    made: list[str] = []

    def make(execution_id: str) -> Any:
        made.append(execution_id)
        return _Crashing(RuntimeError("bug"))

    scheduler = Scheduler(make, quarantine_seconds=300)
    crashes = _value("poller_poll_failures_total", {"reason": "crash"})
    await _sync_until_done(scheduler, ["e1"])
    await _sync_until_done(scheduler, ["e1"])
    assert made == ["e1", "e1"]
    assert _value("poller_poll_failures_total", {"reason": "crash"}) - crashes == 2
