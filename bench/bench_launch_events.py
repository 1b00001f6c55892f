"""Launch results found by polling alone vs woken by DRS's launch-result events, side by side.

One run: a local DynamoDB (``--dynamodb``: dynalite, or moto), a separate moto for EventBridge
and SQS (so the event path does not queue behind DynamoDB's calls), and per arm one drssim and
one daemon, all child processes at the same time; each daemon has its own table of N
executions (one wave per region, S servers split over the regions, drills). "polling" has no
queue; "events" long-polls the queue that an EventBridge rule fills with its drssim's "DRS
Source Server Launch Result" events. The two drssims have the same seed and get the same
commands, so both arms see the same jobs with the same timelines, on the same machine.

The PENDING and STARTED phases are skipped: with the clock frozen, the executions' jobs are
moved to IN_PROGRESS in ten groups spread over ``--spread-seconds`` (simulated), as executions
started at different times would be; both daemons make their first poll; then the clock runs
at ``--time-scale``. Executions started at different times also poll at different moments:
each item is seeded as last polled at a random point of the IN_PROGRESS interval before the
daemons start, so the timer's polls spread over the interval as in production (the same
moments in both arms). ``--aligned-polls`` seeds them unpolled instead: every first poll at
once, then every timer poll of the run in the same batch window, the fewest DescribeJobs
polling alone can make (a bench artefact, kept to compare). The launch results, the thing measured, come over the next ~6 + spread/60
simulated minutes while the daemons poll at the IN_PROGRESS interval (30 s at scale 1).
``--fail-rate`` of the servers are failed (drssim's control API, in both drssims at once) at a
random moment before their launch (FAILED results). With ``--drop-rate`` and
``--duplicate-rate`` the events drssim loses or doubles that share of its events (EventBridge
is best effort).

Detection latency = the daemon's log line of the write (``transitions``) − the wall-clock moment
drssim made the change (its ground truth). Accuracy = each server's final status against
drssim's, and every execution COMPLETED/PARTIAL/FAILED once its jobs are.

Where an event's time goes (event-assisted arm): drssim's change → its PutEvents returned
(drssim's ``GET /_sim/events``; moto delivers to SQS inside PutEvents, so this leg holds
drssim's tick, its sender threads and moto's EventBridge → SQS delivery) → the daemon wrote the
result (SQS receive, wake, the region's DescribeJobs batch, the write). The daemon's
``poller_launch_event_age_seconds`` splits the second leg: queueing → first receipt.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from drssim.client import SimControl
from drssim.launch_events import create_launch_event_queue
from poller_devtools.local import use_local_credentials

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness as h
from bench.bench_daemon import poller_env
from poller.store.dynamodb import serialize

ARMS = ("polling", "events")
IN_PROGRESS_SECONDS = 30.0  # the daemon's default IN_PROGRESS interval (simulated s)
RESULTS = ("LAUNCHED", "FAILED")
OUTCOMES = (
    "applied",
    "requeued",
    "passed_on",
    "duplicate",
    "finished",
    "unknown_job",
    "other_type",
    "malformed",
)


def start_drssim(
    out: Path, arm: str, moto_url: str | None, drop: float, duplicate: float, seed: int
) -> tuple[h.Child, str]:
    """drssim with a frozen clock; with ``moto_url``, sending launch-result events there."""
    port = h.free_port()
    argv = [
        *(sys.executable, "-m", "drssim", "serve", "--port", str(port), "--time-scale", "0"),
        *("--seed", str(seed), "--log-level", "WARNING"),
    ]
    if moto_url:
        argv += ["--events-endpoint-url", moto_url, "--events-drop-rate", str(drop)]
        argv += ["--events-duplicate-rate", str(duplicate)]
    child = h.Child(f"drssim-{arm}", argv, out, nice=h.STAND_IN_NICE)
    url = f"http://127.0.0.1:{port}"
    h.wait_http(f"{url}/_sim/health", child)
    return child, url


def failure_plan(
    control: SimControl, groups: list[list[str]], ahead: list[float], args: argparse.Namespace, t0: float
) -> list[tuple[float, str, str]]:
    """``--fail-rate`` of the servers, each to fail at a random moment before its launch.

    ``groups[g]`` are job IDs that had run ``ahead[g]`` simulated seconds into IN_PROGRESS when the
    clock was released at wall time ``t0``; a drill launches 363-393 s into IN_PROGRESS.
    """
    rng = random.Random(args.seed)
    plan = []
    for ids, done in zip(groups, ahead, strict=True):
        for job in control.truth(job_ids=ids):
            for s in job["servers"]:
                if rng.random() < args.fail_rate:
                    at = rng.uniform(5.0, max(5.0, 360.0 - done))  # simulated s after the release
                    plan.append((t0 + at / args.time_scale, job["jobID"], s["sourceServerID"]))
    return plan


def fail_some(controls: list[SimControl], plan: list[tuple[float, str, str]], stop: threading.Event) -> None:
    """Fail each (wall time, job, server) of ``plan`` in every drssim at that time."""
    for at, job, sid in sorted(plan):
        if stop.wait(max(0.0, at - time.time())):
            return
        for control in controls:
            try:
                control.fail_server(job, sid, "Launch failed (bench --fail-rate)")
            except Exception as err:  # launched meanwhile: it stays a LAUNCHED sample
                print(f"  fail {sid}: {err}", file=sys.stderr)


def result_truth(drs_url: str) -> tuple[dict[tuple[str, str], float], dict[str, dict[str, Any]]]:
    """(server, LAUNCHED|FAILED) → wall time drssim made it visible; final truth per server."""
    changes: dict[tuple[str, str], float] = {}
    final: dict[str, dict[str, Any]] = {}
    for job in SimControl(drs_url, timeout=300).truth():
        for s in job["servers"]:
            final[s["sourceServerID"]] = {"launchStatus": s["launchStatus"], "jobStatus": job["status"]}
            for c in s["launchStatusChanges"]:
                if c["status"] in RESULTS and c["wallTime"] is not None:
                    changes[(s["sourceServerID"], c["status"])] = c["wallTime"]
    return changes, final


STATE_RESULT = {"RECOVERY_LAUNCH_SUCCEEDED": "LAUNCHED", "RECOVERY_LAUNCH_FAILED": "FAILED"}


def event_legs(
    control: SimControl,
    truth: dict[tuple[str, str], float],
    seen: dict[tuple[str, str], float],
    mine: set[str],
) -> dict[str, list[float]]:
    """Per launch result with a sent event: ``sent`` = its first PutEvents returned − drssim's
    change, ``written`` = the daemon's write − that return (only when the write came after it:
    ``before_event`` counts the results a poll had written before their event was sent).
    ``with_event`` / ``lost``: detection (write − change) of the results whose event was sent /
    never sent (``--drop-rate``)."""
    sent_at: dict[tuple[str, str], float] = {}
    for entry in control.launch_events_sent()["entries"]:
        key = (entry["sourceServerID"], STATE_RESULT[entry["state"]])
        sent_at[key] = min(sent_at.get(key, entry["wallTime"]), entry["wallTime"])
    legs: dict[str, list[float]] = {
        "sent": [],
        "written": [],
        "before_event": [],
        "with_event": [],
        "lost": [],
    }
    for key, changed in truth.items():
        if key[0] not in mine:
            continue
        if key in seen:  # end to end, for results whose event was sent and for those it lost
            legs["with_event" if key in sent_at else "lost"].append(seen[key] - changed)
        if key not in sent_at:
            continue
        legs["sent"].append(sent_at[key] - changed)
        if key in seen:
            if seen[key] >= sent_at[key]:
                legs["written"].append(seen[key] - sent_at[key])
            else:
                legs["before_event"].append(seen[key] - changed)
    return {name: sorted(values) for name, values in legs.items()}


def spread_poll_phases(dynamodb: Any, table: str, interval: float, seed: int) -> None:
    """Each execution as last polled at a random point of the past ``interval`` (wall seconds),
    its servers IN_PROGRESS as its jobs are: the timer's next polls spread over the interval."""
    rng = random.Random(seed)
    now = time.time()
    for item in sorted(h.scan_table(dynamodb, table), key=lambda i: str(i["ExecutionId"])):
        for wave in item["Waves"]:
            for server in wave["Servers"]:
                server["Status"] = "IN_PROGRESS"
        item["LastPolledTime"] = Decimal(str(round(now - rng.uniform(0.0, interval), 3)))
        dynamodb.put_item(TableName=table, Item=serialize(item))


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = h.OUT / f"launch-events-{args.executions}-drop{args.drop_rate:g}-dup{args.duplicate_rate:g}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    children: list[h.Child] = []
    scale = args.time_scale
    r: dict[str, Any] = {
        "executions": args.executions,
        "servers": args.servers,
        "time_scale": scale,
        "fail_rate": args.fail_rate,
        "drop_rate": args.drop_rate,
        "duplicate_rate": args.duplicate_rate,
        "dynamodb": args.dynamodb,
        "describe_min_gap": args.describe_min_gap,
        "aligned_polls": args.aligned_polls,
    }
    stop_failing = threading.Event()
    try:
        store, ddb_url = h.start_dynamodb(args.dynamodb, out)
        children.append(store)
        moto, moto_url = h.start_moto(out)  # EventBridge + SQS only
        children.append(moto)
        drs_url: dict[str, str] = {}
        for arm in ARMS:
            events_to = moto_url if arm == "events" else None
            sim, drs_url[arm] = start_drssim(
                out, arm, events_to, args.drop_rate, args.duplicate_rate, args.seed
            )
            children.append(sim)
        queue_url = create_launch_event_queue(moto_url, "us-east-1", h.REGIONS)
        print(f"seeding 2 × {args.executions} executions × {args.servers} servers ...", flush=True)
        workloads = {arm: h.seed(ddb_url, drs_url[arm], args.executions, args.servers) for arm in ARMS}
        controls = [SimControl(drs_url[arm], timeout=300) for arm in ARMS]
        groups = 10
        group_jobs: list[list[str]] = []
        for g in range(groups):  # executions started at different times: ten groups, spread apart
            mine = [i for i in range(args.executions) if i * groups // args.executions == g]
            ids = workloads[ARMS[0]].job_ids  # one job per region: all us-east-1 ones, then us-west-2
            group_jobs.append([ids[i + k * args.executions] for i in mine for k in (0, 1)])
            for control in controls:  # same seed, same commands: the same job IDs in both drssims
                control.advance_jobs("IN_PROGRESS", group_jobs[-1])
                control.advance_clock(args.spread_seconds / groups)
        ahead = [(groups - g) * args.spread_seconds / groups for g in range(groups)]
        if not args.aligned_polls:
            for arm in ARMS:
                spread_poll_phases(
                    h.ddb_client(ddb_url), workloads[arm].table, IN_PROGRESS_SECONDS / scale, args.seed
                )
        daemons: dict[str, h.Child] = {}
        metrics_url: dict[str, str] = {}
        for arm, wl in workloads.items():
            port = h.free_port()
            env = h.child_env(poller_env(wl, ddb_url, drs_url[arm], port, scale))
            if arm == "events":
                env.update(POLLER_LAUNCH_EVENTS_QUEUE_URL=queue_url, POLLER_SQS_ENDPOINT_URL=moto_url)
            if args.describe_min_gap is not None:
                env["POLLER_DESCRIBE_MIN_GAP_SECONDS"] = str(args.describe_min_gap / scale)
            daemons[arm] = h.Child(f"daemon-{arm}", [sys.executable, "-m", "poller", "run"], out, env)
            children.append(daemons[arm])
            metrics_url[arm] = f"http://127.0.0.1:{port}/metrics"
        for arm in ARMS:  # first poll of every execution, clock frozen
            deadline = time.monotonic() + 120
            while True:
                if not daemons[arm].alive():
                    raise RuntimeError(f"daemon-{arm} exited; see {daemons[arm].log_path}")
                try:
                    if h.metric_sum(h.scrape(metrics_url[arm]), "poller_polls_total") >= args.executions:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"daemon-{arm} did not make its first polls; see {daemons[arm].log_path}"
                    )
                time.sleep(0.5)
        before = {arm: h.scrape(metrics_url[arm]) for arm in ARMS}
        for control in controls:
            control.set_time_scale(scale)
        t0 = time.time()
        plan = failure_plan(controls[0], group_jobs, ahead, args, t0)  # the same in both drssims
        failer = threading.Thread(target=fail_some, args=(controls, plan, stop_failing), daemon=True)
        failer.start()
        limit = t0 + (900.0 + args.spread_seconds) / scale + 120
        print(f"clock released at time scale {scale:g}; waiting for both daemons to finish ...", flush=True)
        finished = False
        while time.time() < limit:
            time.sleep(2.0)
            tracked = [h.metric_sum(h.scrape(metrics_url[arm]), "poller_executions_tracked") for arm in ARMS]
            elapsed = time.time() - t0
            print(f"  {elapsed:5.0f} s: tracked polling={tracked[0]:.0f} events={tracked[1]:.0f}", flush=True)
            if elapsed > 30 and not any(tracked):
                finished = True
                break
        t1 = time.time()
        stop_failing.set()
        after = {arm: h.scrape(metrics_url[arm], keep=out / f"metrics-{arm}.prom") for arm in ARMS}
        for arm in ARMS:
            daemons[arm].stop()
        r["finished"] = finished
        r["wall_seconds"] = t1 - t0
        dynamodb = h.ddb_client(ddb_url)
        for arm in ARMS:
            truth, final = result_truth(drs_url[arm])
            a, b = after[arm], before[arm]

            def delta(name: str, a: h.Scrape = a, b: h.Scrape = b, **lab: str) -> float:
                return h.metric_sum(a, name, **lab) - h.metric_sum(b, name, **lab)

            seen = h.daemon_detections(h.daemon_views(daemons[arm].log_path))
            mine = {
                sid
                for it in h.scan_table(dynamodb, workloads[arm].table)
                for w in it["Waves"]
                for s in w["Servers"]
                for sid in [s["SourceServerId"]]
            }
            lat = {
                phase: sorted(
                    seen[key] - changed
                    for key, changed in truth.items()
                    if key[1] == phase and key[0] in mine and key in seen
                )
                for phase in RESULTS
            }
            missed = {
                phase: sum(1 for key in truth if key[1] == phase and key[0] in mine and key not in seen)
                for phase in RESULTS
            }
            items = h.scan_table(dynamodb, workloads[arm].table)
            compared, mismatches, _ = h.accuracy(items, final)
            not_completed = sum(1 for it in items if it["Status"] not in ("COMPLETED", "PARTIAL", "FAILED"))
            r[arm] = {
                "detection": lat,
                "missed": missed,
                "describe_jobs_per_min": delta("poller_drs_calls_total", operation="DescribeJobs")
                / ((t1 - t0) * scale / 60.0),
                "servers_compared": compared,
                "mismatches": mismatches,
                "executions_not_finished": not_completed,
                "events": {o: delta("poller_launch_events_total", outcome=o) for o in OUTCOMES},
                "woken_detections": delta("poller_launch_detection_seconds_count", trigger="event"),
                "timer_detections": delta("poller_launch_detection_seconds_count", trigger="timer"),
            }
            if arm == "events":
                r[arm]["legs"] = event_legs(SimControl(drs_url[arm], timeout=300), truth, seen, mine)
                r[arm]["event_age_p50"] = h.hist_quantile_estimate(
                    b, a, "poller_launch_event_age_seconds", 0.5
                )
                r[arm]["event_age_p99"] = h.hist_quantile_estimate(
                    b, a, "poller_launch_event_age_seconds", 0.99
                )
    finally:
        stop_failing.set()
        for c in reversed(children):
            c.stop()
    (out / "result.json").write_text(json.dumps(r, indent=1, default=str))
    return r


