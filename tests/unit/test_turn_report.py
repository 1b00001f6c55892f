"""The turn watch times loop turns and the collections inside them; the report says which long
turns a collection made long."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from pathlib import Path

from bench.stall_report import read
from bench.turn_report import summarize
from bench.turnwatch.sitecustomize import TurnWatch


def turn(t: float, ms: float, gc_ms: float = 0.0, *callbacks: tuple[float, str]) -> str:
    collections = [[1, gc_ms, 0]] if gc_ms else []
    return json.dumps({"t": t, "ms": ms, "gc": collections, "callbacks": [list(c) for c in callbacks]}) + "\n"


def test_a_turn_counts_as_made_long_by_its_collection_only_if_it_is_short_without_it(tmp_path: Path) -> None:
    path = tmp_path / "turns.jsonl"
    path.write_text(
        turn(1.0, 30.0, 10.0, (12.0, "task poll"))  # 20 ms without the collection: under 25
        + turn(2.0, 40.0, 5.0)  # 35 ms without it: still over 25 and 35
        + turn(3.0, 22.0, 0.0, (3.0, "task write"))  # under every bound
    )
    rows = {r["bound_ms"]: r for r in summarize(read(path))["bounds"]}
    assert (rows[25.0]["turns"], rows[25.0]["with_gc"], rows[25.0]["over_without_gc"]) == (2, 2, 1)
    assert rows[25.0]["gc_ms"] == 15.0
    assert (rows[35.0]["turns"], rows[35.0]["over_without_gc"]) == (1, 1)
    assert rows[50.0]["turns"] == 0
    assert summarize(read(path))["by_callback"] == [("task poll", 12.0)]  # only turns ≥ 25 ms


def test_the_watch_records_a_long_turn_with_its_collection_and_slow_callback(tmp_path: Path) -> None:
    out = tmp_path / "turns.jsonl"
    watch = TurnWatch(str(out), threshold_ms=5.0)
    watch.turn_ended()  # no turn began yet: nothing written
    watch.began = time.perf_counter()
    gc.callbacks.append(watch.on_gc)
    try:
        gc.collect(0)
    finally:
        gc.callbacks.remove(watch.on_gc)

    def slow_callback() -> None:
        time.sleep(0.003)

    loop = asyncio.new_event_loop()
    try:
        watch.timed(asyncio.Handle(slow_callback, (), loop))
        watch.timed(asyncio.Handle(lambda: None, (), loop))  # fast: not listed
    finally:
        loop.close()
    time.sleep(0.005)
    watch.turn_ended()
    watch.out.close()
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["ms"] >= 5.0
    assert record["gc"][0][0] == 0
    [(ms, name)] = record["callbacks"]
    assert ms >= 3.0 and name.endswith("slow_callback")
