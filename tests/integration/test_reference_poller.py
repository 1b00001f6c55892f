"""The benchmark's reference poller (the plan's Lambda design) really polls, or the comparison lies.

It once read the finder's projected summaries as full items: every poll raised, was counted as
an error, and a benchmark run reported a reference that never polled as a slow one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from bench.reference_poller import main_async
from tests.conftest import Tables
from tests.integration.support import (
    SeedWave,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
)

pytestmark = [pytest.mark.integration]


async def test_reference_poller_reads_each_item_asks_drs_per_wave_and_writes_every_poll(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, moto_url: str, tmp_path: Path
) -> None:
    seeded = [
        seed_execution(
            dynamodb,
            tables.executions,
            sim.endpoint_url,
            [SeedWave(r, [source_server_id(), source_server_id()]) for r in ("us-east-1", "us-west-2")],
        )
        for _ in range(3)
    ]
    sim.control.advance_drs_phase("COMPLETED")
    args = argparse.Namespace(
        table=tables.executions,
        index=tables.index,
        dynamodb_url=moto_url,
        drs_url=sim.endpoint_url,
        regions=["us-east-1", "us-west-2"],
        tick_seconds=0.2,
        concurrency=5,
        events_out=str(tmp_path / "events.jsonl"),
        stats_out=str(tmp_path / "stats.json"),
    )
    with contextlib.suppress(TimeoutError):  # a broken reference polls forever: bound it
        await asyncio.wait_for(main_async(args), timeout=30)  # returns once nothing is POLLING

    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["errors"], stats["polls"], stats["drs_calls"]) == (0, 3, 6)  # one call per wave
    assert stats["polling_left"] == 0
    for s in seeded:
        item = get_execution_from_dynamodb(dynamodb, tables.executions, s.execution_id)
        assert item["Status"] == "COMPLETED"
        assert [x["Status"] for w in item["Waves"] for x in w["Servers"]] == ["LAUNCHED"] * 4
    launched = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sorted(subject for subject, status, _ in launched if status == "LAUNCHED") == sorted(
        x for s in seeded for w in s.waves for x in w.servers
    )
