"""Bench-only turn watch: what filled the daemon's long event-loop turns.

``bench_daemon.py --profile turns`` puts this directory first on the daemon's PYTHONPATH, so
Python imports this file at start-up (as ``sitecustomize``) with ``TURNWATCH_OUT`` set. A lag
probe is late by the rest of the turn it fell due in and all of the next, so the loop-lag
target is about turns of 20-40 ms, which the stall watch (over 40 ms, sampled) misses. This
times every turn (selector return to the next select) and, for each turn over ``TURNWATCH_MS``
(20), writes one JSON line: its length, the garbage collections inside it (generation, ms,
objects collected) and its callbacks over 2 ms, named by task coroutine and where it suspended.
``bench/turn_report.py`` summarises them. Timing each callback costs ~1 µs; nothing of this is
imported by the daemon outside the bench.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import gc
import json
import os
import selectors
import time
from typing import Any

CALLBACK_MS = 2.0
_run_handle = asyncio.events.Handle._run


class TurnWatch:
    def __init__(self, out: str, threshold_ms: float) -> None:
        self.out = open(out, "a", buffering=1)  # kept open for the process's life
        self.threshold_ms = threshold_ms
        self.began: float | None = None
        self.gc_began = 0.0
        self.collections: list[list[Any]] = []
        self.callbacks: list[list[Any]] = []

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.gc_began = time.perf_counter()
        else:
            ms = (time.perf_counter() - self.gc_began) * 1000
            self.collections.append([info["generation"], round(ms, 2), info["collected"]])

    def turn_ended(self) -> None:
        if self.began is not None:
            ms = (time.perf_counter() - self.began) * 1000
            if ms >= self.threshold_ms:
                record = {
                    "t": time.time(),
                    "ms": round(ms, 1),
                    "gc": self.collections,
                    "callbacks": self.callbacks,
                }
                self.out.write(json.dumps(record) + "\n")
        self.collections, self.callbacks = [], []

    def timed(self, handle: asyncio.Handle) -> None:
        start = time.perf_counter()
        _run_handle(handle)
        ms = (time.perf_counter() - start) * 1000
        if ms > CALLBACK_MS:
            self.callbacks.append([round(ms, 2), callback_name(handle)])


def callback_name(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return str(getattr(callback, "__qualname__", repr(callback)))[:120]
    coro: Any = task.get_coro()
    where = []
    while coro is not None and len(where) < 8:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            where.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return f"task {getattr(task.get_coro(), '__qualname__', '?')} @ {' > '.join(where) or '(done)'}"


def _install(watch: TurnWatch) -> None:
    gc.callbacks.append(watch.on_gc)

    def run(handle: asyncio.Handle) -> None:
        watch.timed(handle)

    asyncio.events.Handle._run = run  # type: ignore[method-assign]
    select = selectors.EpollSelector.select

    def stamped(self: Any, timeout: float | None = None) -> Any:
        watch.turn_ended()
        ready = select(self, timeout)
        watch.began = time.perf_counter()
        return ready

    selectors.EpollSelector.select = stamped  # type: ignore[method-assign]


if os.environ.get("TURNWATCH_OUT"):
    _install(TurnWatch(os.environ["TURNWATCH_OUT"], float(os.environ.get("TURNWATCH_MS", "20"))))
