"""Shared machinery of the daemon benchmarks: child processes, seeding, scraping, statistics.

Everything talks to 127.0.0.1 only. Every child process is started through :class:`Child` and
stopped in a ``finally`` (SIGTERM, then SIGKILL after a grace period), so a run always ends.

Workload: N executions, each with one wave per region (S servers split over the regions), one
drssim job per wave (drill timelines). drssim starts with a frozen clock (time scale 0); jobs
are created in bulk, the items are written in POLLING to the local DynamoDB (dynalite or moto,
:mod:`bench.dynalite`), the poller under test is started and makes its first poll, then the
clock is set to the requested time scale: every job plays its ~20 min drill at the same moment
(a worst case burst), and every poller interval is divided by the same time scale so the
comparison is faithful in simulated time.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from drssim.client import SimControl
from poller_devtools.local import LOCAL_CREDENTIALS, free_port

from bench import dynalite
from poller.domain.phases import DEFAULT_INTERVALS as POLLER_INTERVALS
from poller.domain.phases import PHASE_PRIORITY
from poller.store.dynamodb import deserialize, serialize
from poller.store.lease import is_replica_record
from poller.store.tables import execution_table_definition, plans_table_definition

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
REGIONS = ("us-east-1", "us-west-2")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PHASES = ("STARTED", "IN_PROGRESS", "LAUNCHED")
# the interval the poller uses while waiting for each transition (phase before it), default seconds
WAIT_INTERVAL = {"STARTED": "pending", "IN_PROGRESS": "started", "LAUNCHED": "in_progress"}
DEFAULT_INTERVALS = {
    "pending": 45.0,
    "started": 15.0,
    "in_progress": 30.0,
    "launching": 15.0,
    "post_launch": 30.0,
    "default": 30.0,
}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POLLER_"))}
    env.update(LOCAL_CREDENTIALS)
    env["POLLER_CONFIG_FILE"] = "/nonexistent/poller.env"  # never pick up config/poller.env
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def stop_children_on_sigterm() -> None:
    """A killed bench (SIGTERM) unwinds like Ctrl-C, so every ``finally`` stops its children."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


