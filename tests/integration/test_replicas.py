"""Two replicas on one table: conditional writes mean no transition is lost or regressed."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from tests.conftest import Tables, start_daemon
from tests.integration.support import (
    SeedWave,
    all_servers,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
    wait_until,
)

pytestmark = [pytest.mark.integration]

RANK = {"LAUNCHING": 0, "PENDING": 1, "STARTED": 2, "IN_PROGRESS": 3, "LAUNCHED": 4, "FAILED": 4}


async def test_two_replicas_never_regress_or_lose_a_transition(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    replicas = [await start_daemon(make_settings()) for _ in range(2)]
    history: list[dict[str, Any]] = []
    try:
        with sim.control.drs_progression() as drs:
            seeded = [
                seed_execution(
                    dynamodb,
                    tables.executions,
                    sim.endpoint_url,
                    [SeedWave("us-east-1", [source_server_id() for _ in range(3)])],
                )
                for _ in range(5)
            ]

            def read_all() -> list[dict[str, Any]]:
                items = [
                    get_execution_from_dynamodb(dynamodb, tables.executions, s.execution_id) for s in seeded
                ]
                history.extend(items)
                return items

            for phase, expected in (
                ("STARTED", "STARTED"),
                ("IN_PROGRESS", "IN_PROGRESS"),
                ("COMPLETED", "LAUNCHED"),
            ):
                drs.advance_drs_phase(phase)
                await wait_until(
                    read_all,
                    lambda items, want=expected: all(
                        x["Status"] == want for e in items for x in all_servers(e)
                    ),
                    10,
                    f"all servers {expected}",
                )
            final = await wait_until(
                read_all, lambda items: all(e["Status"] == "COMPLETED" for e in items), 10, "done"
            )
    finally:
        for replica in replicas:
            replica.stop.set()
        await asyncio.gather(*(asyncio.wait_for(r.task, 15) for r in replicas))

    # Versions only grow, and with them every server's rank: no write landed on a stale version.
    by_id: dict[str, list[dict[str, Any]]] = {}
    for item in history:
        by_id.setdefault(item["ExecutionId"], []).append(item)
    for items in by_id.values():
        items.sort(key=lambda e: e["Version"])
        for older, newer in itertools.pairwise(items):
            for a, b in zip(all_servers(older), all_servers(newer), strict=True):
                assert RANK[b["Status"]] >= RANK[a["Status"]]
    for execution in final:
        launched = {s["LaunchedTime"] for s in all_servers(execution)}
        assert all(t is not None for t in launched)
        assert all(s["InstanceId"].startswith("i-") for s in all_servers(execution))
