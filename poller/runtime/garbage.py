"""Garbage collection paced by the clock instead of by allocation counts.

Why: every poll replaces its execution's models and the new ones live for a whole interval, so
they reach CPython's oldest generation. With many executions that generation grows by a quarter
every few seconds, which is CPython's trigger for a full collection, and each full collection
walks every object of the process with the loop stopped: it was the daemon's worst event-loop
lag.

Paced: the young generations are collected every ``young_every`` seconds and the whole heap
every ``full_every`` seconds, so cyclic garbage still goes and one long pause comes per period
instead of one every few seconds. A young collection walks what was allocated since the last
one and is still alive, and nearly all of it is alive: the models a poll makes live a whole
interval. So a pause grows with the period and with how busy the loop was meanwhile; a short
period walks the same objects in more, shorter pauses. Both periods are
:class:`poller.runtime.responsiveness.Responsiveness` knobs; the pauses each period gave are in
docs/performance.md ("Loop responsiveness: the knobs and their figures"). Pauses are observed in
``poller_gc_pause_seconds``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from poller import metrics
from poller.runtime.responsiveness import Responsiveness


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
    stop: asyncio.Event,
    young_every: float = Responsiveness.gc_young_seconds,
    full_every: float = Responsiveness.gc_full_seconds,
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
