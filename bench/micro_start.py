"""Micro-benchmark: the longest event-loop turn while a restart starts thousands of trackers.

A daemon that restarts with N executions in POLLING starts N trackers from one finder pass.
Making a tracker and its task costs a few µs, and its first step (binding its log context,
queueing at the start gate) runs in the loop turn after its task is created: all at once, that
is two long turns, and every timer of the daemon fires that late. The scheduler starts them a
slice per turn (``poller.runtime.responsiveness.Responsiveness.start_per_turn``). This starts N
real ``ExecutionTracker`` objects (their first read never answers: no I/O), all at once and in
slices, and prints the
longest turn and the number of turns each took. Automatic garbage collection is off, as in the
daemon (``poller.runtime.garbage`` collects on a clock), so a collection is not counted as a turn.

    .venv/bin/python bench/micro_start.py --executions 10000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import table
from poller.config import Settings
from poller.pipeline.schedule import Scheduler
from poller.pipeline.track import ExecutionTracker
from poller.runtime.responsiveness import Responsiveness
from poller.runtime.turns import TurnBudget


class SilentStore:
    """A store whose first read never answers, so a tracker stops at its first real wait."""

    def __init__(self) -> None:
        self.never = asyncio.Event()

    async def get(self, execution_id: str) -> Any:
        await self.never.wait()


class TurnClock:
    """Times loop turns: a callback that re-queues itself runs once per turn."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self._running = True

    def start(self) -> None:
        if self._running:
            self.marks.append(time.perf_counter())
            asyncio.get_running_loop().call_soon(self.start)

    def stop(self) -> None:
        self.marks.append(time.perf_counter())
        self._running = False

    def longest(self) -> float:
        return max(b - a for a, b in zip(self.marks, self.marks[1:], strict=False))


@dataclass(frozen=True)
class Startup:
    longest_turn: float
    turns: int
    sync_seconds: float  # the finder's own turn
    wall_seconds: float


async def start_all(executions: int, per_turn: int) -> Startup:
    """Start ``executions`` trackers, ``per_turn`` per loop turn."""
    settings = Settings()
    knobs = Responsiveness.from_settings(settings)
    store = SilentStore()
    gate = asyncio.Semaphore(settings.max_concurrent_writes)
    turns = TurnBudget(knobs.turn_budget_seconds, wake_per_turn=knobs.wake_per_turn)

    def make(execution_id: str) -> ExecutionTracker:
        fake: Any = store
        return ExecutionTracker(execution_id, fake, fake, fake, time.time, start_gate=gate, turns=turns)

    scheduler = Scheduler(make, start_per_turn=per_turn)
    clock = TurnClock()
    clock.start()
    begun = time.perf_counter()
    scheduler.sync(f"exec-{n:06d}" for n in range(executions))
    synced = time.perf_counter() - begun
    for _ in range(-(-executions // per_turn) + 2):  # every slice, and the last one's first steps
        await asyncio.sleep(0)
    wall = time.perf_counter() - begun
    clock.stop()
    started = sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("track:"))
    if started != executions:
        raise RuntimeError(f"{started} of {executions} trackers started")
    await scheduler.shutdown(grace_seconds=1)
    return Startup(clock.longest(), len(clock.marks), synced, wall)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="No I/O; no servers.")
    p.add_argument("--executions", type=int, default=10_000, help="trackers to start (10,000)")
    args = p.parse_args()
    sliced_per_turn = Responsiveness.from_settings(Settings()).start_per_turn
    gc.disable()
    asyncio.run(start_all(min(args.executions, 1000), sliced_per_turn))  # warm-up: imports, caches
    rows = []
    for label, per_turn in (
        ("all at once", args.executions),
        (f"{sliced_per_turn} per turn", sliced_per_turn),
    ):
        r = asyncio.run(start_all(args.executions, per_turn))
        ms = [f"{x * 1000:.1f}" for x in (r.longest_turn, r.sync_seconds, r.wall_seconds)]
        rows.append((label, ms[0], ms[1], f"{r.turns:,}", ms[2]))
        print(f"{label}: done", file=sys.stderr)
    print(f"\n### starting {args.executions:,} trackers")
    headers = ("start", "longest turn ms", "the finder's sync() turn ms", "turns", "until all started ms")
    print(table(headers, rows))


if __name__ == "__main__":
    main()
