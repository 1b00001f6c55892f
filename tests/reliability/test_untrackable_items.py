"""Items no retry can help: quarantined once, and never allowed to hurt the executions beside them.

Finding 1: an item whose job ID is not a DRS job ID used to join the region's shared DescribeJobs;
DRS (here drssim, which validates as DRS does) refused the whole call, and every execution in the
batch failed its poll. Finding 5: items whose data crashed their tracker (a Version DynamoDB cannot
increment, a wave in a region not served, a numeric LeaseOwner) were retried at every finder pass.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from drssim.testing import RunningSimulator
from prometheus_client import REGISTRY

from poller.store.dynamodb import serialize
from tests.conftest import Tables, daemon_running
from tests.integration.support import (
    SeedWave,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
    wait_until,
)
from tests.reliability.conftest import JsonLogs
from tests.reliability.hostile import base_item
from tests.reliability.oracle import TERMINAL

pytestmark = [pytest.mark.integration]

BAD_JOB_IDS = ("not-a-job", "drsjob-" + "a" * 9_993, "drsjob-" + "a" * 17 + "\n", "drsjob-" + "a" * 16 + "-")


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _raw(dynamodb: Any, table: str, execution_id: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(
        TableName=table, Key={"ExecutionId": {"S": execution_id}}, ConsistentRead=True
    )["Item"]
    return item


def _bad_job_item(job_id: str) -> dict[str, Any]:
    item = base_item()
    for server in item["Waves"][0]["Servers"]:
        server["RecoveryJobId"] = job_id
    return item


async def _run_until_quarantined(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    make_settings: Any,
    json_logs: JsonLogs,
    untrackable: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], float]:
    """Seed ``untrackable`` next to three good drills, run the daemon until the drills end and
    every untrackable item was logged, then three more finder passes. Returns the drills'
    items and how many malformed items were counted."""
    for item in untrackable:
        dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    sim.control.set_time_scale(300.0)
    good = [
        seed_execution(
            dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", [source_server_id()])]
        ).execution_id
        for _ in range(3)
    ]
    keys = {str(item["ExecutionId"]) for item in untrackable}
    written = {k: _raw(dynamodb, tables.executions, k) for k in keys}
    malformed_before = _value("poller_malformed_items_total")
    async with daemon_running(make_settings(timeout_seconds=600)):
        items = await wait_until(
            lambda: [get_execution_from_dynamodb(dynamodb, tables.executions, i) for i in good],
            lambda items: all(item["Status"] in TERMINAL for item in items),
            60,
            "the good drills terminal",
        )
        await wait_until(
            lambda: {e.get("key") for e in json_logs.events("malformed_item")},
            lambda logged: logged >= keys,
            20,
            "every untrackable item logged with its key",
        )
        runs = _value("poller_finder_runs_total", {"outcome": "ok"})
        await wait_until(
            lambda: _value("poller_finder_runs_total", {"outcome": "ok"}),
            lambda now: now >= runs + 3,
            20,
            "three more finder passes",
        )
    assert [k for k in keys if _raw(dynamodb, tables.executions, k) != written[k]] == [], "touched"
    logged = [e.get("key") for e in json_logs.events("malformed_item")]
    assert sorted(k for k in logged if k in keys) == sorted(keys), "each logged exactly once"
    return items, _value("poller_malformed_items_total") - malformed_before


@pytest.mark.slow
async def test_bad_job_ids_are_quarantined_and_never_reach_describe_jobs(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any, json_logs: JsonLogs
) -> None:
    bad = [_bad_job_item(BAD_JOB_IDS[i % len(BAD_JOB_IDS)]) for i in range(20)]
    sim.control.clear_calls()
    items, malformed = await _run_until_quarantined(dynamodb, tables, sim, make_settings, json_logs, bad)
    assert [item["Status"] for item in items] == ["COMPLETED"] * 3
    assert malformed == len(bad)
    describes = sim.control.calls("DescribeJobs")
    assert describes, "the drills were polled"
    assert [c for c in describes if c["outcome"] != "OK"] == [], "a DescribeJobs call was refused"
    assert not json_logs.events("poll_failed")
    for event in json_logs.events("malformed_item"):
        assert event["field"].endswith("RecoveryJobId") and len(event["reason"]) < 300


async def test_items_that_would_crash_their_tracker_are_quarantined_once(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any, json_logs: JsonLogs
) -> None:
    huge_version = base_item()
    huge_version["Version"] = Decimal("9.9E+125")
    huge_attempts = base_item()
    huge_attempts["Waves"][0]["Servers"][0]["PollAttempts"] = Decimal("9.9E+125")
    unserved = base_item(region="eu-north-1")  # the daemon serves us-east-1 and us-west-2
    numeric_owner = base_item()
    numeric_owner["LeaseOwner"] = Decimal(7)
    odd_expiry = base_item()
    odd_expiry["LeaseOwner"] = "replica-" + uuid.uuid4().hex[:6]
    odd_expiry["LeaseExpiry"] = "tomorrow"
    hostile = [huge_version, huge_attempts, unserved, numeric_owner, odd_expiry]
    crashes_before = _value("poller_poll_failures_total", {"reason": "crash"})
    items, malformed = await _run_until_quarantined(dynamodb, tables, sim, make_settings, json_logs, hostile)
    assert [item["Status"] for item in items] == ["COMPLETED"] * 3
    assert malformed == len(hostile)
    assert _value("poller_poll_failures_total", {"reason": "crash"}) == crashes_before
    assert not json_logs.events("tracker_crashed")
    fields = {e["key"]: e["field"] for e in json_logs.events("malformed_item")}
    assert fields[huge_version["ExecutionId"]] == "Version"
    assert fields[unserved["ExecutionId"]] == "Waves.0.Region"
    assert fields[numeric_owner["ExecutionId"]] == "LeaseOwner"
    assert fields[odd_expiry["ExecutionId"]] == "LeaseExpiry"
