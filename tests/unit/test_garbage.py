"""The daemon collects garbage on its own clock: young generations often, the whole heap rarely."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from poller import metrics
from poller.garbage import OUT_OF_REACH, pace_collections


def _pauses(generation: str) -> float:
    for family in metrics.GC_PAUSE.collect():
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("generation") == generation:
                return sample.value
    return 0.0


class Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_young_collections_stay_automatic_and_the_whole_heap_goes_on_the_clock() -> None:
    seen: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    stop = asyncio.Event()
    full_before = _pauses("2")
    gc.callbacks.append(record)
    try:
        task = asyncio.create_task(pace_collections(stop, full_every=0.15))
        await asyncio.sleep(0.01)
        assert gc.isenabled()
        assert gc.get_threshold()[:2] == (700, 10)
        garbage = [Cycle() for _ in range(50_000)]  # far past 700 allocations, 10 times over
        del garbage
        await asyncio.sleep(0.4)
        stop.set()
        await task
    finally:
        gc.callbacks.remove(record)
    assert seen.count(0) >= 10 and seen.count(1) >= 1  # CPython's own young collections
    assert 1 <= seen.count(2) <= 3  # the whole heap: only the clock's, every 150 ms
    assert _pauses("2") - full_before == seen.count(2)  # every pause is in the histogram


def test_the_automatic_full_collection_is_out_of_reach_while_pacing() -> None:
    async def look() -> tuple[int, int, int]:
        stop = asyncio.Event()
        task = asyncio.create_task(pace_collections(stop))
        await asyncio.sleep(0)
        thresholds = gc.get_threshold()
        stop.set()
        await task
        return thresholds

    before = gc.get_threshold()
    thresholds = asyncio.run(look())
    assert thresholds[2] == OUT_OF_REACH
    assert gc.get_threshold() == before  # restored


async def test_pacing_leaves_collection_off_if_it_was_off() -> None:
    gc.disable()
    try:
        stop = asyncio.Event()
        stop.set()
        await pace_collections(stop)
        assert not gc.isenabled()
    finally:
        gc.enable()
