"""Liveness and readiness, as the orchestrator sees them.

/healthz: the event loop is turning (the lag monitor beat recently).
/readyz: the last finder query succeeded within ``ready_max_age_seconds``, so DynamoDB is readable
and we are tracking; and the daemon is not stopping. It is what load balancers and the deployment
circuit breaker watch. A DynamoDB outage fails it (after the max age, not on the first error: one
failed pass does not flap it), never /healthz: restarting a task does not bring DynamoDB back.
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
    stopping: bool = False  # SIGTERM received: take no new requests

    def alive(self, now: float, max_silence: float = 10.0) -> bool:
        return now - self.loop_beat < max_silence

    def ready(self, now: float) -> bool:
        if self.stopping or self.last_finder_ok is None:
            return False
        return now - self.last_finder_ok < self.ready_max_age_seconds

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
