"""SIGTERM while a StartRecovery hangs and completion events are on their way: the daemon stops
within its one deadline (``shutdown_grace_seconds``, which the template's StopTimeout exceeds) and
every event is delivered.

Before, the launch was awaited to its own timeout (a quarter of the claim timeout), then the
trackers got the whole grace, then the events the whole grace again: far past StopTimeout, so
SIGKILL dropped the events still held in memory.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from drssim.testing import RunningSimulator
from prometheus_client import REGISTRY

from poller.config import Settings
from poller.domain.model import Execution, execution_from_item
from tests.conftest import Tables, start_daemon
from tests.deploy.test_template import EXIT_AFTER_DEADLINE_SECONDS
from tests.integration.support import (
    api,
    create_test_plan_with_waves,
    get_execution_from_dynamodb,
    source_server_id,
    wait_until,
)

pytestmark = [pytest.mark.integration]

GRACE_SECONDS = 4.0
EVENT_DELAY_SECONDS = 1.0  # each PutEvents takes this long: the events are in flight at SIGTERM
HUNG_CALL_SECONDS = 600.0  # StartRecovery never answers within the test


@asynccontextmanager
async def _slow_forwarder(target: str, delay: Callable[[str], float]) -> AsyncIterator[str]:
    """An HTTP hop on 127.0.0.1 that holds each request ``delay(path)`` seconds, then forwards it;
    requests still held when it closes are dropped."""
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(delay(request.path))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.request(
            request.method, target + request.path_qs, data=body, headers=headers
        ) as up:
            payload = await up.read()
            return web.Response(status=up.status, body=payload, content_type=up.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await session.close()


def _finished_execution() -> Execution:
    now = time.time()
    server = {
        "SourceServerId": source_server_id(),
        "RecoveryJobId": "drsjob-" + "0" * 17,
        "Status": "LAUNCHED",
    }
    return execution_from_item(
        {
            "ExecutionId": f"exec-{uuid.uuid4().hex[:12]}",
            "PlanId": "plan-shutdown",
            "ExecutionType": "DRILL",
            "Status": "COMPLETED",
            "StartTime": now - 60,
            "EndTime": now,
            "Waves": [
                {"WaveName": "Wave-1", "Region": "us-east-1", "Status": "COMPLETED", "Servers": [server]}
            ],
            "Version": 3,
        }
    )


def _published_ok() -> float:
    return REGISTRY.get_sample_value("poller_events_published_total", {"outcome": "ok"}) or 0.0


async def test_sigterm_during_a_launch_with_events_pending_ends_within_the_deadline(
    dynamodb: Any,
    tables: Tables,
    sim: RunningSimulator,
    moto_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    bus = f"drs-events-{uuid.uuid4().hex[:8]}"
    boto3.client("events", endpoint_url=moto_url, region_name="us-east-1").create_event_bus(Name=bus)
    hang_start_recovery = _slow_forwarder(
        sim.endpoint_url, lambda path: HUNG_CALL_SECONDS if path.endswith("/StartRecovery") else 0.0
    )
    slow_events = _slow_forwarder(moto_url, lambda _: EVENT_DELAY_SECONDS)
    async with hang_start_recovery as drs_url, slow_events as events_url:
        settings = make_settings(
            drs_endpoint_url=drs_url,
            event_bus_name=bus,
            events_endpoint_url=events_url,
            shutdown_grace_seconds=GRACE_SECONDS,
            launch_claim_timeout_seconds=600,  # the launcher's own StartRecovery timeout: 150 s
        )
        running = await start_daemon(settings)
        try:
            plan = await create_test_plan_with_waves(running.url, num_waves=1, servers_per_wave=1)
            response = await api(
                "POST", f"{running.url}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"}
            )
            assert response.status_code == 202, response.text
            execution_id = response.json()["executionId"]
            await wait_until(
                lambda: get_execution_from_dynamodb(dynamodb, tables.executions, execution_id),
                lambda item: "LaunchClaimedAt" in item["Waves"][0],
                10,
                "the wave's launch claim (StartRecovery follows it)",
            )
            finished = [_finished_execution() for _ in range(3)]
            before = _published_ok()
            for execution in finished:
                running.daemon.events.on_terminal(execution)

            running.stop.set()  # what SIGTERM does in `poller run`
            started = time.monotonic()
            await asyncio.wait_for(running.task, timeout=GRACE_SECONDS + EXIT_AFTER_DEADLINE_SECONDS)
            stopped_after = time.monotonic() - started
        finally:
            if not running.task.done():
                running.task.cancel()
                await asyncio.gather(running.task, return_exceptions=True)

    assert _published_ok() == before + len(finished), "a completion event was lost at shutdown"
    assert stopped_after <= GRACE_SECONDS + EXIT_AFTER_DEADLINE_SECONDS
    # The launch cut short keeps its claim: whoever owns the execution next reconciles it with DRS.
    item = get_execution_from_dynamodb(dynamodb, tables.executions, execution_id)
    assert item["Waves"][0]["Status"] == "PENDING" and "LaunchToken" in item["Waves"][0]
