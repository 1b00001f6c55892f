"""Accuracy soak: many executions with random timelines, every final status checked against drssim.

Starts a local DynamoDB (``--dynamodb``: dynalite or moto, see ``bench/dynalite.py``), drssim at a
high time scale and the fault proxy in front of the local DynamoDB, seeds
``--executions`` POLLING executions with real DRS jobs (1-3 waves of 1-3 servers, two regions),
then gives them random timelines: some servers failed, some jobs held forever (they must end as
TIMEOUT once past ``--timeout-seconds``), DescribeJobs throttling and 5xx from drssim, DynamoDB
throttling / 500s / dropped connections from the proxy. The daemon runs until every execution is
terminal (or ``--deadline``); each item is compared with the expected outcome derived from
drssim's ground truth (``tests/reliability/oracle.py``).

    .venv/bin/python bench/bench_soak.py                      # 1,000 executions
    .venv/bin/python bench/bench_soak.py --dynamodb moto      # on moto (no Node.js needed)
    .venv/bin/python bench/bench_soak.py --executions 10000 --deadline 2400 --finder-period 15

Exit status 0 only when every execution is terminal and matches the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from botocore.config import Config
from drssim.testing import running_simulator
from poller_devtools.local import free_port, use_local_credentials

from bench import dynalite
from bench.harness import add_dynamodb_option, running_dynamodb
from poller import metrics
from poller.config import Settings
from poller.logs import configure_logging
from poller.runtime.daemon import run_daemon
from poller.store.dynamodb import deserialize, serialize
from poller.store.tables import execution_table_definition, plans_table_definition
from tests.reliability.oracle import TERMINAL, mismatch

REGIONS = ("us-east-1", "us-west-2")


def seed(args: argparse.Namespace, db: Any, table: str, drs_url: str, control: Any) -> dict[str, str]:
    """Write the executions; returns execution id -> planned timeline kind."""
    rng = random.Random(args.seed)
    drs = {
        r: boto3.client(
            "drs", endpoint_url=drs_url, region_name=r, config=Config(retries={"max_attempts": 0})
        )
        for r in REGIONS
    }
    kinds: dict[str, str] = {}
    for _ in range(args.executions):
        execution_id = f"soak-{uuid.uuid4().hex[:12]}"
        roll = rng.random()
        kind = (
            "stuck"
            if roll < args.stuck_rate
            else "failed"
            if roll < args.stuck_rate + args.fail_rate
            else "clean"
        )
        waves = []
        jobs: list[tuple[str, list[str]]] = []
        for w in range(rng.randint(1, 3)):
            region = rng.choice(REGIONS)
            servers = ["s-" + uuid.uuid4().hex[:17] for _ in range(rng.randint(1, 3))]
            job = drs[region].start_recovery(
                sourceServers=[{"sourceServerID": s} for s in servers], isDrill=True
            )
            job_id = str(job["job"]["jobID"])
            jobs.append((job_id, servers))
            waves.append(
                {
                    "WaveName": f"Wave-{w + 1}",
                    "Region": region,
                    "Status": "LAUNCHING",
                    "Servers": [
                        {"SourceServerId": s, "RecoveryJobId": job_id, "Status": "LAUNCHING"} for s in servers
                    ],
                }
            )
        if kind == "stuck":
            control.hold([rng.choice(jobs)[0]])
        elif kind == "failed":
            for job_id, servers in jobs:
                for server in servers:
                    if rng.random() < 0.5:
                        control.fail_server(job_id, server, "soak: injected launch failure")
        item = {
            "ExecutionId": execution_id,
            "PlanId": "soak-plan",
            "ExecutionType": "DRILL",
            "Status": "POLLING",
            "StartTime": Decimal(str(round(time.time(), 3))),
            "Waves": waves,
            "Version": 0,
        }
        db.put_item(TableName=table, Item=serialize(item))
        kinds[execution_id] = kind
    return kinds


class ProxyProcess:
    """``python -m poller_devtools.faultproxy`` as a child process, driven over its control endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, path: str, body: dict[str, float] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{self.url}/_faultproxy/{path}", data=data)) as r:
            return dict(json.loads(r.read()))

    def set_rates(self, **rates: float) -> None:
        self._call("rates", rates)

    def stats(self) -> dict[str, Any]:
        return self._call("stats")