def print_result(r: dict[str, Any]) -> None:
    p, e = r["polling"], r["events"]

    def pct(arm: dict[str, Any], phase: str, q: float) -> str:
        return h.fmt(h.percentile(arm["detection"][phase], q), 2)

    def acc(arm: dict[str, Any]) -> str:
        right = arm["servers_compared"] - arm["mismatches"]
        return f"{100.0 * right / max(1, arm['servers_compared']):.1f} % ({right}/{arm['servers_compared']}), {arm['executions_not_finished']} unfinished"

    rows = []
    for phase in RESULTS:
        n = len(e["detection"][phase])
        rows.append((f"{phase} detection p50 (s)", pct(p, phase, 50), pct(e, phase, 50)))
        rows.append((f"{phase} detection p99 (s)", pct(p, phase, 99), pct(e, phase, 99)))
        rows.append(
            (
                f"{phase} results (missed)",
                f"{len(p['detection'][phase])} ({p['missed'][phase]})",
                f"{n} ({e['missed'][phase]})",
            )
        )
    rows.append(
        (
            "DescribeJobs / min (simulated)",
            h.fmt(p["describe_jobs_per_min"]),
            h.fmt(e["describe_jobs_per_min"]),
        )
    )
    rows.append(("accuracy (servers = drssim)", acc(p), acc(e)))
    rows.append(
        (
            "results found by event / timer polls",
            "-",
            f"{e['woken_detections']:.0f} / {e['timer_detections']:.0f}",
        )
    )
    rows.append(("events " + ", ".join(OUTCOMES), "-", ", ".join(f"{e['events'][o]:.0f}" for o in OUTCOMES)))
    legs = e.get("legs") or {}
    for name, what in (
        ("sent", "drssim change → PutEvents returned"),
        ("written", "PutEvents returned → written"),
    ):
        values = legs.get(name, [])
        rows.append(
            (
                f"event leg: {what} p50 / p99 (s)",
                "-",
                f"{h.fmt(h.percentile(values, 50), 2)} / {h.fmt(h.percentile(values, 99), 2)} (n={len(values)})",
            )
        )
    for name, what in (("with_event", "event sent"), ("lost", "event lost")):
        values = legs.get(name, [])
        if values:
            rows.append(
                (
                    f"detection, {what}: p50 / p99 (s)",
                    "-",
                    f"{h.fmt(h.percentile(values, 50), 2)} / {h.fmt(h.percentile(values, 99), 2)} (n={len(values)})",
                )
            )
    rows.append(
        (
            "event age at first receipt p50 / p99 (s, histogram)",
            "-",
            f"{h.fmt(e.get('event_age_p50', math.nan), 2)} / {h.fmt(e.get('event_age_p99', math.nan), 2)}",
        )
    )
    rows.append(("results written before their event was sent", "-", str(len(legs.get("before_event", [])))))
    print()
    print(
        f"{r['executions']} executions × {r['servers']} servers per arm, time scale {r['time_scale']:g}, "
        f"fail rate {r['fail_rate']:g}, events dropped {r['drop_rate']:g} / duplicated {r['duplicate_rate']:g}, "
        f"{r['wall_seconds']:.0f} s wall{'' if r['finished'] else ' (NOT FINISHED)'}, DynamoDB {r['dynamodb']}"
        + (
            ""
            if r["describe_min_gap"] is None
            else f", DescribeJobs gap {r['describe_min_gap']:g} s (both daemons)"
        )
    )
    print(h.table(("", "polling only", "event-assisted"), rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Launch-result detection: polling alone vs event-assisted, two daemons side by side.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--executions", type=int, default=100, help="executions per daemon")
    parser.add_argument(
        "--servers", type=int, default=10, help="servers per execution (split over 2 regions)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulated s per wall s (intervals scale too)"
    )
    parser.add_argument("--fail-rate", type=float, default=0.1, help="share of servers failed mid-launch")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of launch events drssim loses")
    parser.add_argument("--duplicate-rate", type=float, default=0.0, help="share of launch events sent twice")
    parser.add_argument(
        "--spread-seconds",
        type=float,
        default=300.0,
        help="simulated seconds over which the executions start",
    )
    parser.add_argument("--seed", type=int, default=1, help="drssim and victim seed")
    parser.add_argument(
        "--describe-min-gap",
        type=float,
        default=None,
        help="both daemons' POLLER_DESCRIBE_MIN_GAP_SECONDS (simulated s; default: the daemon's, the window)",
    )
    parser.add_argument(
        "--aligned-polls",
        action="store_true",
        help="every execution's first poll at once (timer polls all in one batch window) instead of spread",
    )
    h.add_dynamodb_option(parser)
    args = parser.parse_args(argv)
    use_local_credentials()
    h.stop_children_on_sigterm()
    print_result(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
