"""Benchmark drssim's DescribeJobs latency with many live jobs.

Creates ``--jobs`` live jobs (bulk control endpoint, so setup does not dominate), then
times DescribeJobs through the real boto3 client for 1, 100 and 1,000 job IDs and prints
p50/p99 per size. Either starts an in-process simulator or targets ``--endpoint-url``.

    .venv/bin/python bench/bench_drssim.py --jobs 10000 --iterations 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import boto3
from botocore.config import Config
from drssim.client import SimControl
from drssim.testing import running_simulator


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def measure(drs: Any, ids: list[str], size: int, iterations: int, rng: random.Random) -> list[float]:
    """Latencies in ms of DescribeJobs with ``size`` random IDs."""
    out = []
    for _ in range(iterations):
        batch = rng.sample(ids, size)
        t0 = time.perf_counter()
        items = drs.describe_jobs(filters={"jobIDs": batch})["items"]
        out.append((time.perf_counter() - t0) * 1000)
        assert len(items) == size, (len(items), size)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="live jobs to create (default 10000)")
    parser.add_argument("--servers-per-job", type=int, default=1, help="participating servers per job")
    parser.add_argument("--iterations", type=int, default=200, help="calls per batch size (default 200)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000], help="job IDs per call")
    parser.add_argument(
        "--endpoint-url", default=None, help="existing drssim (default: start one in-process)"
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    ctx: AbstractContextManager[Any]
    ctx = nullcontext(None) if args.endpoint_url else running_simulator(time_scale=60.0, seed=args.seed)
    with ctx as sim:
        url = args.endpoint_url or sim.endpoint_url
        control = SimControl(url)
        t0 = time.perf_counter()
        ids: list[str] = []
        while len(ids) < args.jobs:
            n = min(5000, args.jobs - len(ids))
            ids += control.bulk_jobs(n, region=args.region, servers_per_job=args.servers_per_job)
        setup = time.perf_counter() - t0
        # Spread jobs over all phases so rendering covers every branch.
        rng = random.Random(args.seed)
        for phase in ("STARTED", "IN_PROGRESS", "COMPLETED"):
            control.advance_jobs(phase, rng.sample(ids, len(ids) // 4))
        drs = boto3.client(
            "drs",
            endpoint_url=url,
            region_name=args.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        print(
            f"drssim DescribeJobs benchmark: {len(ids)} live jobs (setup {setup:.1f}s), {args.iterations} calls"
        )
        print(f"{'jobIDs':>8} {'p50 ms':>10} {'p99 ms':>10} {'mean ms':>10} {'server p50':>11}")
        for size in args.sizes:
            if size > len(ids):
                continue
            control.clear_calls()
            lat = measure(drs, ids, size, args.iterations, rng)
            server = [c["durationMs"] for c in control.calls(operation="DescribeJobs")]
            print(
                f"{size:>8} {percentile(lat, 50):>10.2f} {percentile(lat, 99):>10.2f} "
                f"{statistics.fmean(lat):>10.2f} {percentile(server, 50):>11.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
