"""Every series a CloudWatch alarm of deploy/poller.yaml reads is in /metrics from start-up, at 0.

The ADOT awsemf exporter sends counters as deltas between scrapes. A series that first appears
already incremented gives the exporter nothing to subtract from, so (without
``retain_initial_value_of_delta_metric``) that first increment - the first TIMEOUT, the first
rejected launch - never reaches the alarm. Started at 0, the first scrape is the baseline and the
first event is a delta of 1. Checked on a real ``poller run`` process, fresh, so no other test's
increments are in its registry.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from drssim.testing import RunningSimulator
from poller_devtools.local import free_port
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tables
from tests.deploy.test_template import _poller_alarms
from tests.integration.support import daemon_process_env

pytestmark = [pytest.mark.integration]


def _scrape_when_up(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _series(text: str) -> list[tuple[str, dict[str, str], float, str]]:
    """(sample name, labels, value, family type) of every sample."""
    return [
        (sample.name, sample.labels, sample.value, family.type)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _alarmed(
    samples: list[tuple[str, dict[str, str], float, str]], metric: str, dims: dict[str, str]
) -> list[Any]:
    """The samples an alarm on CloudWatch ``metric`` with ``dims`` aggregates (the collector
    adds the constant "service" dimension; a histogram arrives as its count and sum)."""
    wanted = {k: v for k, v in dims.items() if k != "service"}
    names = {metric, f"{metric}_count"}
    return [s for s in samples if s[0] in names and wanted.items() <= s[1].items()]


def test_every_alarmed_series_is_exported_at_zero_from_start_up(
    tables: Tables, sim: RunningSimulator, moto_url: str
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "poller", "run"],
        env=daemon_process_env(moto_url, sim.endpoint_url, tables.executions, tables.plans, http_port=port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        samples = _series(_scrape_when_up(f"http://127.0.0.1:{port}/metrics", 30))
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    alarms = _poller_alarms()
    assert len(alarms) >= 9
    for name, alarm in alarms.items():
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        found = _alarmed(samples, alarm["MetricName"], dims)
        assert found, f"{name}: {alarm['MetricName']}{dims} is not in /metrics at start-up"
        for sample_name, labels, value, kind in found:
            if kind == "counter":
                assert value == 0, f"{name}: {sample_name}{labels} = {value} at start-up"
    assert proc.returncode == 0, stderr[-2000:]
