"""The daemon collects garbage on its own clock: young generations often, the whole heap rarely."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from poller import metrics
from poller.runtime.garbage import pace_collections


def _pauses(generation: str) -> float:
    for family in metrics.GC_PAUSE.collect():
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("generation") == generation:
                return sample.value
    return 0.0


async def test_pacing_turns_automatic_collection_off_and_collects_young_then_full() -> None:
    seen: list[int] = []
    two_full = asyncio.Event()

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            seen.append(info["generation"])
            if seen.count(2) >= 2:
                two_full.set()

    stop = asyncio.Event()
    full_before = _pauses("2")
    gc.callbacks.append(record)
    try:
        task = asyncio.create_task(pace_collections(stop, young_every=0.02, full_every=0.15))
        await asyncio.sleep(0)
        assert not gc.isenabled()
        # wait on counts, not on a clock: two full collections, however slow the machine is
        try:
            await asyncio.wait_for(two_full.wait(), timeout=30)
        finally:
            stop.set()
        await task
    finally:
        gc.callbacks.remove(record)
    assert gc.isenabled()
    assert seen.count(2) >= 2, seen  # the whole heap, on its own period
    # the young generations are collected far more often than the heap (every 20 ms vs 150 ms)
    assert seen.count(1) >= 2 * seen.count(2), seen
    assert _pauses("2") - full_before == seen.count(2)  # every pause is in the histogram


async def test_pacing_leaves_collection_off_if_it_was_off() -> None:
    gc.disable()
    try:
        stop = asyncio.Event()
        stop.set()
        await pace_collections(stop)
        assert not gc.isenabled()
    finally:
        gc.enable()
