"""Garbage collection paced by the clock instead of by allocation counts.

Why: every poll replaces its execution's models (about a hundred objects) and the new ones live
for a whole interval, so they reach CPython's oldest generation. At 10,000 executions that
generation then grows by a quarter every few seconds, which is CPython's trigger for a full
collection, and each full collection walks every object of the process with the loop stopped:
0.3 s for 10,000 bare executions (``bench/micro_gc.py``), seconds in the daemon. That was the
daemon's worst event-loop lag.

Paced: the young generations are collected every ``young_every`` seconds and the whole heap
every ``full_every`` seconds, so cyclic garbage still goes and one long pause comes per period
instead of one every few seconds. A young collection walks what was allocated since the last
one and is still alive, ~1.5 µs an object in the daemon, and nearly all of it is alive: the
models a poll makes live a whole interval. So a pause grows with the period and with how busy
the loop was meanwhile. At 10,000 executions in a burst, one collection every second took
10-50 ms, every 0.25 s 10 ms on average, every 0.1 s 3 ms on average but one in ten over 10 ms
and one in seventy over 25 ms (a 20 ms event-loop turn around such a pause makes a lag probe
miss 50 ms). Every 25 ms, the same objects are walked in four times as many, four times
shorter pauses: one in 300-800 over 10 ms (runs E and F).
Pauses are observed in ``poller_gc_pause_seconds``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from poller import metrics

YOUNG_EVERY_SECONDS = 0.025
FULL_EVERY_SECONDS = 600.0


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


async def pace_collections(
    stop: asyncio.Event, young_every: float = YOUNG_EVERY_SECONDS, full_every: float = FULL_EVERY_SECONDS
) -> None:
    """Run until ``stop``; automatic collection is off meanwhile and restored afterwards.

    A plain sleep, not ``wait_for(stop.wait())``: that makes a task and a timeout every period,
    garbage of its own forty times a second; ``stop`` is seen within one period.
    """
    clock = PauseClock()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.callbacks.append(clock)
    last_full = time.monotonic()
    try:
        while not stop.is_set():
            await asyncio.sleep(young_every)
            if time.monotonic() - last_full >= full_every:
                gc.collect()
                last_full = time.monotonic()
            else:
                gc.collect(1)
    finally:
        gc.callbacks.remove(clock)
        if was_enabled:
            gc.enable()
