"""Liveness and readiness, as the orchestrator sees them.

/healthz: the event loop is turning (the lag monitor beat recently).
/readyz: the last finder query succeeded recently, so DynamoDB is reachable and we are tracking.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from poller import metrics

LAG_PROBE_SECONDS = 0.25


@dataclass
class Health:
    ready_max_age_seconds: float = 60.0
    loop_beat: float = field(default_factory=time.time)  # alive from the start, not after 0.25 s
    last_finder_ok: float | None = None
    last_finder_error: str | None = None

    def alive(self, now: float, max_silence: float = 10.0) -> bool:
        return now - self.loop_beat < max_silence

    def ready(self, now: float) -> bool:
        return self.last_finder_ok is not None and now - self.last_finder_ok < self.ready_max_age_seconds

    def finder_ok(self, now: float) -> None:
        self.last_finder_ok = now
        self.last_finder_error = None


async def monitor_loop_lag(health: Health, stop: asyncio.Event) -> None:
    """Sleep a fixed 0.25 s and record how late we woke: the loop's responsiveness."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(LAG_PROBE_SECONDS)
        metrics.LOOP_LAG.observe(max(0.0, loop.time() - before - LAG_PROBE_SECONDS))
        health.loop_beat = time.time()