# ---- child processes -----------------------------------------------------------------------------
class Child:
    """A child process with its CPU seconds and peak RSS read from /proc (Linux)."""

    def __init__(
        self, name: str, argv: Sequence[str], out_dir: Path, env: dict[str, str] | None = None, nice: int = 0
    ):
        self.name = name
        self.log_path = out_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env or child_env(),
            cwd=out_dir,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        self.pid = self.proc.pid
        self.peak_rss_mb = 0.0
        self.cpu_trace: list[tuple[float, float]] = []  # (monotonic s, CPU s) from sample_cpu()

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def sample_cpu(self) -> None:
        self.cpu_trace.append((time.monotonic(), self.cpu_seconds()))

    def run_queue_seconds(self) -> float:
        """Seconds the main thread (the daemon's event loop) was runnable but waiting for a core:
        time the machine, not the process, added to its loop turns (/proc/<pid>/schedstat)."""
        try:
            return int(Path(f"/proc/{self.pid}/schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return math.nan

    def busiest_window(self, seconds: float = 30.0) -> float:
        """The highest mean CPU (cores) over ``seconds`` of the samples: a saturated moto shows
        ~1 core there even when its mean over the run is lower (the load comes in bursts)."""
        best = math.nan
        start = 0
        for t_end, cpu_end in self.cpu_trace:
            while self.cpu_trace[start][0] < t_end - seconds:
                start += 1
            t_start, cpu_start = self.cpu_trace[max(0, start - 1)]
            if t_end - t_start >= seconds and not math.isnan(cpu_end - cpu_start):
                rate = (cpu_end - cpu_start) / (t_end - t_start)
                best = rate if math.isnan(best) else max(best, rate)
        return best

    def rss_mb(self) -> float:
        """Peak RSS so far (VmHWM), remembered so it survives the process's exit."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
        except OSError:
            pass
        return self.peak_rss_mb

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.rss_mb()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def wait_http(url: str, child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited ({child.proc.returncode}); see {child.log_path}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{child.name} at {url} did not come up within {timeout} s")


# The stand-ins run niced: on this 2-core machine a saturated moto would otherwise take turns
# with the poller under test, and the poller's event-loop lag would measure the machine's
# contention instead of the poller's own blocking. moto still gets every cycle the poller idles.
STAND_IN_NICE = 5


def start_moto(out_dir: Path) -> tuple[Child, str]:
    port = free_port()
    argv = [sys.executable, "-m", "poller_devtools.local", "--host", "127.0.0.1", "--port", str(port)]
    child = Child("moto", argv, out_dir, nice=STAND_IN_NICE)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/", child)
    return child, url


def start_dynamodb(kind: str, out_dir: Path, check: bool = True) -> tuple[Child, str]:
    """The local DynamoDB of a run, ``kind`` "dynalite" or "moto" (:mod:`bench.dynalite`), checked
    for what the daemon relies on (:func:`bench.dynalite.check`) unless ``check`` is false."""
    if kind == "moto":
        dynalite.log("starting moto")
        child, url = start_moto(out_dir)
    elif kind == "dynalite":
        port = free_port()
        argv = dynalite.server_argv("127.0.0.1", port, dynalite.log)
        dynalite.log(f"starting dynalite {dynalite.VERSION}")
        child = Child("dynalite", argv, out_dir, nice=STAND_IN_NICE)
        url = f"http://127.0.0.1:{port}"
        wait_http(url, child)
    else:
        raise ValueError(f"unknown local DynamoDB {kind!r}: one of {', '.join(dynalite.KINDS)}")
    if check:
        try:
            dynalite.check(ddb_client(url), kind, progress=dynalite.log)
        except BaseException:
            child.stop()
            raise
    return child, url


@contextmanager
def running_dynamodb(kind: str, out_dir: Path, check: bool = True) -> Iterator[str]:
    """:func:`start_dynamodb` as a context: yields the URL, stops the server on the way out."""
    child, url = start_dynamodb(kind, out_dir, check)
    try:
        yield url
    finally:
        child.stop()


def add_dynamodb_option(parser: Any) -> None:
    """``--dynamodb dynalite|moto`` on a benchmark's command line; its default comes from
    ``BENCH_DYNAMODB`` when set, so one command line can pick moto on this code and on older
    code that has no ``--dynamodb`` (and ran on moto only)."""
    default = os.environ.get("BENCH_DYNAMODB") or dynalite.default_kind()
    parser.add_argument(
        "--dynamodb",
        choices=dynalite.KINDS,
        default=default,
        help="local DynamoDB: dynalite (needs Node.js; installed on first use) or moto; "
        f"default {default} (BENCH_DYNAMODB if set, else dynalite when node is on PATH)",
    )


def start_drssim(out_dir: Path, seed: int = 1, extra: Sequence[str] = ()) -> tuple[Child, str]:
    """drssim with a frozen clock; :func:`release_clock` starts the drill. ``extra``: more of
    ``drssim serve``'s options (e.g. ``--sts-endpoint-url`` to tell accounts apart)."""
    port = free_port()
    argv = [sys.executable, "-m", "drssim", "serve", "--port", str(port), "--time-scale", "0", *extra]
    child = Child(
        "drssim", [*argv, "--seed", str(seed), "--log-level", "WARNING"], out_dir, nice=STAND_IN_NICE
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/_sim/health", child)
    return child, url


# ---- workload -------------------------------------------------------------------------------------
@dataclass
class Workload:
    executions: int
    servers: int
    table: str
    plans_table: str
    index: str = "StatusIndex"
    regions: tuple[str, ...] = REGIONS
    job_ids: list[str] = field(default_factory=list)


def ddb_client(url: str) -> Any:
    cfg = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=16)
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        config=cfg,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def seed(dynamodb_url: str, drs_url: str, executions: int, servers: int) -> Workload:
    """Tables, drssim jobs (bulk) and N execution items in POLLING; one wave per region."""
    tag = uuid.uuid4().hex[:8]
    wl = Workload(executions, servers, f"bench-exec-{tag}", f"bench-plans-{tag}")
    db = ddb_client(dynamodb_url)
    db.create_table(**execution_table_definition(wl.table, wl.index))
    db.create_table(**plans_table_definition(wl.plans_table))
    dynalite.wait_active(db, wl.table)
    dynalite.wait_active(db, wl.plans_table)
    control = SimControl(drs_url, timeout=300)
    per_region = [
        servers // len(wl.regions) + (1 if i < servers % len(wl.regions) else 0)
        for i in range(len(wl.regions))
    ]
    waves_by_region: list[list[tuple[str, list[str]]]] = []
    for region, count in zip(wl.regions, per_region, strict=True):
        ids = control.bulk_jobs(executions, region=region, servers_per_job=count, is_drill=True)
        servers_of = {
            j["jobID"]: [s["sourceServerID"] for s in j["servers"]] for j in control.truth(region=region)
        }
        waves_by_region.append([(j, servers_of[j]) for j in ids])
        wl.job_ids.extend(ids)
    start = Decimal(str(round(time.time(), 3)))
    items = []
    for i in range(executions):
        waves = []
        for r, region in enumerate(wl.regions):
            job_id, sids = waves_by_region[r][i]
            waves.append(
                {
                    "WaveName": f"Wave-{r + 1}",
                    "Region": region,
                    "Status": "LAUNCHING",
                    "Servers": [
                        {"SourceServerId": s, "RecoveryJobId": job_id, "Status": "LAUNCHING"} for s in sids
                    ],
                }
            )
        item = {
            "ExecutionId": f"exec-{i:06d}-{tag}",
            "PlanId": "bench-plan",
            "ExecutionType": "DRILL",
            "Status": "POLLING",
            "StartTime": start,
            "Waves": waves,
            "Version": 0,
        }
        items.append({"PutRequest": {"Item": serialize(item)}})
    chunks = [items[k : k + 25] for k in range(0, len(items), 25)]

    def write(chunk: list[dict[str, Any]]) -> None:
        request = {wl.table: chunk}
        while request:
            request = db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, chunks))
    return wl


