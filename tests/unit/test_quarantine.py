"""The quarantine the launcher and the drill cleaner share: one log line and one count per hold,
held IDs skipped until their time is up, the item itself never touched."""

from __future__ import annotations

from typing import Any

import structlog

from poller.domain.model import MalformedItemError
from poller.pipeline.quarantine import Quarantine
from poller.store.executions import ExecutionNotFound
from tests.prom import sample


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """Answers get() from a script: an exception to raise, counted."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.reads = 0

    async def get(self, execution_id: str) -> Any:
        self.reads += 1
        raise self.error


def test_held_ids_are_skipped_until_their_time_is_up() -> None:
    clock = Clock()
    quarantine = Quarantine(clock, seconds=300)
    quarantine.hold("exec-b", "Waves", "not a list")
    assert quarantine.admit(["exec-a", "exec-b", "exec-a", "exec-c"]) == ["exec-a", "exec-c"]
    clock.now += 299
    assert quarantine.admit(["exec-b"]) == []
    clock.now += 2
    assert quarantine.admit(["exec-b"]) == ["exec-b"]
    assert len(quarantine) == 0


async def test_a_malformed_item_is_logged_and_counted_once_then_held() -> None:
    clock = Clock()
    quarantine = Quarantine(clock)
    store = Store(MalformedItemError("exec-1", "Waves", "not a list"))
    before = sample("poller_malformed_items_total")
    with structlog.testing.capture_logs() as logs:
        assert await quarantine.load(store, "exec-1") is None  # type: ignore[arg-type]
    assert sample("poller_malformed_items_total") - before == 1
    assert [(e["event"], e["key"], e["field"]) for e in logs] == [("malformed_item", "exec-1", "Waves")]
    assert quarantine.admit(["exec-1"]) == []
    assert store.reads == 1


async def test_a_missing_item_is_not_held() -> None:
    quarantine = Quarantine(Clock())
    before = sample("poller_malformed_items_total")
    assert await quarantine.load(Store(ExecutionNotFound("exec-2")), "exec-2") is None  # type: ignore[arg-type]
    assert quarantine.admit(["exec-2"]) == ["exec-2"]
    assert sample("poller_malformed_items_total") == before
