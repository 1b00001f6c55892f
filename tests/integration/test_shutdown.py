"""SIGTERM mid-poll: the daemon process stops finding, finishes its writes and exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from drssim.testing import RunningSimulator
from poller_devtools.local import free_port

from poller.domain.model import execution_from_item
from tests.conftest import Tables
from tests.integration.support import (
    SeedWave,
    all_servers,
    daemon_process_env,
    get_execution_from_dynamodb,
    seed_execution,
    source_server_id,
)

pytestmark = [pytest.mark.integration]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not up within {timeout} s")


def test_sigterm_mid_poll_exits_zero_and_leaves_whole_items(
    dynamodb: Any, tables: Tables, sim: RunningSimulator, moto_url: str
) -> None:
    seeded = [
        seed_execution(
            dynamodb, tables.executions, sim.endpoint_url, [SeedWave("us-east-1", [source_server_id()])]
        )
        for _ in range(20)
    ]
    sim.control.inject_latency(300, operations=["DescribeJobs"])  # keep polls in flight when SIGTERM lands
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "poller", "run"],
        env=daemon_process_env(moto_url, sim.endpoint_url, tables.executions, tables.plans, http_port=port),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/readyz", 20)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    assert '"daemon_stopped"' in stderr
    for s in seeded:
        item = get_execution_from_dynamodb(dynamodb, tables.executions, s.execution_id)
        execution = execution_from_item(item)  # every item is whole and readable
        assert execution.Version >= 1
        assert all(x["Status"] in ("PENDING", "LAUNCHING") for x in all_servers(item))
