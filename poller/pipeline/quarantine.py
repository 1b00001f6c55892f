"""Quarantine: a malformed execution item is logged and counted once, then left alone a while.

Every stage that reads items by ID on a tick (the launcher, the drill cleaner) would otherwise
re-read, re-log and re-count the same broken item every tick. The item itself is never touched:
an operator can repair it, and it is read again once its time is up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog

from poller import metrics
from poller.domain.model import Execution, MalformedItemError
from poller.store.executions import ExecutionNotFound, ExecutionStore

log = structlog.get_logger("poller.pipeline.quarantine")

# How long a malformed item is left alone before it is read again (tracker, launcher, cleaner):
# long enough not to re-read, re-log and re-count it every tick, short enough to see a repair.
QUARANTINE_SECONDS = 300.0


class Quarantine:
    """Execution IDs held back until a time on ``clock``; each hold is logged and counted once."""

    def __init__(self, clock: Callable[[], float], seconds: float = QUARANTINE_SECONDS) -> None:
        self._clock = clock
        self._seconds = seconds
        self._until: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._until)

    def hold(self, key: str, field: str, reason: str) -> None:
        """Leave ``key`` alone for a while: one ``malformed_item`` line and one count."""
        self._until[key] = self._clock() + self._seconds
        metrics.MALFORMED_ITEMS.inc()
        log.error("malformed_item", key=key, field=field, reason=reason)

    def admit(self, ids: Iterable[str]) -> list[str]:
        """``ids`` without duplicates and without those still held (expired holds are dropped)."""
        now = self._clock()
        self._until = {k: t for k, t in self._until.items() if t > now}
        return [i for i in dict.fromkeys(ids) if i not in self._until]

    async def load(self, store: ExecutionStore, execution_id: str) -> Execution | None:
        """The stored execution; None when it is gone or malformed (then held here)."""
        try:
            return await store.get(execution_id)
        except ExecutionNotFound:
            return None
        except MalformedItemError as err:
            self.hold(execution_id, err.field, err.reason)
            return None