@contextmanager
def proxy_process(target: str, hold_seconds: float, seed_value: int) -> Iterator[ProxyProcess]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "poller_devtools.faultproxy",
        "--target",
        target,
        "--listen-port",
        str(port),
    ]
    argv += ["--hold-seconds", str(hold_seconds), "--seed", str(seed_value)]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        proxy = ProxyProcess(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                proxy.stats()
                break
            except OSError:
                time.sleep(0.1)
        yield proxy
    finally:
        child.terminate()
        child.wait(timeout=10)


def polling_count(db: Any, table: str) -> int:
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": "StatusIndex",
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "Status"},
        "ExpressionAttributeValues": {":s": {"S": "POLLING"}},
        "Select": "COUNT",
    }
    total = 0
    while True:
        page = db.query(**params)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_all(db: Any, table: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    items = []
    for start in range(0, len(ids), 100):
        keys = [{"ExecutionId": {"S": i}} for i in ids[start : start + 100]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            page = db.batch_get_item(RequestItems=request)
            items.extend(deserialize(i) for i in page["Responses"].get(table, []))
            request = page.get("UnprocessedKeys") or {}
    return items


async def run(args: argparse.Namespace) -> int:
    use_local_credentials()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    configure_logging("ERROR", "json")
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as logs,
        running_dynamodb(args.dynamodb, Path(logs)) as dynamodb_url,  # a child: no GIL shared with the daemon
        running_simulator(time_scale=args.time_scale, seed=args.seed) as sim,
        proxy_process(dynamodb_url, args.read_timeout + 1.0, args.seed) as proxy,
    ):
        db = boto3.client("dynamodb", endpoint_url=dynamodb_url, region_name="us-east-1")
        table, plans = f"soak-{uuid.uuid4().hex[:6]}", f"soak-plans-{uuid.uuid4().hex[:6]}"
        db.create_table(**execution_table_definition(table, "StatusIndex"))
        db.create_table(**plans_table_definition(plans))
        dynalite.wait_active(db, table)
        dynalite.wait_active(db, plans)
        dynalite.log(f"seeding {args.executions:,} executions ({args.dynamodb}, drssim)")
        kinds = seed(args, db, table, sim.endpoint_url, sim.control)
        seeded_at = time.monotonic()
        sim.control.inject_throttling(
            rate=args.drs_throttle_rate, operations=["DescribeJobs"], retry_after_seconds=0
        )
        sim.control.inject_errors(rate=args.drs_error_rate, operations=["DescribeJobs"], status=500)
        f = args.dynamodb_fault_rate
        proxy.set_rates(throughput_exceeded=f * 0.6, error=f * 0.2, timeout=f * 0.1, drop=f * 0.1)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            table_name=table,
            plans_table_name=plans,
            dynamodb_endpoint_url=proxy.url,
            drs_endpoint_url=sim.endpoint_url,
            drs_regions=list(REGIONS),
            http_port=0,
            timeout_seconds=args.timeout_seconds,
            interval_pending_seconds=1.0,
            interval_started_seconds=0.5,
            interval_in_progress_seconds=0.5,
            interval_launching_seconds=0.5,
            interval_post_launch_seconds=0.5,
            interval_default_seconds=0.5,
            finder_period_seconds=args.finder_period,
            batch_window_seconds=0.1,
            retry_backoff_max_seconds=2.0,
            aws_max_attempts=3,
            aws_read_timeout_seconds=args.read_timeout,
            lease_seconds=90.0,
        )
        stop = asyncio.Event()
        daemon = asyncio.create_task(run_daemon(settings, stop))
        deadline = time.monotonic() + args.deadline
        left = len(kinds)
        while time.monotonic() < deadline and not daemon.done():
            await asyncio.sleep(2.0)
            left = await asyncio.to_thread(polling_count, db, table)
            print(f"  {time.monotonic() - seeded_at:6.1f} s: {left} executions still POLLING", flush=True)
            if left == 0:
                break
        stop.set()
        await asyncio.wait_for(daemon, timeout=60)
        items = await asyncio.to_thread(read_all, db, table, list(kinds))
        truth = {job["jobID"]: job for job in sim.control.truth()}
        calls = Counter(c.get("outcome") for c in sim.control.calls(operation="DescribeJobs"))
        proxy_stats = proxy.stats()
    terminal = [i for i in items if i["Status"] in TERMINAL]
    mismatches = [m for i in terminal if (m := mismatch(i, truth)) is not None]
    outcomes = Counter(i["Status"] for i in items)
    planned = Counter(kinds.values())
    print()
    print(f"executions           {len(kinds)} (timelines: {dict(planned)})")
    print(f"terminal             {len(terminal)} / {len(items)}   outcomes: {dict(outcomes)}")
    print(f"faults injected      DynamoDB proxy {proxy_stats['injected_total']} {proxy_stats['injected']}")
    print(f"                     drssim DescribeJobs outcomes {dict(calls)}")
    print(f"poll failures        {_labelled(metrics.POLL_FAILURES)}")
    print(f"mismatches           {len(mismatches)}")
    print(f"correct              {100.0 * (len(terminal) - len(mismatches)) / max(1, len(kinds)):.2f} %")
    print(f"wall time            {time.monotonic() - started:.1f} s (seeding {seeded_at - started:.1f} s)")
    for m in mismatches[:20]:
        print("  MISMATCH", m)
    return 0 if not mismatches and len(terminal) == len(kinds) else 1


def _labelled(counter: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                out[",".join(sample.labels.values())] = sample.value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executions", type=int, default=1000, help="executions to track (default 1000)")
    parser.add_argument(
        "--time-scale", type=float, default=600.0, help="drssim seconds per wall second (600)"
    )
    parser.add_argument("--fail-rate", type=float, default=0.3, help="fraction with failed servers (0.3)")
    parser.add_argument(
        "--stuck-rate", type=float, default=0.05, help="fraction with a job held forever (0.05)"
    )
    parser.add_argument(
        "--timeout-seconds", type=float, default=45.0, help="poller timeout, wall seconds (45)"
    )
    parser.add_argument("--drs-throttle-rate", type=float, default=0.1, help="DescribeJobs throttled (0.1)")
    parser.add_argument("--drs-error-rate", type=float, default=0.02, help="DescribeJobs 500s (0.02)")
    parser.add_argument("--dynamodb-fault-rate", type=float, default=0.05, help="proxy fault rate (0.05)")
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=5.0,
        help="botocore read timeout; moto pages 1,000 items slowly (5)",
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after this many seconds (600)")
    parser.add_argument(
        "--finder-period",
        type=float,
        default=1.0,
        help="daemon finder period, s (1); at 10,000 executions a pass over moto takes seconds",
    )
    parser.add_argument("--seed", type=int, default=1)
    add_dynamodb_option(parser)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except dynalite.Unavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
