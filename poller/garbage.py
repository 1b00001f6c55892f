"""Garbage collection: the young generations as CPython does it, the whole heap on a clock.

Why: every poll replaces its execution's models (about a hundred objects) and the new ones live
for a whole interval, so they reach CPython's oldest generation. At 10,000 executions that
generation then grows by a quarter every few seconds, which is CPython's trigger for a full
collection, and each full collection walks every object of the process with the loop stopped:
0.3 s for 10,000 bare executions (``bench/micro_gc.py``), seconds in the daemon. That was the
daemon's worst event-loop lag.

So the automatic trigger of full collections is switched off (its threshold set out of reach)
and the whole heap is collected every ``full_every`` seconds instead, so cyclic garbage still
goes and one long pause comes per period. The young generations keep CPython's own trigger
(every 700 net allocations, the middle one every 10 of those): each collection then examines
at most a few thousand objects, well under a millisecond. Collecting them on a timer instead
(every 0.25 s, the previous design) examined everything allocated meanwhile in one go: 5 ms on
average at 10,000 executions, but tens of milliseconds in bursts of transitions, the largest
source of loop turns over 50 ms left (``bench/stall_report.py``). Pauses are observed in
``poller_gc_pause_seconds``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from poller import metrics

FULL_EVERY_SECONDS = 600.0
YOUNG_THRESHOLDS = (700, 10)  # CPython's defaults for generations 0 and 1
OUT_OF_REACH = 2**31 - 1  # generation 2's threshold: never reached, so never automatic


def _observe_pause(generation: int, seconds: float) -> None:
    metrics.GC_PAUSE.labels(str(generation)).observe(seconds)


class PauseClock:
    """A gc callback that times each collection and hands (generation, seconds) to ``observe``."""

    def __init__(self, observe: Callable[[int, float], None] = _observe_pause) -> None:
        self._observe = observe
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._observe(info["generation"], time.perf_counter() - self._started)


async def pace_collections(stop: asyncio.Event, full_every: float = FULL_EVERY_SECONDS) -> None:
    """Run until ``stop``; the collector's thresholds and switch are restored afterwards."""
    clock = PauseClock()
    was_enabled = gc.isenabled()
    was_thresholds = gc.get_threshold()
    gc.set_threshold(*YOUNG_THRESHOLDS, OUT_OF_REACH)
    gc.enable()
    gc.callbacks.append(clock)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=full_every)
            except TimeoutError:
                gc.collect()
    finally:
        gc.callbacks.remove(clock)
        gc.set_threshold(*was_thresholds)
        if not was_enabled:
            gc.disable()
