"""Organisation scale: many DRS account-regions at their quota ceiling, one daemon replica, then three.

The workload (issue 18's "Measure"): ``--accounts`` × ``--regions`` account-regions, each running
``--jobs`` concurrent DRS jobs (its quota ceiling, 20 by default; drssim enforces the quota, so
seeding past it fails), ``--servers`` source servers per job, one one-wave DRILL execution per
job: by default 20 × 2 = 40 account-regions, 800 executions, 8,000 servers. Every job plays its
~20 simulated-minute drill at the same moment (a worst-case burst), at ``--time-scale`` simulated
seconds per wall second; every POLLER_* interval, the batch window, finder period, lease and
heartbeat are divided by the same factor (``bench/bench_daemon.py``), so the run is the
production cadence compressed.

Accounts: each wave names its ``AccountId`` (member accounts 111100000000, 111100000001, ...,
in real region names); the daemon and the reference reach each account through the member role,
with moto's STS AssumeRole (a child process), and drssim names each call's account from its
credentials (asking that STS) and keeps each account's jobs and quotas apart. ``--stand-in``
measures without accounts: each account-region is then a distinct DRS region of the daemon's
own account (``zz-acct<letters>-<n>``, listed in POLLER_DRS_REGIONS), with the same batching
keys, call pattern and quota ceilings but no assumed-role sessions.

Part ``org`` (one replica), side by side with the plan's Lambda design
(``bench/reference_poller.py``: one DescribeJobs per wave per tick) on the same workload:
DescribeJobs per account-region per batch window and per simulated minute, detection latency per
transition against the interval the daemon was polling at, CPU (mean and busiest 30 s, as
measured and per simulated second) and peak RSS against the smallest Fargate task (0.25 vCPU,
512 MB), final statuses against drssim's truth.

Part ``replicas``: the same workload, ``--replicas`` daemon processes on the same tables, each
with its own DRS endpoint through a recording pass-through (``bench/drs_tap.py``). Each
replica's ``poller_executions_tracked`` is sampled through the run: the split (within ±20 % of
an even share), then one replica is SIGKILLed at ``--kill-at`` simulated seconds into the drill
and the survivors' re-split is timed against the lease period. Checked afterwards: every final
status against drssim's truth, no execution's job asked about by two replicas at once (from the
pass-through's record), no status written twice or regressed (the replicas' ``transitions``
log lines), write conflicts and leases lost (metrics).

    .venv/bin/python bench/bench_org.py                          # both parts, defaults (~15 min)
    .venv/bin/python bench/bench_org.py --parts replicas --accounts 5 --replica-time-scale 20
    .venv/bin/python bench/bench_org.py --parts org --no-reference
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drssim.client import SimControl

from bench import bench_daemon, dynalite
from bench import harness as h
from poller.store.dynamodb import serialize
from poller.store.tables import execution_table_definition, plans_table_definition

progress = dynalite.log
FARGATE_VCPU = 0.25  # the smallest Fargate task: 0.25 vCPU, 512 MB
FARGATE_MB = 512.0
COUNT_EVERY = 2.0  # wall s between counts of POLLING executions (StatusIndex COUNT queries)
SHARE_TOLERANCE = 0.20  # each replica within ±20 % of an even share
# server statuses in the order a launch goes through them (a write of a lower one is a regression)
STATUS_RANK = {
    "LAUNCHING": 0,
    "PENDING": 1,
    "STARTED": 2,
    "IN_PROGRESS": 3,
    "LAUNCHED": 4,
    "FAILED": 4,
    "TERMINATED": 5,
}
STAND_IN = (
    "stand-in for accounts: each account-region is a distinct DRS region of one account "
    "(same batching keys, call pattern and quotas; no assumed roles)"
)
REAL = (
    "member accounts reached through the member role (moto's STS AssumeRole); drssim keeps each "
    "account's jobs and quotas apart and names each call's account from its credentials"
)
REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "us-east-2",
    "sa-east-1",
)
FIRST_MEMBER_ACCOUNT = 111100000000  # member accounts 111100000000, 111100000001, ...


# ---- the workload -------------------------------------------------------------------------------
@dataclass(frozen=True)
class OrgShape:
    accounts: int
    regions: int
    jobs: int  # concurrent jobs per account-region: its quota ceiling
    servers: int  # per job
    stand_in: bool = False  # account-regions as distinct regions of one account (no accounts)

    @property
    def account_regions(self) -> int:
        return self.accounts * self.regions

    @property
    def executions(self) -> int:
        return self.account_regions * self.jobs

    @property
    def how(self) -> str:
        return STAND_IN if self.stand_in else REAL

    def targets(self) -> list[tuple[str | None, str]]:
        """(AccountId of the waves, or None for the daemon's own account; region), in order."""
        if self.stand_in:
            return [(None, stand_in_region(a, r)) for a in range(self.accounts) for r in range(self.regions)]
        if not 0 < self.regions <= len(REGIONS):
            raise ValueError(f"at most {len(REGIONS)} regions per account")
        return [(member_account(a), REGIONS[r]) for a in range(self.accounts) for r in range(self.regions)]

    def region_names(self) -> list[str]:
        """POLLER_DRS_REGIONS: every region a target is in."""
        return list(dict.fromkeys(region for _, region in self.targets()))


def member_account(account: int) -> str:
    if not 0 <= account < 10**8:
        raise ValueError("too many accounts")
    return f"{FIRST_MEMBER_ACCOUNT + account:012d}"


def stand_in_region(account: int, region: int) -> str:
    """The DRS region standing for account ``account``'s ``region``-th region (both from 0):
    ``zz-acct<two letters>-<digit>``, an AWS-shaped name the daemon's settings accept."""
    if not 0 <= account < 26 * 26 or not 0 <= region < 9:
        raise ValueError("at most 676 accounts and 9 regions per account")
    letters = chr(ord("a") + account // 26) + chr(ord("a") + account % 26)
    return f"zz-acct{letters}-{region + 1}"


def bulk_jobs(drs_url: str, account: str | None, region: str, count: int, servers: int) -> list[str]:
    """drssim's bulk job creation (``/_sim/jobs/bulk``) in ``account`` (None: drssim's own)."""
    body: dict[str, Any] = {"region": region, "count": count, "serversPerJob": servers, "isDrill": True}
    if account is not None:
        body["account"] = account
    request = urllib.request.Request(
        f"{drs_url}/_sim/jobs/bulk",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as answer:
        return [str(i) for i in json.loads(answer.read())["jobIDs"]]


def seed_org(dynamodb_url: str, drs_url: str, shape: OrgShape, notes: dict[str, Any]) -> h.Workload:
    """Tables, ``shape.jobs`` drssim jobs per account-region under its quota (drssim refuses one
    more), and one POLLING one-wave execution item per job (its wave naming the account);
    ``notes["index_rewrites"]`` counts items written again because the StatusIndex missed them
    (:func:`reindex_missing`)."""
    tag = os.urandom(4).hex()
    wl = h.Workload(shape.executions, shape.servers, f"bench-org-{tag}", f"bench-org-plans-{tag}")
    wl.regions = tuple(shape.region_names())
    db = h.ddb_client(dynamodb_url)
    db.create_table(**execution_table_definition(wl.table, wl.index))
    db.create_table(**plans_table_definition(wl.plans_table))
    dynalite.wait_active(db, wl.table)
    dynalite.wait_active(db, wl.plans_table)
    control = SimControl(drs_url, timeout=300)
    # DRS's documented defaults, each account-region filled to its concurrent-jobs ceiling
    control.set_quotas(max_concurrent_jobs=shape.jobs, max_servers_in_jobs=500, one_job_per_server=True)
    start = Decimal(str(round(time.time(), 3)))
    items: list[dict[str, Any]] = []
    for n, (account, region) in enumerate(shape.targets()):
        ids = bulk_jobs(drs_url, account, region, shape.jobs, shape.servers)
        members = {
            j["jobID"]: [s["sourceServerID"] for s in j["servers"]]
            for j in control.truth(region=region, account=account)
        }
        for k, job_id in enumerate(ids):
            wave: dict[str, Any] = {
                "WaveName": "Wave-1",
                "Region": region,
                "Status": "LAUNCHING",
                "Servers": [
                    {"SourceServerId": s, "RecoveryJobId": job_id, "Status": "LAUNCHING"}
                    for s in members[job_id]
                ],
            }
            if account is not None:
                wave["AccountId"] = account
            item = {
                "ExecutionId": f"exec-{n:03d}-{k:03d}-{tag}",
                "PlanId": f"bench-plan-{n:03d}",
                "ExecutionType": "DRILL",
                "Status": "POLLING",
                "StartTime": start,
                "Waves": [wave],
                "Version": 0,
            }
            items.append({"PutRequest": {"Item": serialize(item)}})
        wl.job_ids.extend(ids)
    for k in range(0, len(items), 25):
        request: dict[str, Any] = {wl.table: items[k : k + 25]}
        while request:
            request = db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    notes["index_rewrites"] = notes.get("index_rewrites", 0) + reindex_missing(db, wl, items)
    return wl


def indexed_ids(db: Any, wl: h.Workload) -> set[str]:
    """Execution IDs the StatusIndex lists as POLLING (every page)."""
    ids: set[str] = set()
    params: dict[str, Any] = {
        "TableName": wl.table,
        "IndexName": wl.index,
        "KeyConditionExpression": "#s = :p",
        "ProjectionExpression": "ExecutionId",
        "ExpressionAttributeNames": {"#s": "Status"},
        "ExpressionAttributeValues": {":p": {"S": "POLLING"}},
    }
    while True:
        page = db.query(**params)
        ids.update(i["ExecutionId"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return ids
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def reindex_missing(db: Any, wl: h.Workload, items: list[dict[str, Any]]) -> int:
    """The local DynamoDB stand-in once left a freshly written item out of the StatusIndex (seen
    in one run of this bench: no daemon ever saw that execution). The finder only knows what the
    index lists, so every seeded item is checked there and a missing one written again."""
    rewritten = 0
    for _ in range(3):
        listed = indexed_ids(db, wl)
        missing = [
            i["PutRequest"]["Item"]
            for i in items
            if i["PutRequest"]["Item"]["ExecutionId"]["S"] not in listed
        ]
        if not missing:
            return rewritten
        progress(f"  {len(missing)} seeded item(s) missing from the StatusIndex: written again")
        for item in missing:
            db.put_item(TableName=wl.table, Item=item)
        rewritten += len(missing)
    raise RuntimeError(f"the local DynamoDB's StatusIndex still misses items after {rewritten} rewrites")


# ---- DescribeJobs per account-region per batch window -------------------------------------------
def calls_per_window(times_by_region: dict[str, list[float]], window: float, t0: float) -> dict[str, float]:
    """DescribeJobs calls per account-region and batch window: over windows of ``window`` wall
    seconds aligned on ``t0``, the mean count among windows with a call, and the most calls in
    any ``window``-long span (sliding); 1 and 1 is one call per window."""
    per_window: list[int] = []
    most = 0
    for times in times_by_region.values():
        ordered = sorted(times)
        per_window.extend(Counter(math.floor((t - t0) / window) for t in ordered).values())
        start = 0
        for end, t in enumerate(ordered):
            while ordered[start] <= t - window:
                start += 1
            most = max(most, end - start + 1)
    mean = sum(per_window) / len(per_window) if per_window else math.nan
    return {"mean_per_window": mean, "max_per_window": float(most)}


def inspect_describe_jobs(window: float) -> Any:
    """bench_daemon.run_one's ``inspect`` hook: drssim's DescribeJobs record over the drill."""

    def inspect(drs_url: str, wl: h.Workload, t0: float, t1: float, result: dict[str, Any]) -> None:
        calls = [
            c
            for c in SimControl(drs_url, timeout=300).calls(operation="DescribeJobs")
            if t0 <= c["wallTime"] <= t1
        ]
        by_region: dict[str, list[float]] = {}
        for c in calls:
            by_region.setdefault(f"{c.get('account')}/{c['region']}", []).append(c["wallTime"])
        ids = [c["jobIDs"] for c in calls]
        result["describe_jobs"] = {
            "calls": len(calls),
            "account_regions_asked": len(by_region),
            "job_ids_per_call_mean": sum(ids) / len(ids) if ids else math.nan,
            "job_ids_per_call_max": max(ids, default=0),
            "refused": sum(1 for c in calls if c["outcome"] != "OK"),
            **calls_per_window(by_region, window, t0),
        }

    return inspect


# ---- replicas: who asked DRS about which job, and the status writes -----------------------------
def read_asks(path: Path) -> list[tuple[int, float, str, list[str]]]:
    asks = []
    if path.exists():
        for raw in path.read_text().splitlines():
            try:
                replica, when, region, ids = json.loads(raw)
            except ValueError:
                continue  # a line cut short by the pass-through's stop
            asks.append((int(replica), float(when), str(region), list(ids)))
    return asks


def phase_of(when: float, phases: Sequence[tuple[str, float]]) -> str:
    """The name of the last phase (name, start wall time; in start order) begun by ``when``."""
    name = phases[0][0] if phases else ""
    for phase, start in phases:
        if when >= start:
            name = phase
    return name


def ask_overlaps(
    asks: Iterable[tuple[int, float, str, list[str]]],
    gap: float,
    phases: Sequence[tuple[str, float]] = (),
) -> dict[str, Any]:
    """From the DescribeJobs record: jobs asked about by more than one replica (hand-overs) and
    jobs *polled by two replicas at once*: replica B asked between two asks of replica A that are
    at most ``gap`` seconds apart (A kept polling it on its cadence while B did too). A job handed
    from A to B and, much later, back to A is a hand-over, not an overlap. With ``phases``, the
    overlapping jobs are also counted by the phase in which B's first such ask fell."""
    by_job: dict[str, list[tuple[float, int]]] = {}
    for replica, when, _, ids in asks:
        for job in ids:
            by_job.setdefault(job, []).append((when, replica))
    handed = 0
    overlaps: list[float] = []
    for seen in by_job.values():
        seen.sort()
        runs: list[tuple[int, float, float]] = []  # (replica, first ask, last ask)
        for when, replica in seen:
            if runs and runs[-1][0] == replica:
                runs[-1] = (replica, runs[-1][1], when)
            else:
                runs.append((replica, when, when))
        handed += len(runs) > 1
        overlaps += [
            between[1]
            for before, between, after in zip(runs, runs[1:], runs[2:], strict=False)
            if before[0] == after[0] and after[1] - before[2] <= gap
        ][:1]
    result: dict[str, Any] = {
        "jobs_asked": len(by_job),
        "handed_over": handed,
        "asked_by_two_at_once": len(overlaps),
    }
    if phases:
        result["at_once_by_phase"] = dict(Counter(phase_of(t, phases) for t in overlaps))
    return result


def status_writes(
    views_by_replica: dict[str, dict[str, tuple[str, list[tuple[float, str]]]]],
) -> dict[str, int]:
    """Across the replicas' ``transitions`` lines: server status writes, and how many wrote a
    status the server already had (a duplicate: two writers) or one earlier in the launch than the
    last written (a regression)."""
    per_server: dict[str, list[tuple[float, str, str]]] = {}
    for replica, views in views_by_replica.items():
        for sid, (_, changes) in views.items():
            per_server.setdefault(sid, []).extend((when, status, replica) for when, status in changes)
    writes = duplicates = regressions = 0
    for changes in per_server.values():
        changes.sort()
        last: str | None = None
        for _, status, _ in changes:
            writes += 1
            if status == last:
                duplicates += 1
            elif last is not None and STATUS_RANK.get(status, 0) < STATUS_RANK.get(last, 0):
                regressions += 1
            last = status
    return {"server_status_writes": writes, "duplicates": duplicates, "regressions": regressions}


def lease_events(log_path: Path, phases: Sequence[tuple[str, float]]) -> dict[str, int]:
    """A replica's ``lease_taken_over`` and ``lease_lost`` log lines, per phase of the run."""
    counts: Counter[str] = Counter()
    with log_path.open("rb") as fh:
        for raw in fh:
            if b"lease_taken_over" not in raw and b"lease_lost" not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            when = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
            counts[f"{line.get('event')} ({phase_of(when, phases)})"] += 1
    return dict(counts)


def sts_args(sts: dict[str, str]) -> list[str]:
    """``--sts-endpoint-url URL`` (drssim's and the reference's option) when moto's STS runs."""
    url = sts.get("POLLER_STS_ENDPOINT_URL")
    return ["--sts-endpoint-url", url] if url else []


def within(value: float, even: float, tolerance: float = SHARE_TOLERANCE) -> bool:
    return even > 0 and abs(value - even) <= tolerance * even


def polling_count(db: Any, wl: h.Workload) -> int:
    """POLLING executions, from the StatusIndex (COUNT: no item crosses the wire)."""
    count, params = (
        0,
        {
            "TableName": wl.table,
            "IndexName": wl.index,
            "KeyConditionExpression": "#s = :p",
            "ExpressionAttributeNames": {"#s": "Status"},
            "ExpressionAttributeValues": {":p": {"S": "POLLING"}},
            "Select": "COUNT",
        },
    )
    while True:
        page = db.query(**params)
        count += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return count
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


REPLICA_METRICS = {
    "tracked": "poller_executions_tracked",
    "held": "poller_leases_held",
    "share": "poller_replica_share",
    "live": "poller_replicas_live",
    "write_conflicts": "poller_write_conflicts_total",
    "leases_lost": "poller_leases_lost_total",
    "taken_over": "poller_leases_taken_over_total",
    "shed": "poller_executions_shed_total",
    "drs_calls": "poller_drs_calls_total",
    "polls": "poller_polls_total",
}


def replica_sample(url: str, keep: Path | None = None) -> dict[str, float] | None:
    try:
        m = h.scrape(url, keep)
    except OSError:
        return None
    return {key: h.metric_sum(m, name) for key, name in REPLICA_METRICS.items()}


def run_replicas(args: argparse.Namespace, shape: OrgShape, out_root: Path) -> dict[str, Any]:
    """Part ``replicas``; always stops its children."""
    out = out_root / "replicas"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    scale = args.replica_time_scale
    lease = 90.0 / scale  # bench_daemon.poller_env scales POLLER_LEASE_SECONDS so
    names = [f"replica-{i + 1}" for i in range(args.replicas)]
    victim = names[min(args.kill, args.replicas) - 1]
    result: dict[str, Any] = {
        "replicas": args.replicas,
        "executions": shape.executions,
        "time_scale": scale,
        "lease_wall_seconds": lease,
        "victim": victim,
        "kill_at_sim_seconds": args.kill_at,
    }
    children: list[h.Child] = []
    samples: list[dict[str, Any]] = []
    try:
        store, db_url = h.start_dynamodb(args.dynamodb, out)
        children.append(store)
        sts: dict[str, str] = {}
        if not shape.stand_in:
            progress("starting moto (STS AssumeRole for the member accounts)")
            moto, moto_url = h.start_moto(out)
            children.append(moto)
            sts = {"POLLER_STS_ENDPOINT_URL": moto_url}
        progress("starting drssim")
        sim, drs_url = h.start_drssim(out, extra=sts_args(sts))
        children.append(sim)
        progress(f"seeding {shape.executions:,} executions in {shape.account_regions} account-regions")
        wl = seed_org(db_url, drs_url, shape, result)
        db = h.ddb_client(db_url)
        tap_ports = [h.free_port() for _ in names]
        tap = h.Child(
            "drs-tap",
            [
                sys.executable,
                str(h.ROOT / "bench" / "drs_tap.py"),
                *("--upstream", drs_url, "--ports", ",".join(map(str, tap_ports))),
                *("--out", str(out / "asks.jsonl")),
            ],
            out,
            nice=h.STAND_IN_NICE,
        )
        children.append(tap)
        h.wait_http(f"http://127.0.0.1:{tap_ports[-1]}/_sim/health", tap)
        daemons: dict[str, h.Child] = {}
        urls: dict[str, str] = {}
        for name, tap_port in zip(names, tap_ports, strict=True):
            port = h.free_port()
            env = h.child_env(
                bench_daemon.poller_env(wl, db_url, f"http://127.0.0.1:{tap_port}", port, scale)
            )
            env["POLLER_REPLICA_ID"] = name
            env.update(sts)
            daemons[name] = h.Child(name, [sys.executable, "-m", "poller", "run"], out, env)
            children.append(daemons[name])
            urls[name] = f"http://127.0.0.1:{port}/metrics"
        started = time.time()
        progress(f"{args.replicas} replicas started; waiting for the split (drssim's clock frozen)")
        last: dict[str, dict[str, float]] = {}
        counted = {"at": 0.0, "polling": 0}

        def sample(phase: str, t0: float | None) -> tuple[dict[str, float], int]:
            now = time.time()
            tracked: dict[str, float] = {}
            for name, child in daemons.items():
                if child.alive():
                    child.rss_mb()
                    got = replica_sample(urls[name])
                    if got is not None:
                        last[name] = got
                        tracked[name] = got["tracked"]
            if now - counted["at"] >= COUNT_EVERY:  # a Query of the index: load on the stand-in
                counted.update(at=now, polling=polling_count(db, wl))
            polling = int(counted["polling"])
            samples.append(
                {
                    "t": round(now - started, 2),
                    "sim_t": round((now - t0) * scale, 1) if t0 is not None else None,
                    "phase": phase,
                    "polling": polling,
                    "tracked": tracked,
                }
            )
            return tracked, polling

        # --- the split, with the clock frozen (every daemon polls its share at the scaled pace)
        deadline = started + args.split_deadline
        split_at = None
        next_report = time.time()
        while time.time() < deadline:
            tracked, polling = sample("split", None)
            even = polling / len(names)
            if (
                len(tracked) == len(names)
                and sum(tracked.values()) == polling
                and all(within(v, even) for v in tracked.values())
            ):
                split_at = time.time() - started
                break
            if time.time() >= next_report:
                next_report += 5
                progress(f"  split: {dict(sorted(tracked.items()))} of {polling} POLLING")
            time.sleep(0.5)
        result["split_seconds"] = split_at
        progress(
            f"split in {split_at:.1f} s: {dict(sorted(tracked.items()))}"
            if split_at is not None
            else f"NO even split within {args.split_deadline:g} s: {dict(sorted(tracked.items()))}"
        )

        # --- the drill; one replica SIGKILLed at --kill-at simulated seconds
        t0 = h.release_clock(drs_url, scale)
        result["clock_released_at"] = round(t0 - started, 2)
        kill_time = t0 + args.kill_at / scale
        limit = t0 + bench_daemon.DRILL_SIM_SECONDS / scale * 2.5 + 60
        killed_at = retaken_at = balanced_at = None
        next_report = time.time() + 10
        phase = "before kill"
        while time.time() < limit:
            if killed_at is None and time.time() >= kill_time:
                daemons[victim].rss_mb()
                daemons[victim].proc.kill()  # SIGKILL: no retirement, its leases must expire
                daemons[victim].proc.wait(timeout=10)
                killed_at = time.time()
                result["victim_last_sample"] = last.get(victim)
                phase = "after kill"
                progress(f"  SIGKILL {victim} at {(killed_at - t0) * scale:.0f} simulated s")
            tracked, polling = sample(phase, t0)
            survivors = [n for n in names if n != victim]
            if killed_at is not None and polling > 0:
                held = sum(tracked.get(n, 0.0) for n in survivors)
                if retaken_at is None and held >= polling:
                    retaken_at = time.time() - killed_at
                    progress(f"  every POLLING execution tracked again {retaken_at:.1f} s after the kill")
                even = polling / len(survivors)
                if (
                    retaken_at is not None
                    and balanced_at is None
                    and all(within(tracked.get(n, 0.0), even) for n in survivors)
                ):
                    balanced_at = time.time() - killed_at
            if time.time() >= next_report:
                next_report += 10
                progress(
                    f"  drill {(time.time() - t0) * scale:5.0f} sim s: {polling} POLLING, "
                    f"tracked {dict(sorted(tracked.items()))}"
                )
            if polling == 0 and killed_at is not None:
                break
            time.sleep(0.5)
        t1 = time.time()
        result.update(
            drill_wall_seconds=t1 - t0,
            finished=samples[-1]["polling"] == 0,
            killed_at_sim_seconds=(killed_at - t0) * scale if killed_at else None,
            retaken_seconds=retaken_at,
            balanced_seconds=balanced_at,
        )
        final = {
            name: replica_sample(urls[name], keep=out / f"{name}-metrics-end.prom")
            for name, c in daemons.items()
            if c.alive()
        }
        result["counters"] = {**{victim: result.get("victim_last_sample")}, **final}
        for child in daemons.values():
            if child.alive():
                child.stop()
        result["peak_rss_mb"] = {name: c.peak_rss_mb for name, c in daemons.items()}
        truth, final_truth = h.truth_changes(drs_url)
        items = h.scan_table(db, wl.table)
        compared, mismatches, not_completed = h.accuracy(items, final_truth)
        result.update(
            servers_compared=compared,
            mismatches=mismatches,
            executions_not_completed=not_completed,
            final_statuses=dict(Counter(str(i["Status"]) for i in items)),
        )
        phases = [("start-up", started), ("drill", t0)]
        if killed_at is not None:
            phases.append(("after the kill", killed_at))
        result["phases"] = phases
        result["lease_events"] = {name: lease_events(c.log_path, phases) for name, c in daemons.items()}
        views = {name: h.daemon_views(c.log_path) for name, c in daemons.items()}
        result["writes"] = status_writes(views)
        seen: dict[tuple[str, str], float] = {}
        for v in views.values():
            for key, when in h.daemon_detections(v).items():
                seen[key] = min(when, seen.get(key, when))
        lat, skipped = h.detection_latencies(truth, seen)
        result["detection"] = {p: sorted(v) for p, v in lat.items()}
        result["skipped"] = skipped
        tap.stop()
        gap = 1.5 * max(h.DEFAULT_INTERVALS.values()) / scale
        asks = read_asks(out / "asks.jsonl")
        result["asks"] = {
            **ask_overlaps(asks, gap, phases),
            "overlap_gap_wall_seconds": gap,
            "describe_jobs_per_replica": dict(Counter(names[r] for r, *_ in asks)),
            "after_kill_per_replica": dict(
                Counter(names[r] for r, when, *_ in asks if killed_at is not None and when >= killed_at)
            ),
        }
    finally:
        for c in reversed(children):
            c.stop()
        (out / "samples.json").write_text(json.dumps(samples))
    result["shares"] = share_summary(samples, names, victim)
    return result


def share_summary(samples: Sequence[dict[str, Any]], names: Sequence[str], victim: str) -> dict[str, Any]:
    """Each replica's tracked executions against an even share (POLLING ÷ live replicas): the
    lowest and highest ratio over the samples of the phase (1.0 = exactly even) while no
    execution had finished yet (as they finish, a few executions more or less is a large
    share), its first and last such sample; after the kill, from when every execution is
    tracked again."""
    most = max((s["polling"] for s in samples), default=0)
    out: dict[str, Any] = {}
    for phase, members in (
        ("before kill", list(names)),
        ("after kill", [n for n in names if n != victim]),
    ):
        rows = [
            s
            for s in samples
            if s["phase"] == phase and s["polling"] >= 0.95 * most and all(n in s["tracked"] for n in members)
        ]
        if phase == "after kill":  # from the moment every execution is tracked again
            rows = [s for s in rows if sum(s["tracked"].get(n, 0) for n in members) >= s["polling"]]
        ratios = {
            n: [s["tracked"][n] / (s["polling"] / len(members)) for s in rows if s["polling"]]
            for n in members
        }
        out[phase] = {
            "samples": len(rows),
            "min_ratio": {n: min(v, default=math.nan) for n, v in ratios.items()},
            "max_ratio": {n: max(v, default=math.nan) for n, v in ratios.items()},
            "first": rows[0] if rows else None,
            "last": rows[-1] if rows else None,
        }
    return out


# ---- printing -------------------------------------------------------------------------------------
def org_rows(r: dict[str, Any], shape: OrgShape) -> list[tuple[str, str]]:
    scale = r["time_scale"]
    wall = r["wall_seconds"]
    sim_min = r["sim_minutes"]
    kind = r["kind"]
    dj = r.get("describe_jobs", {})
    cpu = r.get(f"cpu_{kind}", math.nan)
    rows = [
        ("finished by itself", "yes" if r["finished"] else "NO (deadline)"),
        ("drill wall s (simulated min)", f"{h.fmt(wall)} ({h.fmt(sim_min)})"),
        ("DescribeJobs / simulated min (all account-regions)", h.fmt(dj.get("calls", math.nan) / sim_min)),
        (
            "DescribeJobs / account-region / simulated min",
            h.fmt(dj.get("calls", math.nan) / shape.account_regions / sim_min, 2),
        ),
        (
            "DescribeJobs / account-region / batch window: mean / most",
            f"{h.fmt(dj.get('mean_per_window', math.nan), 2)} / {h.fmt(dj.get('max_per_window', math.nan), 0)}",
        ),
        (
            "job IDs per DescribeJobs: mean / most",
            f"{h.fmt(dj.get('job_ids_per_call_mean', math.nan))} / {dj.get('job_ids_per_call_max', '—')}",
        ),
        ("DynamoDB calls / simulated min", h.fmt(r["dynamodb_calls"] / sim_min)),
    ]
    for phase in h.PHASES:
        v = r["detection"][phase]
        waited = h.WAIT_INTERVAL[phase]
        interval = h.DEFAULT_INTERVALS[waited]
        rows.append(
            (
                f"detect {phase} p50 / p99 sim s (daemon polls at {waited.upper()} {interval:g} s; reference ticks 60 s)",
                f"{h.fmt(h.percentile(v, 50) * scale)} / {h.fmt(h.percentile(v, 99) * scale)}"
                + (f" [{r['skipped'][phase]} skipped]" if r["skipped"][phase] else ""),
            )
        )
    for phase, excess in r.get("excess", {}).items():
        rows.append(
            (f"detect {phase}: p99 beyond the interval polled at, sim s", h.fmt(h.percentile(excess, 99)))
        )
    busiest = r.get(f"cpu_busiest30_{kind}", math.nan)
    busiest_sim = r.get(f"cpu_busiest30sim_{kind}", math.nan)
    rows += [
        (
            f"CPU cores at ×{scale:g}: mean / busiest 30 s",
            f"{h.fmt(cpu / wall, 2)} / {h.fmt(busiest, 2)}",
        ),
        (
            f"CPU per simulated s (÷{scale:g}): mean / busiest 30 simulated s (Fargate {FARGATE_VCPU} vCPU)",
            f"{h.fmt(cpu / wall / scale, 3)} / {h.fmt(busiest_sim / scale, 3)}",
        ),
        (f"peak RSS MB (Fargate {FARGATE_MB:g} MB)", h.fmt(r["peak_rss_mb"], 0)),
        (
            "waiting for a core (run queue), % of wall: poller / local DynamoDB (machine contention)",
            f"{h.fmt(r.get('run_queue_' + kind, math.nan) / wall * 100)}"
            f" / {h.fmt(r.get('run_queue_dynamodb', math.nan) / wall * 100)}",
        ),
        ("event-loop lag p99 ms", h.fmt(r["loop_lag_p99"] * 1000, 0)),
        (
            "accuracy: server mismatches / executions not COMPLETED",
            f"{r['mismatches']} of {r['servers_compared']} / {r['executions_not_completed']}",
        ),
    ]
    if kind == "reference":
        rows.append(("late ticks / tick p99 s", f"{r['late_ticks']} / {h.fmt(r['tick_p99'], 2)}"))
    return rows


def print_org(results: list[dict[str, Any]], shape: OrgShape) -> None:
    print(
        f"\n### Organisation scale: {shape.accounts} accounts × {shape.regions} regions = "
        f"{shape.account_regions} account-regions × {shape.jobs} concurrent jobs = {shape.executions:,} "
        f"one-wave executions × {shape.servers} servers, one replica, time scale ×{results[0]['time_scale']:g}"
    )
    print(f"({shape.how})")
    by_kind = [dict(org_rows(r, shape)) for r in results]
    labels = list(dict.fromkeys(label for rows in by_kind for label in rows))
    headers = ("metric", *(r["kind"] for r in results))
    merged = [(label, *(rows.get(label, "—") for rows in by_kind)) for label in labels]
    print(h.table(headers, merged))


def print_replicas(r: dict[str, Any], shape: OrgShape) -> None:
    scale = r["time_scale"]
    print(
        f"\n### {r['replicas']} replicas: {shape.executions:,} executions in {shape.account_regions} "
        f"account-regions, time scale ×{scale:g} (lease {r['lease_wall_seconds']:.1f} wall s = 90 simulated s)"
    )
    print(f"({shape.how})")
    shares = r["shares"]
    rows: list[tuple[str, str]] = [
        (
            "even split reached (clock frozen), wall s after start",
            h.fmt(r["split_seconds"]) if r["split_seconds"] is not None else "NO",
        ),
    ]
    for phase, data in shares.items():
        if data["first"] is None:
            rows.append((f"{phase}: shares", "no sample"))
            continue
        last = data["last"]
        lo = ", ".join(f"{n} {h.fmt(v * 100, 0)}" for n, v in data["min_ratio"].items())
        hi = ", ".join(f"{n} {h.fmt(v * 100, 0)}" for n, v in data["max_ratio"].items())
        rows += [
            (
                f"{phase}: tracked per replica, last sample (of POLLING)",
                ", ".join(f"{n} {v:g}" for n, v in sorted(last["tracked"].items()))
                + f" (of {last['polling']})",
            ),
            (f"{phase}: lowest % of an even share over {data['samples']} samples", lo),
            (f"{phase}: highest % of an even share", hi),
        ]
    lease = r["lease_wall_seconds"]
    rows += [
        (
            "SIGKILL at simulated s",
            f"{r['victim']} at {h.fmt(r['killed_at_sim_seconds'], 0) if r['killed_at_sim_seconds'] else '—'}",
        ),
        (
            "every execution tracked again after the kill: wall s (× lease)",
            f"{h.fmt(r['retaken_seconds'])} ({h.fmt((r['retaken_seconds'] or math.nan) / lease, 2)})",
        ),
        (
            "survivors within ±20 % of half: wall s (× lease)",
            f"{h.fmt(r['balanced_seconds'])} ({h.fmt((r['balanced_seconds'] or math.nan) / lease, 2)})",
        ),
        (
            "finished by itself / drill wall s",
            f"{'yes' if r['finished'] else 'NO'} / {h.fmt(r['drill_wall_seconds'])}",
        ),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(r["final_statuses"].items()))),
        (
            "accuracy: server mismatches / executions not COMPLETED",
            f"{r['mismatches']} of {r['servers_compared']} / {r['executions_not_completed']}",
        ),
        (
            "jobs asked by two replicas at once / handed over (of jobs)",
            f"{r['asks']['asked_by_two_at_once']} / {r['asks']['handed_over']} (of {r['asks']['jobs_asked']})",
        ),
        (
            "jobs asked by two replicas at once, by phase (start-up: clock frozen, before the drill)",
            ", ".join(f"{k} {v}" for k, v in r["asks"].get("at_once_by_phase", {}).items()) or "none",
        ),
        (
            "server status writes / duplicates / regressions",
            f"{r['writes']['server_status_writes']} / {r['writes']['duplicates']} / {r['writes']['regressions']}",
        ),
        (
            "transitions never written as such (skipped between polls), per phase",
            ", ".join(f"{p} {n}" for p, n in r["skipped"].items()),
        ),
    ]
    for phase in h.PHASES:
        v = r["detection"][phase]
        rows.append(
            (
                f"detect {phase} p50 / p99 sim s",
                f"{h.fmt(h.percentile(v, 50) * scale)} / {h.fmt(h.percentile(v, 99) * scale)}",
            )
        )
    counters = r["counters"]
    for key in ("write_conflicts", "leases_lost", "taken_over", "shed"):
        rows.append(
            (
                f"{REPLICA_METRICS[key]} per replica",
                ", ".join(
                    f"{n} {h.fmt((c or {}).get(key, math.nan), 0)}" for n, c in sorted(counters.items())
                ),
            )
        )
    rows.append(
        (
            "lease log lines per replica",
            "; ".join(
                f"{n}: {dict(sorted(c.items())) or 'none'}" for n, c in sorted(r["lease_events"].items())
            ),
        )
    )
    rows += [
        (
            "DescribeJobs per replica (after the kill)",
            ", ".join(
                f"{n} {v} ({r['asks']['after_kill_per_replica'].get(n, 0)})"
                for n, v in sorted(r["asks"]["describe_jobs_per_replica"].items())
            ),
        ),
        (
            "peak RSS MB per replica",
            ", ".join(f"{n} {h.fmt(v, 0)}" for n, v in sorted(r["peak_rss_mb"].items())),
        ),
    ]
    print(h.table(("metric", "value"), rows))


# ---- command line ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Talks to 127.0.0.1 only.",
    )
    p.add_argument("--accounts", type=int, default=20, help="AWS accounts (default 20)")
    p.add_argument("--regions", type=int, default=2, help="DRS regions per account (default 2)")
    p.add_argument(
        "--stand-in",
        action="store_true",
        help="no AWS accounts: each account-region is a distinct DRS region of the daemon's own "
        "account (the measurement made before the daemon reached other accounts)",
    )
    p.add_argument("--jobs", type=int, default=20, help="concurrent jobs per account-region: its quota (20)")
    p.add_argument("--servers", type=int, default=10, help="source servers per job (default 10)")
    p.add_argument(
        "--time-scale", type=float, default=10.0, help="simulated s per wall s (default 10: a drill ≈ 130 s)"
    )
    p.add_argument(
        "--replica-time-scale",
        type=float,
        default=5.0,
        help="time scale of part replicas (default 5: lease 18 wall s; at 10 the 9 s lease is "
        "within reach of this machine's DynamoDB stand-in stalls)",
    )
    p.add_argument("--parts", default="org,replicas", help="org, replicas, or both (default)")
    p.add_argument(
        "--no-reference", action="store_true", help="part org without the plan's Lambda design beside it"
    )
    p.add_argument("--replicas", type=int, default=3, help="daemon processes in part replicas (3)")
    p.add_argument("--kill", type=int, default=2, help="which replica is SIGKILLed, from 1 (default 2)")
    p.add_argument(
        "--kill-at",
        type=float,
        default=780.0,
        help="simulated s into the drill at which it is killed (default 780: just before the jobs start)",
    )
    p.add_argument(
        "--split-deadline", type=float, default=180.0, help="wall s to wait for the first split (180)"
    )
    p.add_argument(
        "--max-drill-seconds", type=float, default=600.0, help="stop part org's drill after this many wall s"
    )
    h.add_dynamodb_option(p)
    p.add_argument("--out", type=Path, default=h.OUT, help="output directory (default bench/out)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not parts or set(parts) - {"org", "replicas"}:
        p.error(f"--parts: org, replicas or both, got {args.parts!r}")
    if args.replicas < 2 or not 1 <= args.kill <= args.replicas:
        p.error("--replicas must be at least 2 and --kill one of them")
    shape = OrgShape(args.accounts, args.regions, args.jobs, args.servers, args.stand_in)
    try:
        shape.region_names()
    except ValueError as err:
        p.error(str(err))
    h.stop_children_on_sigterm()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out / f"org-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    progress(f"run dir {run_dir}; {shape.how}")
    report: dict[str, Any] = {"shape": asdict(shape), "accounts": shape.how, "time_scale": args.time_scale}
    window = 1.0 / args.time_scale  # POLLER_BATCH_WINDOW_SECONDS as bench_daemon.poller_env scales it
    try:
        if "org" in parts:
            report["org"] = []
            sts: dict[str, str] = {}
            moto = None
            if not shape.stand_in:
                progress("starting moto (STS AssumeRole for the member accounts)")
                moto, moto_url = h.start_moto(run_dir)
                sts = {"POLLER_STS_ENDPOINT_URL": moto_url}
            try:
                for kind in ("daemon", *(() if args.no_reference else ("reference",))):
                    progress(f"part org: {kind}")
                    notes: dict[str, Any] = {}
                    report["org"].append(
                        bench_daemon.run_one(
                            kind,
                            shape.executions,
                            shape.servers,
                            args.time_scale,
                            run_dir / "org",
                            max_drill_seconds=args.max_drill_seconds,
                            dynamodb=args.dynamodb,
                            seeder=functools.partial(seed_org, shape=shape, notes=notes),
                            inspect=inspect_describe_jobs(window),
                            settings={k.removeprefix("POLLER_"): v for k, v in sts.items()},
                            drssim_args=sts_args(sts),
                            reference_args=sts_args(sts),
                        )
                    )
                    report["org"][-1].update(notes)
                    (run_dir / "bench_org.json").write_text(json.dumps(report, default=str, indent=1))
            finally:
                if moto is not None:
                    moto.stop()
        if "replicas" in parts:
            progress("part replicas")
            report["replicas"] = run_replicas(args, shape, run_dir)
            (run_dir / "bench_org.json").write_text(json.dumps(report, default=str, indent=1))
    except dynalite.Unavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if "org" in report:
        print_org(report["org"], shape)
    if "replicas" in report:
        print_replicas(report["replicas"], shape)
    print(f"\nfigures as JSON: {run_dir / 'bench_org.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
