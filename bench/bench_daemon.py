"""Benchmark the poller daemon (``python -m poller run``, a child process) on a drill workload.

Per size: N executions × S servers in 2 regions (one wave and one drssim job per region), seeded
in POLLING in a local DynamoDB (``--dynamodb``: dynalite, or moto; a child process, checked
first, see ``bench/dynalite.py``) while drssim (child process) has a frozen clock;
the daemon starts, makes its first poll, then drssim's clock runs at ``--time-scale`` and every
POLLER_* interval (phase intervals, batch window, finder period, timeout, backoff) is divided by
the same factor, so a ~20 min drill plays in ~1300/X wall seconds with the production cadence.

Measured over the drill (clock release → every execution finished): DRS and DynamoDB calls per
wall minute and per simulated minute (= production rate), detection latency per transition
(drssim's wall-clock change time → the daemon's ``transition`` log line written after the
DynamoDB write; LAUNCHED is cross-checked with the item's ``LaunchedTime``), event-loop lag p99
and finder pass p99 (from /metrics histograms: bucket upper bounds), daemon CPU seconds and
peak RSS (/proc), the local DynamoDB's and drssim's CPU, and accuracy (final item statuses vs
drssim's truth).

    .venv/bin/python bench/bench_daemon.py --sizes 50,100,1000
    .venv/bin/python bench/bench_daemon.py --quick          # 100 executions, < 60 s
    .venv/bin/python bench/bench_daemon.py --executions 1000 --dynamodb moto
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dynalite, stall_report, turn_report
from bench import harness as h

DRILL_SIM_SECONDS = 1300.0  # PENDING 810 + STARTED ~60 + IN_PROGRESS 378 + jitter
# The daemon's /metrics is read as often as config/prometheus.yml scrapes it: a scrape costs the
# daemon ~8 ms at 10,000 executions, so scraping every 0.5 s (as this bench did) is load of its own.
# At high time scales, at least once a simulated minute, so the drill's end is seen in time.
SCRAPE_SECONDS = 5.0
progress = dynalite.log


def poller_env(
    wl: h.Workload,
    dynamodb_url: str,
    drs_url: str,
    port: int,
    scale: float,
    finder_period: float | None = None,
) -> dict[str, str]:
    env = {
        "POLLER_TABLE_NAME": wl.table,
        "POLLER_PLANS_TABLE_NAME": wl.plans_table,
        "POLLER_STATUS_INDEX_NAME": wl.index,
        "POLLER_DYNAMODB_ENDPOINT_URL": dynamodb_url,
        # no event bus is set, so no event is sent; a local endpoint keeps the unused client off AWS
        "POLLER_EVENTS_ENDPOINT_URL": dynamodb_url,
        "POLLER_DRS_ENDPOINT_URL": drs_url,
        "POLLER_DRS_REGIONS": json.dumps(list(wl.regions)),
        "POLLER_HTTP_HOST": "127.0.0.1",
        "POLLER_HTTP_PORT": str(port),
        "POLLER_LOG_FORMAT": "json",
        "POLLER_LOG_LEVEL": "INFO",
        # scaled, plus an allowance for seeding and start-up (StartTime is the seeding moment)
        "POLLER_TIMEOUT_SECONDS": str(1800.0 / scale + 900.0),
        "POLLER_FINDER_PERIOD_SECONDS": str(finder_period or 10.0 / scale),
        "POLLER_BATCH_WINDOW_SECONDS": str(1.0 / scale),
        "POLLER_RETRY_BACKOFF_MAX_SECONDS": str(max(1.0, 60.0 / scale)),
        "POLLER_READY_MAX_AGE_SECONDS": str(max(5.0, 60.0 / scale)),
        "POLLER_SHUTDOWN_GRACE_SECONDS": "10",
        # liveness and the idle write scale too, so writes per simulated minute are faithful
        "POLLER_LEASE_SECONDS": str(90.0 / scale),
        "POLLER_HEARTBEAT_SECONDS": str(30.0 / scale),
        "POLLER_IDLE_WRITE_SECONDS": str(300.0 / scale),
    }
    for name, seconds in h.DEFAULT_INTERVALS.items():
        env[f"POLLER_INTERVAL_{name.upper()}_SECONDS"] = str(seconds / scale)
    return env


def run_one(
    kind: str,
    executions: int,
    servers: int,
    scale: float,
    out_root: Path,
    profile: str | None = None,
    finder_period: float | None = None,
    max_drill_seconds: float = 600.0,
    settings: dict[str, str] | None = None,
    dynamodb: str = "moto",
    daemon_src: Path | None = None,
    seeder: Callable[[str, str], h.Workload] | None = None,
    inspect: Callable[[str, h.Workload, float, float, dict[str, Any]], None] | None = None,
    drssim_args: Sequence[str] = (),
    reference_args: Sequence[str] = (),
) -> dict[str, Any]:
    """One run of ``kind`` ("daemon" or "reference") on a fresh local DynamoDB (``dynamodb``:
    "dynalite" or "moto") and drssim; always cleans up.

    ``seeder(dynamodb_url, drs_url)`` replaces the default workload (:func:`bench.harness.seed`);
    ``inspect(drs_url, workload, t0, t1, result)`` reads drssim after the drill (``t0``–``t1``,
    wall) and adds to ``result``, while drssim still runs. ``drssim_args`` and ``reference_args``
    are more options of ``drssim serve`` and of the reference poller."""
    out = out_root / f"{kind}-{executions}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    children: list[h.Child] = []
    result: dict[str, Any] = {
        "kind": kind,
        "executions": executions,
        "servers": servers,
        "time_scale": scale,
        "finder_period": finder_period or 10.0 / scale,
        "settings": settings or {},
        "dynamodb": dynamodb,
        "daemon_src": str(daemon_src or h.ROOT),
    }
    try:
        store, db_url = h.start_dynamodb(dynamodb, out)
        children.append(store)
        progress("starting drssim")
        sim, drs_url = h.start_drssim(out, extra=drssim_args)
        children.append(sim)
        t = time.monotonic()
        progress(f"seeding {executions:,} executions × {servers} servers ({dynamodb}, drssim)")
        if seeder is None:
            wl = h.seed(db_url, drs_url, executions, servers)
        else:
            wl = seeder(db_url, drs_url)
        result["seed_seconds"] = time.monotonic() - t
        progress(f"seeded in {result['seed_seconds']:.1f} s; starting the {kind}")
        port = h.free_port()
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        stats_path = out / "reference-stats.json"
        events_path = out / "reference-events.jsonl"
        if kind == "daemon":
            argv = [sys.executable, "-m", "poller", "run"]
            if profile == "cprofile":
                argv = [
                    sys.executable,
                    "-m",
                    "cProfile",
                    "-o",
                    str(out / "daemon.prof"),
                    "-m",
                    "poller",
                    "run",
                ]
            env = h.child_env(poller_env(wl, db_url, drs_url, port, scale, finder_period))
            env.update({f"POLLER_{name}": value for name, value in (settings or {}).items()})
            if daemon_src is not None:
                env["PYTHONPATH"] = f"{daemon_src}:{env['PYTHONPATH']}"
                progress(f"the daemon runs from {imported_poller(env, out)}")
            if profile == "stalls":  # bench/stallwatch/sitecustomize.py samples the long loop turns
                env["PYTHONPATH"] = f"{h.ROOT / 'bench' / 'stallwatch'}:{env['PYTHONPATH']}"
                env["STALLWATCH_OUT"] = str(out / "stalls.jsonl")
            if profile == "turns":  # bench/turnwatch/sitecustomize.py: turns over 20 ms, and their GCs
                env["PYTHONPATH"] = f"{h.ROOT / 'bench' / 'turnwatch'}:{env['PYTHONPATH']}"
                env["TURNWATCH_OUT"] = str(out / "turns.jsonl")
            poller = h.Child("daemon", argv, out, env)
        else:
            argv = [
                sys.executable,
                str(h.ROOT / "bench" / "reference_poller.py"),
                *("--table", wl.table, "--index", wl.index, "--dynamodb-url", db_url, "--drs-url", drs_url),
                *("--regions", ",".join(wl.regions), "--tick-seconds", str(60.0 / scale)),
                *("--events-out", str(events_path), "--stats-out", str(stats_path)),
                *reference_args,
            ]
            poller = h.Child("reference", argv, out)
        children.append(poller)
        if profile == "py-spy":
            spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            children.append(
                h.Child(
                    "py-spy",
                    [
                        spy,
                        "record",
                        "--nonblocking",
                        "-r",
                        "50",
                        "-f",
                        "raw",
                        "-p",
                        str(poller.pid),
                        "-o",
                        str(out / "daemon-pyspy.txt"),
                    ],
                    out,
                )
            )

        # --- first poll of every execution with the clock frozen
        t = time.monotonic()
        deadline = t + 60 + executions * 0.1
        polled = 0.0
        next_report = t + 10
        while time.monotonic() < deadline:
            if not poller.alive():
                raise RuntimeError(f"{kind} exited early; see {poller.log_path}")
            if kind == "daemon" and time.monotonic() >= next_report:
                next_report += 10
                progress(f"  first polls: {polled:,.0f} of {executions:,} ({time.monotonic() - t:.0f} s)")
            if kind == "daemon":
                try:
                    polled = h.metric_sum(h.scrape(metrics_url), "poller_polls_total")
                    if polled >= executions:
                        break
                except OSError:
                    pass
            elif stats_path.exists() and json.loads(stats_path.read_text())["ticks"] >= 1:
                break
            time.sleep(1.0)
        else:
            raise RuntimeError(f"{kind} did not poll {executions} executions within the start-up deadline")
        result["startup_seconds"] = time.monotonic() - t
        progress(f"every execution polled once in {result['startup_seconds']:.1f} s; drill at ×{scale:g}")

        before = h.scrape(metrics_url) if kind == "daemon" else {}
        cpu0 = {c.name: c.cpu_seconds() for c in children}
        queued0 = {c.name: c.run_queue_seconds() for c in children}
        t0 = h.release_clock(drs_url, scale)
        limit = t0 + min(max_drill_seconds, DRILL_SIM_SECONDS / scale * 2.5 + 30)
        finished = False
        scrape_every = min(SCRAPE_SECONDS, 60.0 / scale)
        next_scrape = time.time() + scrape_every
        next_report = time.time() + 10
        while time.time() < limit:
            time.sleep(0.5)
            for c in children:
                c.rss_mb()
                c.sample_cpu()
            if kind == "daemon":
                if time.time() < next_scrape:
                    continue
                next_scrape += scrape_every
                m = h.scrape(metrics_url)
                tracked = h.metric_sum(m, "poller_executions_tracked")
                if time.time() >= next_report:
                    next_report += 10
                    progress(f"  drill {time.time() - t0:5.0f} s: {tracked:,.0f} executions still tracked")
                if tracked == 0:
                    finished = True
                    break
            else:
                if not poller.alive():
                    finished = True
                    break
        t1 = time.time()
        cpu1 = {c.name: c.cpu_seconds() for c in children}
        queued1 = {c.name: c.run_queue_seconds() for c in children}
        after = h.scrape(metrics_url, keep=out / "metrics-end.prom") if kind == "daemon" else {}
        poller.stop()
        wall = t1 - t0
        result.update(finished=finished, wall_seconds=wall, sim_minutes=wall * scale / 60)
        # the local DynamoDB's figures are keyed "dynamodb" whichever it is (result["dynamodb"])
        key = {store.name: "dynamodb"}
        for name in cpu0:
            result[f"cpu_{key.get(name, name)}"] = cpu1[name] - cpu0[name]
            result[f"run_queue_{key.get(name, name)}"] = queued1[name] - queued0[name]
        result["peak_rss_mb"] = poller.peak_rss_mb
        for c in children:
            result[f"cpu_busiest30_{key.get(c.name, c.name)}"] = c.busiest_window(30.0)
            # the busiest 30 simulated seconds, in cores of wall time (÷ scale: production pace)
            result[f"cpu_busiest30sim_{key.get(c.name, c.name)}"] = c.busiest_window(30.0 / scale)
        result["dynamodb_rss_mb"] = store.peak_rss_mb
        progress(f"drill {'finished' if finished else 'stopped at the deadline'} after {wall:.1f} s")

        if kind == "daemon":
            delta = lambda name, **lab: h.metric_sum(after, name, **lab) - h.metric_sum(before, name, **lab)  # noqa: E731
            result["drs_calls"] = delta("poller_drs_calls_total")
            result["dynamodb_calls"] = delta("poller_dynamodb_calls_total")
            result["polls"] = delta("poller_polls_total")
            result["loop_lag_p99"] = h.hist_quantile(before, after, "poller_event_loop_lag_seconds", 0.99)
            result["loop_lag_p99_estimate"] = h.hist_quantile_estimate(
                before, after, "poller_event_loop_lag_seconds", 0.99
            )
            result["loop_lag_within_50ms"] = h.hist_share_at_most(
                before, after, "poller_event_loop_lag_seconds", 0.05
            )
            result["finder_p99"] = h.hist_quantile(before, after, "poller_finder_duration_seconds", 0.99)
            fcount = delta("poller_finder_duration_seconds_count")
            result["finder_mean"] = (
                delta("poller_finder_duration_seconds_sum") / fcount if fcount else math.nan
            )
            jobs = delta("poller_drs_jobs_per_call_sum")
            result["jobs_per_call"] = jobs / result["drs_calls"] if result["drs_calls"] else math.nan
            result["write_conflicts"] = delta("poller_write_conflicts_total")
            result["poll_failures"] = delta("poller_poll_failures_total")
            views = h.daemon_views(poller.log_path)  # the daemon's log, read once
            seen = h.daemon_detections(views)
        else:
            stats = json.loads(stats_path.read_text())
            if stats["errors"] > stats["polls"]:  # a broken reference must not pass for a slow one
                raise RuntimeError(
                    f"reference: {stats['errors']} errors for {stats['polls']} polls; "
                    f"last: {stats.get('last_error')}; see {poller.log_path}"
                )
            result["drs_calls"] = stats["drs_calls"]
            result["dynamodb_calls"] = stats["dynamodb_calls"]
            result["polls"] = stats["polls"]
            result["loop_lag_p99"] = h.percentile(stats["lag"], 99)
            result["late_ticks"] = stats["late_ticks"]
            result["tick_p99"] = h.percentile(stats["tick_seconds"], 99)
            result["errors"] = stats["errors"]
            result["cpu_reference"] = stats["cpu_seconds"] - cpu0["reference"]
            seen = h.jsonl_detections(events_path)
        truth, final = h.truth_changes(drs_url)
        lat, skipped = h.detection_latencies(truth, seen)
        result["detection"] = {p: sorted(v) for p, v in lat.items()}
        if kind == "daemon":  # detection beyond the interval the daemon was polling at (sim s)
            interval = h.interval_at_change(views, truth)
            result["excess"] = {
                phase: sorted(
                    (seen[key] - changed) * scale - interval[key]
                    for key, changed in truth.items()
                    if key[1] == phase and key in seen and key in interval
                )
                for phase in h.PHASES
            }
        result["skipped"] = skipped
        items = h.scan_table(h.ddb_client(db_url), wl.table)
        compared, mismatches, exec_bad = h.accuracy(items, final)
        result.update(servers_compared=compared, mismatches=mismatches, executions_not_completed=exec_bad)
        # LAUNCHED cross-check from the items: LaunchedTime (the poll that saw it) − drssim's change
        launched = [
            float(s["LaunchedTime"]) - truth[(s["SourceServerId"], "LAUNCHED")]
            for it in items
            for w in it["Waves"]
            for s in w["Servers"]
            if "LaunchedTime" in s and (s["SourceServerId"], "LAUNCHED") in truth
        ]
        result["launched_time_p99"] = h.percentile(launched, 99)
        if (out / "stalls.jsonl").exists():  # --profile stalls: start-up and drill apart
            result["stalls_startup"] = stall_report.summarize(
                stall_report.read(out / "stalls.jsonl", until=t0)
            )
            result["stalls"] = stall_report.summarize(stall_report.read(out / "stalls.jsonl", t0, t1))
        if (out / "turns.jsonl").exists():  # --profile turns: the drill's long turns
            result["turns"] = turn_report.summarize(stall_report.read(out / "turns.jsonl", t0, t1))
        if inspect is not None:
            inspect(drs_url, wl, t0, t1, result)
    finally:
        for c in reversed(children):
            c.stop()
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def imported_poller(env: dict[str, str], cwd: Path) -> Path:
    """The ``poller`` package a child with ``env`` started in ``cwd`` (as the daemon is) imports
    (``--daemon-src``: checked, not assumed)."""
    code = "import poller, sys; sys.stdout.write(poller.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"the daemon's poller package does not import: {done.stderr.strip()[-500:]}")
    return Path(done.stdout).parent


def summary_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    scale = r["time_scale"]
    wall_min = r["wall_seconds"] / 60
    sim_min = r["sim_minutes"]
    cpu = r.get(f"cpu_{r['kind']}", math.nan)
    store = r.get("dynamodb", "moto")
    rows = [
        ("finished by itself", "yes" if r["finished"] else "NO (deadline)"),
        ("drill wall s (sim min)", f"{h.fmt(r['wall_seconds'])} ({h.fmt(sim_min)})"),
        ("DRS calls / wall min", h.fmt(r["drs_calls"] / wall_min)),
        ("DRS calls / sim min (= prod rate)", h.fmt(r["drs_calls"] / sim_min)),
        ("DynamoDB calls / wall min", h.fmt(r["dynamodb_calls"] / wall_min)),
        ("DynamoDB calls / sim min", h.fmt(r["dynamodb_calls"] / sim_min)),
    ]
    for phase in h.PHASES:
        v = r["detection"][phase]
        target = h.DEFAULT_INTERVALS[h.WAIT_INTERVAL[phase]] + 1 if r["kind"] == "daemon" else 61
        rows.append(
            (
                f"detect {phase} p50/p99 sim s (target ≤{target:g})",
                f"{h.fmt(h.percentile(v, 50) * scale)} / {h.fmt(h.percentile(v, 99) * scale)}"
                + (f" [{r['skipped'][phase]} skipped]" if r["skipped"][phase] else ""),
            )
        )
    for phase, excess in r.get("excess", {}).items():
        within = sum(1 for e in excess if e <= 1.0) / len(excess) * 100 if excess else math.nan
        rows.append(
            (
                f"detect {phase}: p99 beyond the interval polled at (target ≤1 s)",
                f"{h.fmt(h.percentile(excess, 99))} s ({h.fmt(within)} % within)",
            )
        )
    rows += [
        ("LAUNCHED via LaunchedTime p99 sim s", h.fmt(r["launched_time_p99"] * scale)),
        (
            "event-loop lag p99 ms (target <50): bucket (estimate) / probes ≤ 50 ms",
            f"≤{h.fmt(r['loop_lag_p99'] * 1000, 0)} (≈{h.fmt(r.get('loop_lag_p99_estimate', math.nan) * 1000, 0)})"
            f" / {h.fmt(r.get('loop_lag_within_50ms', math.nan) * 100)} %",
        ),
        (f"{r['kind']} CPU s (cores)", f"{h.fmt(cpu)} ({h.fmt(cpu / r['wall_seconds'], 2)})"),
        (
            f"{store} CPU s / drssim CPU s",
            f"{h.fmt(r.get('cpu_dynamodb', math.nan))} / {h.fmt(r.get('cpu_drssim', math.nan))}",
        ),
        (
            f"busiest 30 s, cores: {r['kind']} / {store}",
            f"{h.fmt(r.get('cpu_busiest30_' + r['kind'], math.nan), 2)}"
            f" / {h.fmt(r.get('cpu_busiest30_dynamodb', math.nan), 2)}",
        ),
        (
            f"waiting for a core (run queue), % of wall: {r['kind']} / {store}",
            f"{h.fmt(r.get('run_queue_' + r['kind'], math.nan) / r['wall_seconds'] * 100)}"
            f" / {h.fmt(r.get('run_queue_dynamodb', math.nan) / r['wall_seconds'] * 100)}",
        ),
        ("peak RSS MB (target <500)", h.fmt(r["peak_rss_mb"], 0)),
        (
            "accuracy: server mismatches / exec not COMPLETED",
            f"{r['mismatches']} of {r['servers_compared']} / {r['executions_not_completed']}",
        ),
    ]
    if r["kind"] == "daemon":
        rows += [
            (
                "finder pass p99 s (target <2) / mean",
                f"≤{h.fmt(r['finder_p99'], 3)} / {h.fmt(r['finder_mean'], 3)}",
            ),
            ("DescribeJobs IDs per call (mean)", h.fmt(r["jobs_per_call"])),
        ]
    else:
        rows += [("late ticks / tick p99 s", f"{r['late_ticks']} / {h.fmt(r['tick_p99'], 2)}")]
    return rows


def print_result(r: dict[str, Any]) -> None:
    print(
        f"\n### {r['kind']}: {r['executions']:,} executions × {r['servers']} servers, time scale {r['time_scale']:g}"
        f", on {r.get('dynamodb', 'moto')}"
        + (f", daemon from {r['daemon_src']}" if r.get("daemon_src", str(h.ROOT)) != str(h.ROOT) else "")
        + "".join(f", {name}={value}" for name, value in r.get("settings", {}).items())
    )
    print(h.table(("metric", "value"), summary_rows(r)))
    if "stalls" in r:
        stall_report.print_summary(r["stalls_startup"], "start-up (first poll of every execution)")
        stall_report.print_summary(r["stalls"], "drill")
    if "turns" in r:
        turn_report.print_summary(r["turns"], "drill")


def run_sized(kind: str, executions: int, args: argparse.Namespace) -> dict[str, Any]:
    """:func:`run_one` with the command line's options (bench_daemon's and bench_compare's)."""
    daemon = kind == "daemon"
    return run_one(
        kind,
        executions,
        args.servers,
        args.time_scale,
        args.out,
        args.profile if daemon else None,
        args.finder_period if daemon else None,
        args.max_drill_seconds,
        dict(getattr(args, "setting", None) or []) if daemon else None,
        args.dynamodb,
        getattr(args, "daemon_src", None) if daemon else None,
    )


