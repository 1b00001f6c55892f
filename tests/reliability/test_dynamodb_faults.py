"""DynamoDB and DRS misbehaving at once: every execution still ends as DRS says, and /readyz tells.

The daemon talks to moto through :mod:`poller_devtools.faultproxy` (throttling, 500s, timeouts, dropped
connections and lost answers to writes that landed) and to drssim with its own throttling, 5xx
and latency. Seeding and reading back go straight to moto.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp
import pytest
from drssim.testing import RunningSimulator
from poller_devtools.faultproxy import FaultProxy

from tests.conftest import Tables, daemon_running, start_daemon
from tests.integration.support import (
    SeedWave,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
    wait_until,
)
from tests.prom import sample
from tests.reliability.conftest import READ_TIMEOUT_SECONDS
from tests.reliability.oracle import TERMINAL, mismatch

pytestmark = [pytest.mark.integration]

TIME_SCALE = 300.0  # a drill's ~20 simulated minutes take ~4 s


def _crashes() -> float:
    return sample("poller_poll_failures_total", reason="crash")


def _seed_mixed(dynamodb: Any, tables: Tables, sim: RunningSimulator, count: int) -> list[str]:
    """``count`` executions of 1-3 waves in two regions; about a third get failed servers."""
    rng = random.Random(5)
    ids: list[str] = []
    for i in range(count):
        waves = [
            SeedWave(
                rng.choice(["us-east-1", "us-west-2"]), [source_server_id() for _ in range(rng.randint(1, 3))]
            )
            for _ in range(rng.randint(1, 3))
        ]
        seeded = seed_execution(dynamodb, tables.executions, sim.endpoint_url, waves)
        if i % 3 == 1:  # fail one server of the first wave: PARTIAL (or FAILED for a lone server)
            sim.control.fail_server(waves[0].job_id or "", waves[0].servers[0], "injected launch failure")
        if i % 6 == 4:  # fail every server of every wave: FAILED
            for wave in waves:
                for server in wave.servers:
                    sim.control.fail_server(wave.job_id or "", server, "injected launch failure")
        ids.append(seeded.execution_id)
    return ids


@pytest.mark.slow
async def test_executions_reach_drs_ground_truth_through_dynamodb_and_drs_faults(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, proxy: FaultProxy, make_settings: Any
) -> None:
    sim.control.set_time_scale(TIME_SCALE)
    ids = _seed_mixed(dynamodb, tables, sim, 9)
    sim.control.inject_throttling(rate=0.2, operations=["DescribeJobs"], retry_after_seconds=0)
    sim.control.inject_errors(rate=0.05, operations=["DescribeJobs"], status=503)
    sim.control.inject_latency(ms=40, operations=["DescribeJobs"])
    proxy.set_rates(throughput_exceeded=0.2, error=0.05, timeout=0.02, drop=0.02, drop_response=0.02)
    settings = make_settings(
        dynamodb_endpoint_url=proxy.url, aws_read_timeout_seconds=READ_TIMEOUT_SECONDS, timeout_seconds=600
    )
    async with daemon_running(settings) as running:
        items = await wait_until(
            lambda: [get_execution_from_dynamodb(dynamodb, tables.executions, i) for i in ids],
            lambda items: all(item["Status"] in TERMINAL for item in items),
            45,
            "every execution terminal",
        )
        assert not running.task.done(), "the daemon stopped by itself"
    truth = {job["jobID"]: job for job in sim.control.truth()}
    problems = [m for item in items if (m := mismatch(item, truth)) is not None]
    assert problems == []
    assert {item["Status"] for item in items} >= {"COMPLETED", "PARTIAL", "FAILED"}  # the mix was real
    stats = proxy.stats()["injected"]
    assert stats["throughput_exceeded"] > 0 and stats["error"] > 0, stats  # the faults really happened


async def test_a_dynamodb_error_while_loading_an_item_is_retried_not_counted_as_a_tracker_crash(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, proxy: FaultProxy, make_settings: Any
) -> None:
    sim.control.set_time_scale(TIME_SCALE)
    seeded = seed_execution(
        dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", [source_server_id()])]
    )
    proxy.operations = frozenset({"GetItem"})
    proxy.set_rates(error=1.0)  # every GetItem fails: the tracker cannot read its item for a while
    crashes = _crashes()
    async with daemon_running(
        make_settings(dynamodb_endpoint_url=proxy.url, aws_read_timeout_seconds=READ_TIMEOUT_SECONDS)
    ):
        await wait_until(  # botocore's attempts of at least two GetItem calls all failed
            proxy.stats, lambda st: st["injected"]["error"] >= 6, 15, "GetItem calls failing"
        )
        proxy.set_rates()
        item = await wait_until(
            lambda: get_execution_from_dynamodb(dynamodb, tables.executions, seeded.execution_id),
            lambda e: e["Status"] in TERMINAL,
            20,
            "the execution terminal once GetItem works again",
        )
    assert item["Status"] == "COMPLETED"
    assert _crashes() == crashes


async def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as response:
        return response.status, await response.json()


async def _wait_readyz(url: str, status: int, timeout: float) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    body: dict[str, Any] = {}
    while time.monotonic() - start < timeout:
        got, body = await _readyz(url)
        if got == status:
            return time.monotonic() - start, body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz did not answer {status} within {timeout} s; last body {body}")


@pytest.mark.parametrize(
    "outage",
    [{"error": 1.0}, {"throughput_exceeded": 1.0}, {"timeout": 1.0}, {"drop": 1.0}],
    ids=["500s", "throttled", "hanging", "dropped"],
)
async def test_readyz_fails_during_a_dynamodb_outage_and_recovers_after_it(
    tables: Tables, proxy: FaultProxy, make_settings: Any, outage: dict[str, float]
) -> None:
    max_age = 2.0
    settings = make_settings(
        dynamodb_endpoint_url=proxy.url,
        aws_read_timeout_seconds=READ_TIMEOUT_SECONDS,
        ready_max_age_seconds=max_age,
    )
    running = await start_daemon(settings)
    try:
        await _wait_readyz(running.url, 200, 10)
        proxy.set_rates(**outage)
        took, body = await _wait_readyz(running.url, 503, max_age + 5)
        assert took <= max_age + 3, took  # the last good query plus at most one slow finder pass
        assert body["status"] == "not_ready"
        assert (await _readyz(running.url))[0] == 503  # and it stays down while the outage lasts
        proxy.set_rates()
        await _wait_readyz(running.url, 200, 10)
        assert not running.task.done()
    finally:
        proxy.set_rates()
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=15)
