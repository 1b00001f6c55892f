"""/readyz is what the load balancer and the deployment circuit breaker watch (deploy/poller.yaml):
it fails while DynamoDB cannot be read and recovers with it; /healthz (the container health check,
which restarts the task) stays 200 throughout, since a restart does not bring DynamoDB back. The
failures are counted in the series the CloudWatch alarms read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from poller_devtools.faultproxy import running_fault_proxy

from poller.config import Settings
from tests.integration.support import api, daemon_running, metric_value

pytestmark = [pytest.mark.integration]

READY_MAX_AGE_SECONDS = 1.0


async def _get(url: str) -> Any:
    return await api("GET", url, timeout=5)


async def _wait_for(url: str, accept: Callable[[Any], bool], what: str) -> Any:
    """GET ``url`` until ``accept(response)`` (the daemon serves it from this test's loop)."""
    deadline = time.monotonic() + 30
    while True:
        response = await _get(url)
        if accept(response):
            return response
        assert time.monotonic() < deadline, (
            f"{url}: never {what}; last {response.status_code} {response.text}"
        )
        await asyncio.sleep(0.1)


async def _wait_ready(url: str, status: int, what: str) -> Any:
    return await _wait_for(f"{url}/readyz", lambda r: r.status_code == status, what)


async def test_readyz_fails_while_dynamodb_is_unreadable_and_healthz_does_not(
    moto_url: str, make_settings: Callable[..., Settings]
) -> None:
    with running_fault_proxy(moto_url, seed=5) as proxy:
        settings = make_settings(dynamodb_endpoint_url=proxy.url, ready_max_age_seconds=READY_MAX_AGE_SECONDS)
        async with daemon_running(settings) as running:
            await _wait_ready(running.url, 200, "DynamoDB reachable")

            proxy.set_rates(error=1.0)  # every DynamoDB call answers 500
            await _wait_ready(running.url, 503, "DynamoDB failing")
            metrics = await _wait_for(
                f"{running.url}/metrics",
                lambda r: metric_value(r.text, "poller_finder_runs_total", outcome="error") >= 1,
                "a failed finder pass counted",
            )
            assert metric_value(metrics.text, "poller_dynamodb_failures_total") >= 1
            down = await _get(f"{running.url}/readyz")  # no pass can succeed while every call fails
            assert down.status_code == 503 and down.json()["last_finder_error"], down.text
            assert (await _get(f"{running.url}/healthz")).status_code == 200

            proxy.set_rates()  # DynamoDB back
            up = await _wait_ready(running.url, 200, "DynamoDB back")
            assert up.json()["last_finder_error"] is None