def setting(text: str) -> tuple[str, str]:
    """NAME=VALUE of --setting; NAME without the POLLER_ prefix, upper case."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. TURN_BUDGET_SECONDS=0), got {text!r}")
    return name.strip().upper().removeprefix("POLLER_"), value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Talks to 127.0.0.1 only.")
    p.add_argument(
        "--sizes", default="50,100,1000", help="comma-separated execution counts (default 50,100,1000)"
    )
    p.add_argument("--executions", type=int, help="one size (overrides --sizes)")
    p.add_argument("--servers", type=int, default=10, help="servers per execution, split over 2 regions (10)")
    p.add_argument("--time-scale", type=float, default=30.0, help="simulated s per wall s (30: drill ≈ 45 s)")
    p.add_argument("--quick", action="store_true", help="100 executions at time scale 60 (< 60 s)")
    p.add_argument(
        "--profile",
        choices=("cprofile", "py-spy", "stalls", "turns"),
        help="profile the daemon (output in the run dir); stalls: stacks of loop turns > 40 ms; "
        "turns: loop turns > 20 ms with their garbage collections and slow callbacks",
    )
    p.add_argument(
        "--finder-period", type=float, help="wall seconds between finder passes (default 10 s / time scale)"
    )
    p.add_argument(
        "--max-drill-seconds", type=float, default=600.0, help="stop a drill after this many wall s (600)"
    )
    p.add_argument(
        "--setting",
        action="append",
        type=setting,
        metavar="NAME=VALUE",
        help="a daemon setting for this run, e.g. TURN_BUDGET_SECONDS=0 (POLLER_ is added); repeatable",
    )
    h.add_dynamodb_option(p)
    p.add_argument(
        "--daemon-src",
        type=Path,
        help="run the daemon from this checkout's poller package (e.g. a worktree of an older commit), "
        "with this bench's harness, local DynamoDB and workload: a before/after on equal terms",
    )
    p.add_argument("--out", type=Path, default=h.OUT, help="output directory (default bench/out)")
    args = p.parse_args(argv)
    if args.daemon_src is not None and not (args.daemon_src / "poller" / "__main__.py").exists():
        p.error(f"--daemon-src {args.daemon_src}: no poller/__main__.py there")
    h.stop_children_on_sigterm()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.time_scale = [args.executions or 100], 60.0
    elif args.executions:
        sizes = [args.executions]
    results = []
    for n in sizes:
        try:
            r = run_sized("daemon", n, args)
        except dynalite.Unavailable as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print_result(r)
        results.append(r)
    (args.out / "bench_daemon.json").write_text(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
