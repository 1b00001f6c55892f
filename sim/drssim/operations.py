"""DRS operations: request semantics and response rendering (input already validated).

Each handler takes ``(sim, region, body)`` and returns the JSON response body. Shapes
follow the botocore ``drs`` model so the unmodified client parses them.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from drssim import timeline as tl
from drssim.clock import iso_z
from drssim.state import ACCOUNT_ID, DrsError, Job, Simulator

T = TypeVar("T")
Handler = Callable[[Simulator, str, dict[str, Any], str], dict[str, Any]]  # (sim, region, body, account)
DEFAULT_PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS = uuid.UUID("6f1b0f55-5d0e-4a56-9b1f-0d5b4f0c2a11")

# Post-launch actions every recovery runs (shapes of botocore's LaunchAction).
LAUNCH_ACTIONS: tuple[dict[str, Any], ...] = (
    {
        "actionCode": "AWSDisasterRecovery-ProcessStatusValidation",
        "actionVersion": "$DEFAULT",
        "active": True,
        "category": "VALIDATION",
        "description": "Validate that expected processes are running",
        "name": "Process status validation",
        "optional": True,
        "order": 2,
        "parameters": {},
        "type": "SSM_AUTOMATION",
    },
    {
        "actionCode": "AWSDisasterRecovery-VerifyHostnameFQDN",
        "actionVersion": "$DEFAULT",
        "active": True,
        "category": "VALIDATION",
        "description": "Verify the recovered instance hostname",
        "name": "Verify hostname",
        "optional": True,
        "order": 3,
        "parameters": {},
        "type": "SSM_AUTOMATION",
    },
)


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def arn(region: str, kind: str, resource_id: str, account: str = ACCOUNT_ID) -> str:
    """ARN in the drs namespace of ``account``."""
    return f"arn:aws:drs:{region}:{account}:{kind}/{resource_id}"


# ---- pagination ---------------------------------------------------------------------------
def paginate(items: Sequence[T], body: dict[str, Any]) -> tuple[Sequence[T], str | None]:
    """Slice by ``nextToken``/``maxResults``; tokens are opaque base64 offsets."""
    start = 0
    token = body.get("nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise DrsError("ValidationException", "Invalid nextToken", 400, {"reason": "other"}) from None
    size = min(int(body.get("maxResults") or DEFAULT_PAGE), DEFAULT_PAGE)
    page = items[start : start + size]
    end = start + size
    nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return page, nxt


def _page(key: str, items: Sequence[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    page, nxt = paginate(items, body)
    out: dict[str, Any] = {key: list(page)}
    if nxt:
        out["nextToken"] = nxt
    return out


# ---- rendering ----------------------------------------------------------------------------
def _sim_iso(sim: Simulator, sim_t: float | None) -> str | None:
    return None if sim_t is None else iso_z(sim.clock.sim_datetime(sim_t))


def _cached(job: Job, key: str, make: Callable[[], str | None]) -> str | None:
    value = job.render_cache.get(key)
    if value is None:
        value = make()
        if value is not None:
            job.render_cache[key] = value
    return value


def render_server(sim: Simulator, job: Job, sp: tl.ServerPlan, t: float) -> dict[str, Any]:
    """A ParticipatingServer at job-local time ``t``."""
    st = sim.launch_status(job, sp, t)
    out: dict[str, Any] = {"sourceServerID": sp.source_server_id, "launchStatus": st.launch_status}
    if st.recovery_instance_id:
        out["recoveryInstanceID"] = st.recovery_instance_id
    if st.post_launch is not None:
        runs = []
        for action in LAUNCH_ACTIONS:
            action_id = _uuid("action", action["actionCode"])
            run: dict[str, Any] = {
                "action": {**action, "actionId": action_id},
                "runId": _uuid(job.job_id, sp.source_server_id, action_id),
                "status": st.post_launch,
            }
            if st.post_launch == "FAILED":
                run["failureReason"] = sp.post_launch_reason or "Post-launch action failed"
            runs.append(run)
        discovered = _cached(
            job, "ssm:" + sp.source_server_id, lambda: _sim_iso(sim, job.timebase.base_of(sp.launched_at))
        )
        out["launchActionsStatus"] = {"ssmAgentDiscoveryDatetime": discovered, "runs": runs}
    return out


def render_job(sim: Simulator, job: Job, now: float) -> dict[str, Any]:
    """A Job as DescribeJobs/StartRecovery return it, at simulated time ``now``."""
    t = job.local(now)
    status = tl.job_status(job.plan, t)
    out: dict[str, Any] = {
        "jobID": job.job_id,
        "arn": _cached(job, "arn", lambda: arn(job.region, "job", job.job_id, job.account)),
        "type": job.type,
        "initiatedBy": job.initiated_by,
        "creationDateTime": _cached(job, "created", lambda: _sim_iso(sim, job.created_sim)),
        "status": status,
        "participatingServers": [render_server(sim, job, sp, t) for sp in job.plan.servers],
        "tags": job.tags,
    }
    if status == "COMPLETED":
        # The completion moment is in the past, so it can no longer change.
        out["endDateTime"] = _cached(
            job, "end", lambda: _sim_iso(sim, job.timebase.base_of(job.plan.completed_at))
        )
    return out


# ---- operations ---------------------------------------------------------------------------
def start_recovery(
    sim: Simulator, region: str, body: dict[str, Any], account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """StartRecovery: a LAUNCH job, drill by default as in the API."""
    servers = [(s["sourceServerID"], s.get("recoverySnapshotID")) for s in body["sourceServers"]]
    job = sim.create_job(region, servers, bool(body.get("isDrill", False)), body.get("tags"), account)
    return {"job": render_job(sim, job, sim.clock.now())}


def _parse_date(value: str | None, sim: Simulator) -> int | None:
    """Epoch milliseconds of an ISO8601 filter date."""
    if value is None:
        return None
    try:
        return _ms(datetime.fromisoformat(value))
    except ValueError:
        raise DrsError("ValidationException", f"Invalid date {value}", 400, {"reason": "other"}) from None


def _created_ms(sim: Simulator, job: Job) -> int:
    # Compare at the millisecond precision creationDateTime is rendered with, so a client
    # passing a job's own creationDateTime as fromDate/toDate finds that job.
    return _ms(sim.clock.sim_datetime(job.created_sim))


def _ms(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def _within(ts: int, lo: int | None, hi: int | None) -> bool:
    return (lo is None or ts >= lo) and (hi is None or ts <= hi)


def describe_jobs(
    sim: Simulator, region: str, body: dict[str, Any], account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """DescribeJobs: unknown (or other account-region) job IDs are simply absent."""
    filters = body.get("filters") or {}
    ids = filters.get("jobIDs")
    jobs: Sequence[Job]
    if ids:
        found = (sim.jobs.get(i) for i in dict.fromkeys(ids))
        jobs = [j for j in found if j is not None and j.region == region and j.account == account]
    else:
        jobs = sim.region(region, account).jobs
    lo, hi = _parse_date(filters.get("fromDate"), sim), _parse_date(filters.get("toDate"), sim)
    if lo is not None or hi is not None:
        jobs = [j for j in jobs if _within(_created_ms(sim, j), lo, hi)]
    page, nxt = paginate(jobs, body)
    now = sim.clock.now()
    out: dict[str, Any] = {"items": [render_job(sim, j, now) for j in page]}
    if nxt:
        out["nextToken"] = nxt
    return out


def _last_launch_result(sim: Simulator, job_id: str | None, sid: str) -> str:
    if job_id is None:
        return "NOT_STARTED"
    job = sim.jobs[job_id]
    status = tl.server_state(job.plan.server(sid), job.local(sim.clock.now())).launch_status
    return {"PENDING": "PENDING", "IN_PROGRESS": "PENDING", "FAILED": "FAILED"}.get(status, "SUCCEEDED")


def describe_source_servers(
    sim: Simulator, region: str, body: dict[str, Any], account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """DescribeSourceServers with the sourceServerIDs filter."""
    reg = sim.region(region, account)
    ids = (body.get("filters") or {}).get("sourceServerIDs")
    servers = (
        [reg.source_servers[i] for i in ids if i in reg.source_servers]
        if ids
        else reg.source_servers.values()
    )
    items = []
    for s in servers:
        item: dict[str, Any] = {
            "sourceServerID": s.source_server_id,
            "arn": arn(region, "source-server", s.source_server_id, account),
            "tags": s.tags,
            "lastLaunchResult": _last_launch_result(sim, s.last_job_id, s.source_server_id),
            "lifeCycle": {"addedToServiceDateTime": _sim_iso(sim, s.created_sim)},
            "sourceProperties": {"identificationHints": {"hostname": s.hostname}},
            "dataReplicationInfo": {"dataReplicationState": "CONTINUOUS"},
            "replicationDirection": "FAILOVER",
        }
        items.append(item)
    return _page("items", items, body)


def _live_instances(sim: Simulator, region: str, account: str) -> list[tuple[str, Job, tl.ServerPlan]]:
    reg = sim.region(region, account)
    now = sim.clock.now()
    out = []
    for rid, (job_id, sid) in reg.recovery_instances.items():
        job = sim.jobs[job_id]
        sp = job.plan.server(sid)
        if sim.launch_status(job, sp, job.local(now)).launch_status == "LAUNCHED":
            out.append((rid, job, sp))
    return out


def describe_recovery_instances(
    sim: Simulator, region: str, body: dict[str, Any], account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """DescribeRecoveryInstances: launched, not yet terminated instances."""
    filters = body.get("filters") or {}
    rids = set(filters.get("recoveryInstanceIDs") or [])
    sids = set(filters.get("sourceServerIDs") or [])
    items = []
    for rid, job, sp in _live_instances(sim, region, account):
        if (rids and rid not in rids) or (sids and sp.source_server_id not in sids):
            continue
        items.append(
            {
                "recoveryInstanceID": rid,
                "arn": arn(region, "recovery-instance", rid, account),
                "ec2InstanceID": rid,
                "ec2InstanceState": "RUNNING",
                "jobID": job.job_id,
                "sourceServerID": sp.source_server_id,
                "isDrill": job.is_drill,
                "originEnvironment": "ON_PREMISES",
                "pointInTimeSnapshotDateTime": _sim_iso(sim, job.created_sim),
                "tags": {},
            }
        )
    return _page("items", items, body)


def terminate_recovery_instances(
    sim: Simulator, region: str, body: dict[str, Any], account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """TerminateRecoveryInstances: a TERMINATE job; servers end TERMINATED."""
    live = {rid: (job, sp) for rid, job, sp in _live_instances(sim, region, account)}
    targets = []
    for rid in dict.fromkeys(body["recoveryInstanceIDs"]):
        hit = live.get(rid)
        if hit is None or sp_terminating(hit[0], hit[1]):
            raise DrsError(
                "ConflictException",
                f"Recovery instance {rid} does not exist or is not running",
                409,
                {"resourceId": rid, "resourceType": "RECOVERY_INSTANCE"},
            )
        targets.append((hit[0], hit[1].source_server_id))
    job = sim.create_terminate_job(region, targets, account)
    return {"job": render_job(sim, job, sim.clock.now())}


def sp_terminating(job: Job, sp: tl.ServerPlan) -> bool:
    """Whether a terminate job already targets this server's instance."""
    return sp.source_server_id in job.terminated_by


