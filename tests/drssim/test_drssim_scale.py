"""Scale, async client and process entry points."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aioboto3
from botocore.config import Config
from drssim.cli import build_parser
from drssim.testing import RunningSimulator, running_simulator

from tests.ids import source_server_id

ROOT = Path(__file__).resolve().parents[2]


async def test_1000_concurrent_jobs_via_aioboto3(sim: RunningSimulator) -> None:
    session = aioboto3.Session()
    cfg = Config(max_pool_connections=50, retries={"mode": "standard", "max_attempts": 4})
    async with session.client(
        "drs",
        endpoint_url=sim.endpoint_url,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=cfg,
    ) as drs:

        async def one() -> str:
            resp = await drs.start_recovery(
                sourceServers=[{"sourceServerID": source_server_id()}], isDrill=True
            )
            return str(resp["job"]["jobID"])

        ids = await asyncio.gather(*(one() for _ in range(1000)))
        assert len(set(ids)) == 1000
        sim.control.advance_drs_phase("IN_PROGRESS", ids[:500])
        t0 = time.perf_counter()
        resp = await drs.describe_jobs(filters={"jobIDs": ids})
        elapsed = time.perf_counter() - t0
        items = resp["items"]
        assert [i["jobID"] for i in items] == ids and "nextToken" not in resp
        assert {i["participatingServers"][0]["launchStatus"] for i in items[:500]} == {"IN_PROGRESS"}
        assert {i["status"] for i in items[500:]} == {"PENDING"}
        assert elapsed < 2.0, elapsed
    calls = sim.control.calls(region="eu-central-1", operation="DescribeJobs")
    assert [c["jobIDs"] for c in calls] == [1000]


def test_two_simulators_get_distinct_free_ports_and_stop_cleanly() -> None:
    with running_simulator(seed=1) as a, running_simulator(seed=1) as b:
        assert a.port != b.port and a.port > 0
        assert a.control.health()["ok"] and b.control.health()["ok"]
        url = a.endpoint_url
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url + "/_sim/health", timeout=2)
        raise AssertionError("simulator still serving after exit")
    except (urllib.error.URLError, ConnectionError):
        pass


def test_seeded_simulators_are_deterministic() -> None:
    ids = []
    for _ in range(2):
        with running_simulator(seed=42, time_scale=0) as s:
            ids.append(s.control.create_source_servers(3) + s.control.bulk_jobs(2))
    assert ids[0] == ids[1]


def test_cli_parser_and_help() -> None:
    args = build_parser().parse_args(["serve", "--port", "0", "--time-scale", "60", "--seed", "3"])
    assert (args.port, args.time_scale, args.seed, args.strict_source_servers) == (0, 60.0, 3, False)
    out = subprocess.run(
        [sys.executable, "-m", "drssim", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert "--time-scale" in out.stdout and "--strict-source-servers" in out.stdout
