"""Bad job IDs in the table must not slow the valid executions of their region.

Side by side, on moto (child process) and drssim (validating job IDs as DRS does) on 127.0.0.1,
with the daemon in this process: a few valid one-wave drills alone ("clean"), then the same
drills next to items whose job ID DRS refuses ("with bad IDs": not-a-job, 10,000 characters, a
trailing newline, a wrong character). Each case runs ``--runs`` times, alternating. Prints per
run how long the drills took (job started → COMPLETED written), the DescribeJobs calls, how many
DRS refused (a refused call carried a malformed ID), and how many items were quarantined.

    .venv/bin/python bench/bench_bad_job_ids.py
    .venv/bin/python bench/bench_bad_job_ids.py --drills 3 --bad 20 --runs 2 --interval 1
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from drssim.testing import RunningSimulator, running_simulator
from poller_devtools.local import running_moto_server, use_local_credentials
from prometheus_client import REGISTRY

from bench import harness as h
from poller.config import Settings
from poller.logs import configure_logging
from poller.runtime.daemon import run_daemon
from poller.store.dynamodb import serialize
from poller.store.tables import execution_table_definition, plans_table_definition

BAD_IDS = ("not-a-job", "drsjob-" + "a" * 9_993, "drsjob-" + "a" * 17 + "\n", "drsjob-" + "a" * 16 + "-")
REGION = "us-east-1"


def _server_id() -> str:
    return "s-" + uuid.uuid4().hex[:17]


def _item(job_id: str, servers: list[str], started: float) -> dict[str, Any]:
    return {
        "ExecutionId": "bench-" + uuid.uuid4().hex[:12],
        "PlanId": "bench-plan",
        "ExecutionType": "DRILL",
        "Status": "POLLING",
        "StartTime": Decimal(str(round(started, 3))),
        "Version": 0,
        "Waves": [
            {
                "WaveName": "Wave-1",
                "Region": REGION,
                "Status": "LAUNCHING",
                "Servers": [
                    {"SourceServerId": s, "RecoveryJobId": job_id, "Status": "LAUNCHING"} for s in servers
                ],
            }
        ],
    }


def _counter(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def one_run(moto_url: str, sim: RunningSimulator, args: argparse.Namespace, bad: int) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    table, plans = f"bench-exec-{uuid.uuid4().hex[:8]}", f"bench-plans-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**execution_table_definition(table, "StatusIndex"))
    dynamodb.create_table(**plans_table_definition(plans))
    sim.control.reset()
    sim.control.set_time_scale(args.time_scale)
    drs = boto3.client("drs", endpoint_url=sim.endpoint_url, region_name=REGION)
    for i in range(bad):
        item = _item(BAD_IDS[i % len(BAD_IDS)], [_server_id()], time.time())
        dynamodb.put_item(TableName=table, Item=serialize(item))
    drills: dict[str, float] = {}
    for _ in range(args.drills):
        servers = [_server_id() for _ in range(args.servers)]
        started = time.time()
        job = drs.start_recovery(sourceServers=[{"sourceServerID": s} for s in servers], isDrill=True)
        item = _item(job["job"]["jobID"], servers, started)
        dynamodb.put_item(TableName=table, Item=serialize(item))
        drills[item["ExecutionId"]] = started
    sim.control.clear_calls()
    interval = args.interval
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        table_name=table,
        plans_table_name=plans,
        dynamodb_endpoint_url=moto_url,
        events_endpoint_url=moto_url,
        drs_endpoint_url=sim.endpoint_url,
        drs_regions=[REGION],
        http_port=0,
        log_format="json",
        **{f"interval_{p}_seconds": interval for p in h.DEFAULT_INTERVALS},
        finder_period_seconds=interval,
        batch_window_seconds=min(1.0, interval / 4),
        idle_write_seconds=max(interval, 5.0),
        timeout_seconds=3600,
    )
    quarantined = _counter("poller_malformed_items_total")
    not_sent = _counter("poller_drs_refused_job_ids_total", {"reason": "not_sent"})
    stop = asyncio.Event()
    daemon = asyncio.create_task(run_daemon(settings, stop))
    done: dict[str, float] = {}
    deadline = time.monotonic() + args.timeout
    try:
        while len(done) < len(drills) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            for execution_id, started in drills.items():
                if execution_id in done:
                    continue
                got = await asyncio.to_thread(
                    dynamodb.get_item, TableName=table, Key={"ExecutionId": {"S": execution_id}}
                )
                item = got["Item"]
                if item["Status"]["S"] not in ("POLLING", "PENDING"):
                    done[execution_id] = float(item["EndTime"]["N"]) - started
    finally:
        stop.set()
        await daemon
    calls = sim.control.calls("DescribeJobs")
    for name in (table, plans):
        dynamodb.delete_table(TableName=name)
    return {
        "bad": bad,
        "drill_seconds": sorted(done.values()),
        "unfinished": len(drills) - len(done),
        "describe_calls": len(calls),
        "refused_calls": sum(1 for c in calls if c["outcome"] != "OK"),
        "quarantined": _counter("poller_malformed_items_total") - quarantined,
        "ids_not_sent": _counter("poller_drs_refused_job_ids_total", {"reason": "not_sent"}) - not_sent,
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with running_moto_server(in_process=False) as moto_url, running_simulator(seed=3) as sim:
        for run in range(args.runs):
            for bad in (0, args.bad):
                print(
                    f"run {run + 1}/{args.runs}: {'clean' if not bad else f'with {bad} bad IDs'} ...",
                    flush=True,
                )
                results.append(await one_run(moto_url, sim, args, bad))
    return results


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    rows = []
    for r in results:
        secs = r["drill_seconds"]
        rows.append(
            [
                "clean" if not r["bad"] else f"{r['bad']} bad IDs",
                ", ".join(f"{s:.2f}" for s in secs)
                + (f" (+{r['unfinished']} unfinished)" if r["unfinished"] else ""),
                f"{max(secs):.2f}" if secs else "—",
                str(r["describe_calls"]),
                str(r["refused_calls"]),
                f"{r['quarantined']:.0f}",
            ]
        )
    headers = [
        "case",
        "drills: job start → COMPLETED (s)",
        "slowest (s)",
        "DescribeJobs",
        "refused",
        "quarantined",
    ]
    clean = [max(r["drill_seconds"]) for r in results if not r["bad"] and r["drill_seconds"]]
    dirty = [max(r["drill_seconds"]) for r in results if r["bad"] and r["drill_seconds"]]
    summary = ""
    if clean and dirty:
        summary = (
            f"\nslowest drill, median over runs: clean {statistics.median(clean):.2f} s, "
            f"with bad IDs {statistics.median(dirty):.2f} s (difference {statistics.median(dirty) - statistics.median(clean):+.2f} s)"
        )
    setup = (
        f"{args.drills} one-wave drills × {args.servers} servers, intervals {args.interval:g} s, "
        f"drssim time scale {args.time_scale:g}"
    )
    return setup + "\n" + h.table(headers, rows) + summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drills", type=int, default=3, help="valid one-wave drills per run (3)")
    parser.add_argument("--servers", type=int, default=2, help="servers per drill (2)")
    parser.add_argument("--bad", type=int, default=20, help="items with a bad job ID in the second case (20)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each case, alternating (2)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="every poll interval and the finder period, s (1)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=300.0, help="drssim clock speed (300: a drill ~4 s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="give up on a run after this many s (180)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    use_local_credentials()
    logs = io.StringIO()
    real_stderr, sys.stderr = sys.stderr, logs  # the daemon's JSON lines go here, not the terminal
    try:
        configure_logging("WARNING", "json")
    finally:
        sys.stderr = real_stderr
    results = asyncio.run(main_async(args))
    print(report(results, args))
    logged = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    quarantine_lines = sum(1 for e in logged if e.get("event") == "malformed_item")
    print(
        f"malformed_item log lines: {quarantine_lines}; poll_failed lines: "
        f"{sum(1 for e in logged if e.get('event') == 'poll_failed')}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
