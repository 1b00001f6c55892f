"""Fixtures shared by the integration tests: real servers on 127.0.0.1, nothing patched.

- one moto server (DynamoDB, EventBridge) per test session, fresh tables per test;
- one drssim per test, speaking the real DRS wire protocol;
- the daemon in the test's event loop with fast intervals, talking to both over sockets.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import pytest_asyncio
from drssim.testing import RunningSimulator, running_simulator
from poller_devtools.local import running_moto_server, use_local_credentials

from poller.config import Settings
from poller.runtime.daemon import Daemon, run_daemon
from poller.store.tables import execution_table_definition, plans_table_definition

FAST_INTERVALS: dict[str, Any] = {
    "interval_pending_seconds": 0.3,
    "interval_started_seconds": 0.1,
    "interval_in_progress_seconds": 0.2,
    "interval_launching_seconds": 0.1,
    "interval_post_launch_seconds": 0.2,
    "interval_default_seconds": 0.2,
    "finder_period_seconds": 0.2,
    "batch_window_seconds": 0.05,
    "retry_backoff_max_seconds": 1.0,
    "aws_max_attempts": 2,
    "lease_seconds": 2.0,
    "heartbeat_seconds": 0.5,
    "idle_write_seconds": 0.5,
    # a launch waiting on a job that just ended (a retried server) re-reads DRS within half a
    # second, not the production 10 s: a test's bounded wait must not race the refresh period
    "capacity_refresh_seconds": 0.5,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` first (a stable sort: the rest keep their order). Under xdist
    (``make test``) the workers start them at once, so none of them is the last to start while
    the other workers sit idle; a plain run is only reordered."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _local_credentials() -> None:
    use_local_credentials()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with running_moto_server() as url:
        yield url


@dataclass(frozen=True)
class Tables:
    executions: str
    plans: str
    index: str = "StatusIndex"


@pytest.fixture
def dynamodb(moto_url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1")


@pytest.fixture
def tables(dynamodb: Any) -> Iterator[Tables]:
    names = Tables(f"executions-{uuid.uuid4().hex[:8]}", f"plans-{uuid.uuid4().hex[:8]}")
    dynamodb.create_table(**execution_table_definition(names.executions, names.index))
    dynamodb.create_table(**plans_table_definition(names.plans))
    yield names
    for name in (names.executions, names.plans):
        dynamodb.delete_table(TableName=name)


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=1.0, seed=7) as running:
        yield running


@pytest.fixture
def make_settings(moto_url: str, sim: RunningSimulator, tables: Tables) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "table_name": tables.executions,
            "plans_table_name": tables.plans,
            "status_index_name": tables.index,
            "dynamodb_endpoint_url": moto_url,
            "events_endpoint_url": moto_url,
            "drs_endpoint_url": sim.endpoint_url,
            "drs_regions": ["us-east-1", "us-west-2"],
            "http_port": 0,
            "log_format": "json",
            "shutdown_grace_seconds": 5.0,
            **FAST_INTERVALS,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@dataclass
class RunningDaemon:
    daemon: Daemon
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.port}"


async def start_daemon(settings: Settings) -> RunningDaemon:
    stop = asyncio.Event()
    ready: asyncio.Future[Daemon] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_daemon(settings, stop, on_ready=ready.set_result))
    daemon = await asyncio.wait_for(ready, timeout=10)
    for _ in range(100):
        if daemon.port is not None:
            break
        await asyncio.sleep(0.05)
    return RunningDaemon(daemon, stop, task)


@asynccontextmanager
async def daemon_running(settings: Settings) -> AsyncIterator[RunningDaemon]:
    """A daemon in this event loop for the block, stopped gracefully after it: the one way tests
    start an in-process daemon (the ``running_daemon`` fixture is this with the test's settings)."""
    running = await start_daemon(settings)
    try:
        yield running
    finally:
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=15)


@pytest_asyncio.fixture
async def running_daemon(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningDaemon]:
    async with daemon_running(make_settings()) as running:
        yield running