def release_clock(drs_url: str, time_scale: float) -> float:
    """Start the drill: returns the wall time at which simulated time began to run."""
    SimControl(drs_url).set_time_scale(time_scale)
    return time.time()


def scan_table(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table but the replicas' liveness records (they change every heartbeat)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**params)
        items.extend(
            deserialize(i)
            for i in page["Items"]
            if not is_replica_record(i.get("ExecutionId", {}).get("S", ""))
        )
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---- ground truth, detection and accuracy ------------------------------------------------------------
def truth_changes(drs_url: str) -> tuple[dict[tuple[str, str], float], dict[str, dict[str, Any]]]:
    """(server, phase) → wall time drssim made it visible; and the final truth per server."""
    changes: dict[tuple[str, str], float] = {}
    final: dict[str, dict[str, Any]] = {}
    for job in SimControl(drs_url, timeout=300).truth():
        started = next((c["wallTime"] for c in job["statusChanges"] if c["status"] == "STARTED"), None)
        for s in job["servers"]:
            sid = s["sourceServerID"]
            final[sid] = {"launchStatus": s["launchStatus"], "job": job["jobID"], "jobStatus": job["status"]}
            if started is not None:
                changes[(sid, "STARTED")] = started
            for c in s["launchStatusChanges"]:
                if c["status"] in ("IN_PROGRESS", "LAUNCHED") and c["wallTime"] is not None:
                    changes[(sid, c["status"])] = c["wallTime"]
    return changes, final


def daemon_views(log_path: Path) -> dict[str, tuple[str, list[tuple[float, str]]]]:
    """Server → (its execution, [(wall time, status the daemon wrote), ...]) in log order, from the
    daemon's ``transitions`` lines (one per written poll, logged after its conditional UpdateItem)."""
    views: dict[str, tuple[str, list[tuple[float, str]]]] = {}
    with log_path.open("rb") as fh:
        for raw in fh:
            if b'"transitions"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("event") != "transitions":
                continue
            when = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
            execution_id = str(line.get("execution_id", ""))
            for change in line.get("changes", []):
                # server changes have scope="server"; their subjects are source server ids "s-..."
                subject = str(change.get("subject", ""))
                if change.get("attribute") == "Status" and subject.startswith("s-"):
                    views.setdefault(subject, (execution_id, []))[1].append((when, change["new"]))
    return views


def daemon_detections(views: dict[str, tuple[str, list[tuple[float, str]]]]) -> dict[tuple[str, str], float]:
    """(server, status) → when the daemon first wrote it (:func:`daemon_views`)."""
    seen: dict[tuple[str, str], float] = {}
    for sid, (_, changes) in views.items():
        for when, status in changes:
            seen.setdefault((sid, status), when)
    return seen


def interval_at_change(
    views: dict[str, tuple[str, list[tuple[float, str]]]], truth: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    """(server, phase) → the poll interval (default, simulated s) the daemon was using for that
    server's execution when drssim made the change: the phase it believed the execution was in,
    by the daemon's own rule (``PHASE_PRIORITY``: its most urgent unfinished server's status; a
    drill's LAUNCHED server is finished).

    A drill's job is STARTED for only 30–60 s, less than the 45 s PENDING interval, so a change
    to IN_PROGRESS is often made while the daemon still (rightly, as last seen) polls at the
    PENDING pace; "that phase's interval" of the target is this one.
    """
    by_execution: dict[str, list[str]] = {}
    for sid, (execution_id, _) in views.items():
        by_execution.setdefault(execution_id, []).append(sid)

    def seen_at(sid: str, t: float) -> str:
        status = "PENDING"
        for when, new in views[sid][1]:
            if when > t:
                break
            status = new
        return status

    intervals: dict[tuple[str, str], float] = {}
    for (sid, phase), changed in truth.items():
        if sid not in views:
            continue
        seen = {seen_at(other, changed) for other in by_execution[views[sid][0]]}
        urgent = next((status for status in PHASE_PRIORITY if status in seen), "PENDING")
        intervals[(sid, phase)] = POLLER_INTERVALS.for_phase(urgent)
    return intervals


def jsonl_detections(path: Path) -> dict[tuple[str, str], float]:
    seen: dict[tuple[str, str], float] = {}
    if path.exists():
        with path.open() as fh:
            for raw in fh:
                sid, status, when = json.loads(raw)
                seen.setdefault((sid, status), when)
    return seen


def detection_latencies(
    truth: dict[tuple[str, str], float], seen: dict[tuple[str, str], float]
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Per phase: detection − change (wall seconds); and per phase how many were never seen as such."""
    lat: dict[str, list[float]] = {p: [] for p in PHASES}
    skipped: dict[str, int] = dict.fromkeys(PHASES, 0)
    for (sid, phase), changed in truth.items():
        when = seen.get((sid, phase))
        if when is None:
            skipped[phase] += 1
        else:
            lat[phase].append(when - changed)
    return lat, skipped


def accuracy(items: Iterable[dict[str, Any]], final: dict[str, dict[str, Any]]) -> tuple[int, int, int]:
    """(servers compared, server status mismatches, executions not COMPLETED though every job is)."""
    compared = mismatches = exec_bad = 0
    for item in items:
        all_done = True
        for wave in item.get("Waves", []):
            for s in wave.get("Servers", []):
                t = final.get(s["SourceServerId"])
                if t is None:
                    continue
                compared += 1
                if s.get("Status") != t["launchStatus"]:
                    mismatches += 1
                all_done = all_done and t["jobStatus"] == "COMPLETED"
        if all_done and item.get("Status") != "COMPLETED":
            exec_bad += 1
    return compared, mismatches, exec_bad


# ---- prometheus ---------------------------------------------------------------------------------------
def scrape(url: str, keep: Path | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, labels); ``keep`` also saves the exposition text, for a look afterwards."""
    from prometheus_client.parser import text_string_to_metric_families

    body = urllib.request.urlopen(url, timeout=10).read().decode()
    if keep is not None:
        keep.write_text(body)
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric_sum(m: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        v
        for (n, lab), v in m.items()
        if n == name and all(dict(lab).get(k) == val for k, val in labels.items())
    )


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def hist_buckets(before: Scrape, after: Scrape, name: str) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of histogram ``name``'s observations between two scrapes,
    summed over its labels, in bound order (the last is +Inf: the total)."""
    buckets: dict[float, float] = {}
    for (n, lab), v in after.items():
        if n == f"{name}_bucket":
            le = float(dict(lab)["le"])
            buckets[le] = buckets.get(le, 0.0) + v - before.get((n, lab), 0.0)
    return sorted(buckets.items())


def hist_quantile(before: Scrape, after: Scrape, name: str, q: float) -> float:
    """Upper bucket bound holding quantile ``q`` of the observations between two scrapes."""
    ordered = hist_buckets(before, after, name)
    if not ordered:
        return math.nan
    total = ordered[-1][1]
    if total <= 0:
        return math.nan
    for le, count in ordered:
        if count >= q * total:
            return le
    return math.inf


def hist_quantile_estimate(before: Scrape, after: Scrape, name: str, q: float) -> float:
    """Quantile ``q`` interpolated linearly inside its bucket, as Prometheus's
    ``histogram_quantile`` does: an estimate, between the bucket's bounds."""
    ordered = hist_buckets(before, after, name)
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return math.inf


def hist_share_at_most(before: Scrape, after: Scrape, name: str, bound: float) -> float:
    """Share (0..1) of the observations between two scrapes that fell in buckets ≤ ``bound``
    (a bucket bound): e.g. the loop-lag probes that were at most 50 ms late."""
    ordered = hist_buckets(before, after, name)
    total = ordered[-1][1] if ordered else 0.0
    within = dict(ordered).get(bound, 0.0)
    return within / total if total > 0 else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (also readable on a terminal)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])
