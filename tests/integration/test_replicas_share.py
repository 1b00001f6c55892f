"""Replicas share the load: three replicas split 300 executions, and re-split when one stops.

Over real sockets (moto, drssim). Every replica's share is read from DynamoDB (LeaseOwner of
each execution) and from its own trackers; the final statuses are compared with drssim's truth.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from tests.conftest import RunningDaemon, Tables, start_daemon
from tests.integration.support import seed_single_server_executions, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXECUTIONS = 300
# Three daemons and moto share this process (and 2 busy cores): slower polls and finder passes
# than the suite's, and leases long enough that a stalled event loop is not taken for a dead
# replica (that would be a takeover, not the sharing under test).
QUIET = {
    "interval_launching_seconds": 2.0,
    "interval_pending_seconds": 2.0,
    "interval_started_seconds": 2.0,
    "interval_in_progress_seconds": 2.0,
    "interval_default_seconds": 2.0,
    "idle_write_seconds": 120.0,
    "finder_period_seconds": 1.0,
    "lease_seconds": 30.0,
    "heartbeat_seconds": 2.0,
}
# A bound, not a pace: a split is usually seen within seconds; on a loaded 2-core machine with
# other test workers the 300 claims queue behind moto (one request at a time).
SPLIT_WAIT_SECONDS = 240


def _owners(dynamodb: Any, table: str) -> Counter[str]:
    """LeaseOwner of every POLLING execution (a consistent scan of the table)."""
    owners: Counter[str] = Counter()
    params: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "ProjectionExpression": "ExecutionId, LeaseOwner, #s",
        "ExpressionAttributeNames": {"#s": "Status"},
    }
    while True:
        page = dynamodb.scan(**params)
        for item in page["Items"]:
            if item.get("Status", {}).get("S") == "POLLING":
                owners[item.get("LeaseOwner", {}).get("S", "<none>")] += 1
        if "LastEvaluatedKey" not in page:
            return owners
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _items(dynamodb: Any, table: str, ids: list[str]) -> list[dict[str, Any]]:
    """The seeded execution items (a consistent scan: one call a page, not one per item)."""
    wanted, found = set(ids), []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**params)
        found += [i for i in page["Items"] if i["ExecutionId"]["S"] in wanted]
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _split_evenly(owners: Counter[str], replicas: list[str], total: int) -> bool:
    """Every execution owned by one of ``replicas``, each within ±20 % of an even share."""
    even = total / len(replicas)
    return sum(owners[r] for r in replicas) == total and all(
        0.8 * even <= owners[r] <= 1.2 * even for r in replicas
    )


async def test_three_replicas_split_300_executions_and_re_split_after_one_stops(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any
) -> None:
    names = ["replica-a", "replica-b", "replica-c"]
    replicas: dict[str, RunningDaemon] = {}

    async def split(among: list[str], what: str) -> Counter[str]:
        """Wait until each replica's trackers, then DynamoDB's lease owners, show an even split."""
        await wait_until(
            lambda: Counter({n: len(replicas[n].daemon.scheduler.running) for n in among}),
            lambda tracked: _split_evenly(tracked, among, EXECUTIONS),
            SPLIT_WAIT_SECONDS,
            f"{what} (trackers)",
        )
        owners: Counter[str] = await wait_until(
            lambda: _owners(dynamodb, tables.executions),
            lambda o: _split_evenly(o, among, EXECUTIONS),
            SPLIT_WAIT_SECONDS,
            f"{what} (lease owners)",
            every=1.0,  # a scan of 300 items: moto serves one request at a time, the replicas too
        )
        return owners

    try:
        with sim.control.drs_progression() as drs:
            ids = seed_single_server_executions(dynamodb, tables.executions, sim.endpoint_url, EXECUTIONS)
            for name in names[:2]:
                replicas[name] = await start_daemon(make_settings(replica_id=name, **QUIET))
            await split(names[:2], "two replicas share 300")

            replicas["replica-c"] = await start_daemon(make_settings(replica_id="replica-c", **QUIET))
            await split(names, "a joining replica gets its share")

            stopped = replicas.pop("replica-b")
            stopped.stop.set()
            await asyncio.wait_for(stopped.task, 15)
            survivors = ["replica-a", "replica-c"]
            await split(survivors, "the survivors re-split")

            drs.advance_drs_phase("COMPLETED")
            finals = await wait_until(
                lambda: _items(dynamodb, tables.executions, ids),
                lambda items: all(i["Status"]["S"] == "COMPLETED" for i in items),
                90,
                "every execution COMPLETED",
                every=1.0,
            )
    finally:
        for running in replicas.values():
            running.stop.set()
        await asyncio.gather(*(asyncio.wait_for(r.task, 15) for r in replicas.values()))

    truth = {j["jobID"]: j for j in sim.control.truth()}
    for item in finals:
        server = item["Waves"]["L"][0]["M"]["Servers"]["L"][0]["M"]
        real = truth[server["RecoveryJobId"]["S"]]["servers"][0]
        assert server["Status"]["S"] == real["launchStatus"] == "LAUNCHED"
        assert server["InstanceId"]["S"] == real["recoveryInstanceID"]
