"""Shared fixtures: one in-process drssim per module, reset before every test.

Tests talk to it only over HTTP: the real boto3/aioboto3 ``drs`` client and SimControl.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from drssim.testing import RunningSimulator, running_simulator

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# Standard retry mode: throttles and 5xx are retried with short jittered backoff.
RETRY = Config(retries={"mode": "standard", "max_attempts": 4})


@pytest.fixture(scope="module")
def sim_server() -> Iterator[RunningSimulator]:
    with running_simulator(time_scale=0.0, seed=7) as sim:
        yield sim


@pytest.fixture
def sim(sim_server: RunningSimulator) -> RunningSimulator:
    """A clean simulator with a manual clock (time_scale 0): time moves only when advanced."""
    sim_server.control.reset()
    sim_server.control.set_time_scale(0.0)
    sim_server.control.set_strict_source_servers(False)
    return sim_server


DrsFactory = Callable[..., Any]


@pytest.fixture
def drs_factory(sim: RunningSimulator) -> DrsFactory:
    def make(region: str = "us-east-1", config: Config | None = None) -> Any:
        return boto3.client(
            "drs", endpoint_url=sim.endpoint_url, region_name=region, config=config or RETRY, **CREDS
        )

    return make


@pytest.fixture
def drs(drs_factory: DrsFactory) -> Any:
    """boto3 drs client in us-east-1."""
    return drs_factory()
