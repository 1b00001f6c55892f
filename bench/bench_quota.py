"""DRS quotas: many one-wave executions started together against a small concurrent-jobs quota.

The issue's scenario: 100 one-wave DRILL executions (2 servers each) posted at once through the
API, one account-region whose DRS allows 20 concurrent jobs (drssim enforces it, with a server in
at most one active job). Two arms on the same workload:

* ``admission``: the daemon knows the quota (POLLER_DRS_MAX_CONCURRENT_JOBS=20) and queues waves;
* ``blind``: the daemon believes in a quota it does not have (10,000), so every start goes to DRS,
  which refuses it (402) until a slot frees: the retry path alone.

Printed per arm: wall time until every execution ended, executions per final status, whether each
server's final status equals drssim's truth, the most jobs ever active at once (drssim's own
creation and completion moments), StartRecovery calls (accepted / refused, refused per execution),
DescribeJobs calls, and how long waves waited for capacity (launch time − execution start).
Everything runs in this process (moto, drssim, the daemon) on 127.0.0.1; drssim plays a ~20
simulated-minute drill in ``1300 / --time-scale`` wall seconds, and the daemon's intervals are
divided by the same factor.

    .venv/bin/python bench/bench_quota.py                     # 100 executions, quota 20
    .venv/bin/python bench/bench_quota.py --executions 40 --quota 5 --arms admission
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
import requests
from drssim.quotas import Quotas
from drssim.testing import RunningSimulator, running_simulator
from poller_devtools.local import running_moto_server, use_local_credentials

from poller.config import Settings
from poller.logs import configure_logging
from poller.runtime.daemon import Daemon, run_daemon
from poller.store.dynamodb import deserialize
from poller.store.tables import execution_table_definition, plans_table_definition

TERMINAL = {"COMPLETED", "PARTIAL", "FAILED", "TIMEOUT", "CANCELLED"}


def scaled_settings(
    args: argparse.Namespace, moto: str, drs: str, table: str, plans: str, quota: int
) -> Settings:
    x = args.time_scale
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        table_name=table,
        plans_table_name=plans,
        dynamodb_endpoint_url=moto,
        events_endpoint_url=moto,
        drs_endpoint_url=drs,
        drs_regions=["us-east-1"],
        http_port=0,
        log_level="WARNING",
        log_format="json",
        account_id="123456789012",
        drs_max_concurrent_jobs=quota,
        interval_pending_seconds=45.0 / x,
        interval_started_seconds=15.0 / x,
        interval_in_progress_seconds=30.0 / x,
        interval_launching_seconds=15.0 / x,
        interval_post_launch_seconds=30.0 / x,
        interval_default_seconds=30.0 / x,
        finder_period_seconds=10.0 / x,
        batch_window_seconds=1.0 / x,
        capacity_refresh_seconds=10.0 / x,
        retry_backoff_max_seconds=max(1.0, 60.0 / x),
        timeout_seconds=10 * 1800.0,  # the queue is the point here, not the timeout
        capacity_wait_max_seconds=10 * 3600.0,
        lease_seconds=90.0 / x,
        heartbeat_seconds=30.0 / x,
        idle_write_seconds=300.0 / x,
        shutdown_grace_seconds=5.0,
    )


def max_in_flight(truth: list[dict[str, Any]]) -> int:
    events: list[tuple[float, int]] = []
    for job in truth:
        events.append((job["createdWallTime"], 1))
        done = [c["wallTime"] for c in job["statusChanges"] if c["status"] == "COMPLETED"]
        events.append((done[0] if done and done[0] is not None else float("inf"), -1))
    peak = active = 0
    for _, step in sorted(events):
        active += step
        peak = max(peak, active)
    return peak


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_arm(args: argparse.Namespace, arm: str, moto: str, sim: RunningSimulator) -> dict[str, Any]:
    db = boto3.client("dynamodb", endpoint_url=moto, region_name="us-east-1")
    table, plans = f"bench-quota-{uuid.uuid4().hex[:8]}", f"bench-plans-{uuid.uuid4().hex[:8]}"
    db.create_table(**execution_table_definition(table, "StatusIndex"))
    db.create_table(**plans_table_definition(plans))
    sim.control.reset()
    sim.control.set_time_scale(args.time_scale)
    sim.control.set_quotas(max_concurrent_jobs=args.quota, one_job_per_server=True)
    believed = args.quota if arm == "admission" else 10_000
    settings = scaled_settings(args, moto, sim.endpoint_url, table, plans, believed)

    stop = asyncio.Event()
    ready: asyncio.Future[Daemon] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_daemon(settings, stop, on_ready=ready.set_result))
    daemon = await asyncio.wait_for(ready, timeout=30)
    for _ in range(200):
        if daemon.port is not None:
            break
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{daemon.port}"

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    plan_ids: list[str] = []
    for n in range(args.executions):  # the plans first, so the executions are posted together
        servers = [f"s-{uuid.uuid4().hex[:17]}" for _ in range(args.servers)]
        body = {
            "PlanName": f"quota bench {n}",
            "WaveOrder": "PARALLEL",
            "Waves": [{"WaveName": "Wave-1", "Region": "us-east-1", "SourceServerIds": servers}],
        }
        plan_ids.append(str((await asyncio.to_thread(post, "/plans", body))["PlanId"]))
    started = time.time()
    created = await asyncio.gather(
        *(asyncio.to_thread(post, "/executions", {"PlanId": p, "ExecutionType": "DRILL"}) for p in plan_ids)
    )
    ids = [str(c["executionId"]) for c in created]
    print(
        f"[{arm}] {len(ids)} executions posted in {time.time() - started:.1f} s; waiting for every one to end",
        flush=True,
    )

    def read_all() -> list[dict[str, Any]]:
        items = []
        for execution_id in ids:
            got = db.get_item(TableName=table, Key={"ExecutionId": {"S": execution_id}}, ConsistentRead=True)
            items.append(deserialize(got["Item"]))
        return items

    items: list[dict[str, Any]] = []
    last = 0.0
    while time.time() - started < args.deadline:
        items = await asyncio.to_thread(read_all)
        done = sum(1 for e in items if e["Status"] in TERMINAL)
        if time.time() - last > 10:
            print(f"[{arm}]   {done}/{len(ids)} ended after {time.time() - started:.0f} s", flush=True)
            last = time.time()
        if done == len(ids):
            break
        await asyncio.sleep(0.5)
    elapsed = time.time() - started
    stop.set()
    await asyncio.wait_for(task, timeout=30)

    truth = {j["jobID"]: j for j in sim.control.truth()}
    matches = servers_total = 0
    for item in items:
        for wave in item["Waves"]:
            for server in wave["Servers"]:
                servers_total += 1
                job = truth.get(server.get("RecoveryJobId", ""))
                real = next(
                    (
                        s
                        for s in (job or {}).get("servers", [])
                        if s["sourceServerID"] == server["SourceServerId"]
                    ),
                    None,
                )
                matches += bool(real and real["launchStatus"] == server["Status"])
    starts = sim.control.calls(operation="StartRecovery")
    refused = [c for c in starts if c["outcome"] != "OK"]
    waited = [
        float(w["JobStartedTime"]) - float(e["StartTime"])
        for e in items
        for w in e["Waves"]
        if w.get("JobStartedTime") is not None
    ]
    for name in (table, plans):
        db.delete_table(TableName=name)
    return {
        "arm": arm,
        "elapsed": elapsed,
        "statuses": Counter(str(e["Status"]) for e in items),
        "truth": f"{matches}/{servers_total}",
        "jobs": len(truth),
        "peak": max_in_flight(list(truth.values())),
        "starts_ok": len(starts) - len(refused),
        "refused": len(refused),
        "refused_codes": Counter(c["outcome"] for c in refused),
        "describe": len(sim.control.calls(operation="DescribeJobs")),
        "wait_p50": percentile(waited, 0.5),
        "wait_max": max(waited) if waited else float("nan"),
    }


async def main_async(args: argparse.Namespace) -> int:
    use_local_credentials()
    configure_logging("WARNING", "json")
    logging.getLogger("drssim").setLevel(logging.WARNING)
    results = []
    with (
        running_moto_server() as moto,
        running_simulator(time_scale=args.time_scale, seed=3, quotas=Quotas()) as sim,
    ):
        for arm in args.arms.split(","):
            results.append(await run_arm(args, arm, moto, sim))
    drill = 1300.0 / args.time_scale
    print()
    print(
        f"{args.executions} one-wave DRILL executions x {args.servers} servers, DRS quota {args.quota} concurrent "
        f"jobs (one job per server), drssim time scale {args.time_scale:g} (a drill ~{drill:.1f} s wall)"
    )
    header = (
        f"{'arm':<10} {'wall s':>7} {'statuses':<16} {'= truth':>9} {'jobs':>5} {'peak':>5} "
        f"{'starts':>6} {'refused':>7} {'ref/exec':>8} {'Describe':>8} {'wait p50':>8} {'wait max':>8}"
        "   (wait: execution start to its job's start, wall s; x time scale = production)"
    )
    print(header)
    ok = True
    for r in results:
        statuses = ",".join(f"{k}={v}" for k, v in sorted(r["statuses"].items()))
        print(
            f"{r['arm']:<10} {r['elapsed']:>7.1f} {statuses:<16} {r['truth']:>9} {r['jobs']:>5} {r['peak']:>5} "
            f"{r['starts_ok']:>6} {r['refused']:>7} {r['refused'] / args.executions:>8.2f} {r['describe']:>8} "
            f"{r['wait_p50']:>8.1f} {r['wait_max']:>8.1f}"
        )
        if r["refused_codes"]:
            print(f"{'':<10} refused by code: {dict(r['refused_codes'])}")
        ok &= r["statuses"].get("COMPLETED", 0) == args.executions and r["peak"] <= args.quota
    print(
        "every execution COMPLETED within the quota"
        if ok
        else "NOT every execution COMPLETED within the quota"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=100, help="one-wave executions (default 100)")
    parser.add_argument("--servers", type=int, default=2, help="source servers per wave (default 2)")
    parser.add_argument("--quota", type=int, default=20, help="DRS concurrent jobs quota (default 20)")
    parser.add_argument("--time-scale", type=float, default=200.0, help="drssim speed-up (default 200)")
    parser.add_argument("--arms", default="admission,blind", help="admission, blind, or both (default)")
    parser.add_argument("--deadline", type=float, default=600.0, help="wall seconds per arm before giving up")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
