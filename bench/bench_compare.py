"""Daemon vs the plan's Lambda design (``bench/reference_poller.py``), side by side, same workload.

For each size, two runs on a fresh local DynamoDB (``--dynamodb``: dynalite or moto, see
``bench/dynalite.py``) and drssim, child processes: the daemon (``python -m poller
run``) and the reference poller (a 60 s EventBridge tick scaled by the time scale, one
DescribeJobs per wave, a write after every poll). Prints DRS and DynamoDB calls per simulated
minute, detection latency p50/p99 per transition (simulated seconds), CPU seconds of the poller,
of the local DynamoDB and of drssim, and the reference/daemon ratios; plots detection latency per phase to
``bench/out/detection-latency.png``.

    .venv/bin/python bench/bench_compare.py --sizes 50,100,1000
    .venv/bin/python bench/bench_compare.py --sizes 10000 --time-scale 10 --finder-period 600
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dynalite
from bench import harness as h
from bench.bench_daemon import print_result, run_sized


def ratio(a: float, b: float) -> str:
    return "—" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:,.1f}×"


def compare_rows(d: dict[str, Any], r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    scale = d["time_scale"]
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, dv: float, rv: float, digits: int = 1) -> None:
        rows.append((name, h.fmt(dv, digits), h.fmt(rv, digits), ratio(rv, dv)))

    add("DRS calls / sim min", d["drs_calls"] / d["sim_minutes"], r["drs_calls"] / r["sim_minutes"])
    add(
        "DynamoDB calls / sim min",
        d["dynamodb_calls"] / d["sim_minutes"],
        r["dynamodb_calls"] / r["sim_minutes"],
    )
    for phase in h.PHASES:
        for q in (50, 99):
            add(
                f"detect {phase} p{q} (sim s)",
                h.percentile(d["detection"][phase], q) * scale,
                h.percentile(r["detection"][phase], q) * scale,
            )
    add("poller CPU s", d["cpu_daemon"], r["cpu_reference"], 2)
    add(f"{d.get('dynamodb', 'moto')} CPU s", d["cpu_dynamodb"], r["cpu_dynamodb"], 2)
    add("drssim CPU s", d["cpu_drssim"], r["cpu_drssim"], 2)
    add("peak RSS MB", d["peak_rss_mb"], r["peak_rss_mb"], 0)
    add("loop lag p99 ms", d["loop_lag_p99"] * 1000, r["loop_lag_p99"] * 1000, 0)
    rows.append(("server status mismatches", str(d["mismatches"]), str(r["mismatches"]), ""))
    rows.append(("finished by itself", str(d["finished"]), str(r["finished"]), ""))
    return rows


def plot(results: list[tuple[dict[str, Any], dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(7.0, 4.5 * len(results))  # one size alone still fits its title and six labels
    fig, axes = plt.subplots(1, len(results), figsize=(width, 4.2), squeeze=False, sharey=True)
    for ax, (d, r) in zip(axes[0], results, strict=True):
        scale = d["time_scale"]
        data, labels, colors = [], [], []
        for phase in h.PHASES:
            for run, color in ((d, "tab:blue"), (r, "tab:orange")):
                data.append([v * scale for v in run["detection"][phase]] or [math.nan])
                labels.append(f"{phase.replace('_', ' ')}\n{'daemon' if run is d else 'ref'}")
                colors.append(color)
        box = ax.boxplot(data, whis=(1, 99), showfliers=False, patch_artist=True)
        for patch, color in zip(box["boxes"], colors, strict=True):
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
        ax.set_title(f"{d['executions']:,} executions × {d['servers']} servers (×{scale:g})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("detection latency, simulated s (whiskers p1–p99)")
    fig.suptitle(
        "DRS change → DynamoDB write: daemon (blue) vs plan's 60 s Lambda tick (orange)", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Talks to 127.0.0.1 only.")
    p.add_argument("--sizes", default="50,100,1000", help="comma-separated execution counts")
    p.add_argument("--servers", type=int, default=10, help="servers per execution, split over 2 regions")
    p.add_argument("--time-scale", type=float, default=30.0, help="simulated s per wall s (default 30)")
    p.add_argument("--finder-period", type=float, help="daemon finder period, wall s (default 10 s / scale)")
    p.add_argument("--profile", choices=("cprofile", "py-spy"), help="profile the daemon runs")
    p.add_argument(
        "--max-drill-seconds", type=float, default=600.0, help="stop a drill after this many wall s (600)"
    )
    p.add_argument("--out", type=Path, default=h.OUT, help="output directory (default bench/out)")
    p.add_argument("--plot", type=Path, help="PNG path (default <out>/detection-latency.png)")
    h.add_dynamodb_option(p)
    args = p.parse_args(argv)
    h.stop_children_on_sigterm()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        try:
            d = run_sized("daemon", n, args)
        except dynalite.Unavailable as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print_result(d)
        r = run_sized("reference", n, args)
        print_result(r)
        print(
            f"\n### {n:,} executions × {args.servers} servers: daemon vs reference"
            f" (time scale {args.time_scale:g}, {args.dynamodb})"
        )
        print(h.table(("metric", "daemon", "reference", "ref/daemon"), compare_rows(d, r)), flush=True)
        results.append((d, r))
        tag = args.sizes.replace(",", "-")
        (args.out / f"compare-{tag}.json").write_text(json.dumps(results, default=str))
    if importlib.util.find_spec("matplotlib") is None:  # the `bench` extra: the table above is the result
        print("plot skipped: matplotlib is not installed (pip install -e '.[bench]')", flush=True)
    else:
        plot(results, args.plot or args.out / "detection-latency.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
