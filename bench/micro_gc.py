"""Micro-benchmark: what a garbage collection costs with thousands of executions in memory.

Each poll replaces an execution's models and the new ones live a whole interval, so they reach
CPython's oldest generation; an automatic full collection then walks the whole heap with the
event loop stopped (when one comes depends on the daemon's allocations: the daemon's
``poller_gc_pause_seconds`` shows them). This builds N in-memory executions (no I/O), times one
full collection, then polls every execution ``--rounds`` times with the young generations
collected every 200 polls (a count, so runs compare on any machine; the daemon collects them on
the clock, every 25 ms: ``poller.runtime.garbage``) and prints those pauses.

    .venv/bin/python bench/micro_gc.py --executions 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.micro_poll import answer, execution
from poller.domain.apply import apply_poll
from poller.runtime.garbage import PauseClock

POLLS_PER_YOUNG_COLLECTION = 200  # ~1 s of polls at 10,000 executions (45 s PENDING interval)


def full_collection_seconds(executions: int) -> float:
    population = [execution(i, 10) for i in range(executions)]
    gc.collect()
    start = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - start
    del population
    return elapsed


def paced_churn(executions: int, rounds: int) -> tuple[list[tuple[int, float]], float]:
    population = [execution(i, 10) for i in range(executions)]
    answers = [answer(e) for e in population]
    gc.collect()
    pauses: list[tuple[int, float]] = []
    clock = PauseClock(lambda generation, seconds: pauses.append((generation, seconds)))
    gc.disable()
    gc.callbacks.append(clock)
    start = time.perf_counter()
    try:
        for r in range(rounds):
            for i in range(executions):
                population[i] = apply_poll(population[i], answers[i], 100.0 + r).execution
                if i % POLLS_PER_YOUNG_COLLECTION == 0:
                    gc.collect(1)
    finally:
        elapsed = time.perf_counter() - start
        gc.callbacks.remove(clock)
        gc.enable()
    return pauses, elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--executions", type=int, default=10_000, help="executions in memory (10000)")
    p.add_argument("--rounds", type=int, default=3, help="polls of every execution (3)")
    args = p.parse_args()
    print(f"{args.executions:,} executions × 10 servers in memory, no I/O")
    print(
        f"  one full collection (automatic or paced)     : {full_collection_seconds(args.executions) * 1e3:7.1f} ms"
    )
    pauses, elapsed = paced_churn(args.executions, args.rounds)
    times = sorted(s for _, s in pauses)
    p99 = times[int(0.99 * (len(times) - 1))]
    print(
        f"  paced young collections over {args.rounds} polls each: {len(times)},"
        f" p99 {p99 * 1e3:.1f} ms, max {times[-1] * 1e3:.1f} ms, {sum(times) / elapsed:.1%} of the time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
