"""Hostile items in the table: the good executions complete, the malformed ones are not touched.

Forty malformed items from one seeded hypothesis draw (:mod:`tests.reliability.hostile`) are
written straight into moto in POLLING next to good executions and items whose jobs DRS never
heard of. Malformed items must come back byte-for-byte as written, each logged with its key
and counted once in ``poller_malformed_items_total``; the loop must go on finding.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from drssim.testing import RunningSimulator

from poller.store.dynamodb import serialize
from tests.conftest import Tables, daemon_running
from tests.integration.support import (
    SeedWave,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
    wait_until,
)
from tests.prom import sample
from tests.reliability.conftest import JsonLogs
from tests.reliability.hostile import KINDS, base_item, draw_hostile_items, is_malformed
from tests.reliability.oracle import TERMINAL, mismatch

pytestmark = [pytest.mark.integration]

HOSTILE_COUNT = 40


def _raw(dynamodb: Any, table: str, execution_id: str) -> dict[str, Any]:
    """The item exactly as DynamoDB returns it (AttributeValue form, nothing deserialized)."""
    item: dict[str, Any] = dynamodb.get_item(
        TableName=table, Key={"ExecutionId": {"S": execution_id}}, ConsistentRead=True
    )["Item"]
    return item


@pytest.mark.slow
async def test_malformed_items_are_left_untouched_logged_and_counted_while_good_ones_complete(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, make_settings: Any, json_logs: JsonLogs
) -> None:
    hostile = draw_hostile_items(HOSTILE_COUNT)
    assert len(hostile) == HOSTILE_COUNT and all(is_malformed(item) for _, item in hostile)
    assert set(Counter(kind for kind, _ in hostile)) == set(KINDS), "the draw must cover every kind"
    for _, item in hostile:
        dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    strangers = [base_item() for _ in range(2)]  # well-formed, but their job IDs are unknown to DRS
    for item in strangers:
        dynamodb.put_item(TableName=tables.executions, Item=serialize(item))
    sim.control.set_time_scale(300.0)
    good = []
    for i in range(5):
        waves = [SeedWave("us-east-1", [source_server_id(), source_server_id()])]
        seeded = seed_execution(dynamodb, tables.executions, sim.endpoint_url, waves)
        if i == 2:
            sim.control.fail_server(waves[0].job_id or "", waves[0].servers[0])
        good.append(seeded.execution_id)
    hostile_ids = [str(item["ExecutionId"]) for _, item in hostile]
    written = {i: _raw(dynamodb, tables.executions, i) for i in hostile_ids}
    malformed_before = sample("poller_malformed_items_total")
    missing_before = sample("poller_missing_jobs_total")

    async with daemon_running(make_settings(timeout_seconds=600)) as running:
        items = await wait_until(
            lambda: [get_execution_from_dynamodb(dynamodb, tables.executions, i) for i in good],
            lambda items: all(item["Status"] in TERMINAL for item in items),
            40,
            "the good executions terminal",
        )
        logged = await wait_until(
            lambda: {e.get("key") for e in json_logs.events("malformed_item")},
            lambda keys: keys >= set(hostile_ids),
            15,
            "every malformed item logged with its key",
        )
        # A few more finder passes after all were logged: the loop goes on, and nothing may touch
        # the malformed items later either. Counted in passes, not seconds: CI machines are noisy.
        finder_runs = sample("poller_finder_runs_total", outcome="ok")
        await wait_until(
            lambda: sample("poller_finder_runs_total", outcome="ok"),
            lambda runs: runs >= finder_runs + 3,
            20,
            "three more finder passes (the finder loop must not stop)",
        )
        assert not running.task.done()

    truth = {job["jobID"]: job for job in sim.control.truth()}
    assert [m for item in items if (m := mismatch(item, truth))] == []
    changed = [i for i in hostile_ids if _raw(dynamodb, tables.executions, i) != written[i]]
    assert changed == [], "malformed items were modified"
    assert logged >= set(hostile_ids)
    assert sample("poller_malformed_items_total") - malformed_before == HOSTILE_COUNT  # once each
    refused = [c for c in sim.control.calls("DescribeJobs") if c["outcome"] != "OK"]
    assert refused == [], "a malformed job ID joined a DescribeJobs call"
    assert not json_logs.events("tracker_crashed"), "an item crashed its tracker instead of being quarantined"
    for event in json_logs.events("malformed_item"):
        assert event["level"] == "error" and event["field"] and event["reason"]
    for item in strangers:  # unknown jobs: servers untouched and counted, still POLLING
        after = get_execution_from_dynamodb(dynamodb, tables.executions, str(item["ExecutionId"]))
        assert after["Status"] == "POLLING"
        assert [s["Status"] for s in after["Waves"][0]["Servers"]] == ["LAUNCHING", "LAUNCHING"]
    assert sample("poller_missing_jobs_total") > missing_before
    assert json_logs.events("jobs_missing_from_drs")