def describe_job_log_items(
    sim: Simulator, region: str, body: dict[str, Any], account: str = ACCOUNT_ID
) -> dict[str, Any]:
    """DescribeJobLogItems: events consistent with the job's timeline so far."""
    job = sim.jobs.get(body["jobID"])
    if job is None or job.region != region or job.account != account:
        return {"items": []}
    items = []
    for ev in tl.log_events(job.plan, job.local(sim.clock.now())):
        data: dict[str, Any] = {}
        if ev.source_server_id:
            data["sourceServerID"] = ev.source_server_id
        if ev.target_instance_id:
            data["targetInstanceID"] = ev.target_instance_id
        if ev.raw_error:
            data["rawError"] = ev.raw_error
        item: dict[str, Any] = {"event": ev.event, "logDateTime": _sim_iso(sim, job.timebase.base_of(ev.t))}
        if data:
            item["eventData"] = data
        items.append(item)
    return _page("items", items, body)


OPERATIONS: dict[str, Handler] = {
    "StartRecovery": start_recovery,
    "DescribeJobs": describe_jobs,
    "DescribeSourceServers": describe_source_servers,
    "DescribeRecoveryInstances": describe_recovery_instances,
    "TerminateRecoveryInstances": terminate_recovery_instances,
    "DescribeJobLogItems": describe_job_log_items,
}
