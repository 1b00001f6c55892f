"""Micro-benchmark: what a garbage collection costs with thousands of executions in memory.

Each poll replaces an execution's models and the new ones live a whole interval, so they reach
CPython's oldest generation; an automatic full collection then walks the whole heap with the
event loop stopped (when one comes depends on the daemon's allocations: the daemon's
``poller_gc_pause_seconds`` shows them). This builds N in-memory executions (no I/O), times one
full collection, then polls every execution ``--rounds`` times under each young-generation
policy, in the same run: the daemon's (``poller.garbage``: CPython's automatic young
collections, no automatic full one) and the previous timed one (automatic collection off, the
young generations collected every 80 polls, i.e. every 0.25 s at 10,000 executions), and
prints the pauses of each.

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
from poller.garbage import OUT_OF_REACH, YOUNG_THRESHOLDS, PauseClock

POLLS_PER_TIMED_COLLECTION = 80  # 0.25 s of polls at 10,000 executions (~330 polls/s)


def full_collection_seconds(executions: int) -> float:
    population = [execution(i, 10) for i in range(executions)]
    gc.collect()
    start = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - start
    del population
    return elapsed


def churn(executions: int, rounds: int, timed: bool) -> tuple[list[float], float]:
    """Pauses (s) and elapsed time of ``rounds`` polls of every execution under one policy."""
    population = [execution(i, 10) for i in range(executions)]
    answers = [answer(e) for e in population]
    gc.collect()
    pauses: list[float] = []
    clock = PauseClock(lambda generation, seconds: pauses.append(seconds))
    thresholds = gc.get_threshold()
    if timed:
        gc.disable()
    else:
        gc.set_threshold(*YOUNG_THRESHOLDS, OUT_OF_REACH)
    gc.callbacks.append(clock)
    start = time.perf_counter()
    try:
        for r in range(rounds):
            for i in range(executions):
                population[i] = apply_poll(population[i], answers[i], 100.0 + r).execution
                if timed and i % POLLS_PER_TIMED_COLLECTION == 0:
                    gc.collect(1)
    finally:
        elapsed = time.perf_counter() - start
        gc.callbacks.remove(clock)
        gc.set_threshold(*thresholds)
        gc.enable()
    return sorted(pauses), elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--executions", type=int, default=10_000, help="executions in memory (10000)")
    p.add_argument("--rounds", type=int, default=3, help="polls of every execution (3)")
    args = p.parse_args()
    print(f"{args.executions:,} executions × 10 servers in memory, no I/O")
    print(
        f"  one full collection (automatic or paced)     : {full_collection_seconds(args.executions) * 1e3:7.1f} ms"
    )
    for name, timed in (("automatic young (daemon)", False), ("timed, every 80 polls", True)):
        pauses, elapsed = churn(args.executions, args.rounds, timed)
        if not pauses:  # replaced models die by refcount: no net allocation, nothing to collect
            print(f"  {name:<25}: no collection was due")
            continue
        p99 = pauses[int(0.99 * (len(pauses) - 1))]
        print(
            f"  {name:<25}: {len(pauses):6,} collections, p99 {p99 * 1e3:5.2f} ms,"
            f" max {pauses[-1] * 1e3:6.2f} ms, {sum(pauses) / elapsed:5.1%} of the time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
