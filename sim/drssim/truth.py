"""Ground truth for tests and benchmarks: current state plus wall-clock change moments.

Change moments are derived, not recorded: each transition's job-local time is mapped back
through the job's timebase and the clock to the ``time.time()`` moment it became visible
through the API. That is exactly what the poller's detection-latency benchmark needs
(drssim change time -> poller's DynamoDB write time).
"""

from __future__ import annotations

from typing import Any

from drssim import timeline as tl
from drssim.state import Job, Simulator


def job_truth(sim: Simulator, job: Job, now: float) -> dict[str, Any]:
    """Everything a test may want to assert about one job."""
    t = job.local(now)
    status = tl.job_status(job.plan, t)
    past = [tr for tr in tl.transitions(job.plan) if tr.t <= t]
    job_changes = [_change(sim, job, tr) for tr in past if tr.subject == "job"]
    servers = []
    for sp in job.plan.servers:
        st = sim.launch_status(job, sp, t)
        mine = [tr for tr in past if tr.subject == sp.source_server_id]
        launch = [_change(sim, job, tr) for tr in mine if tr.field == "launchStatus"]
        post = [_change(sim, job, tr) for tr in mine if tr.field == "postLaunch"]
        if job.type == "TERMINATE":
            launch = [{**c, "status": "TERMINATED"} if c["status"] == "LAUNCHED" else c for c in launch]
        term = sim.terminated_at(job, sp.source_server_id)
        if term is not None:
            launch.append({"status": "TERMINATED", "simTime": None, "wallTime": term})
        servers.append(
            {
                "sourceServerID": sp.source_server_id,
                "launchStatus": st.launch_status,
                "recoveryInstanceID": st.recovery_instance_id,
                "postLaunchStatus": st.post_launch,
                "failureReason": st.failure_reason,
                "launchStatusChanges": launch,
                "postLaunchChanges": post,
            }
        )
    return {
        "jobID": job.job_id,
        "account": job.account,
        "region": job.region,
        "type": job.type,
        "initiatedBy": job.initiated_by,
        "isDrill": job.is_drill,
        "status": status,
        "held": bool(job.hold_reasons),
        "localTime": t,
        "createdWallTime": job.created_wall,
        "statusChanges": job_changes,
        "servers": servers,
    }


def _change(sim: Simulator, job: Job, tr: tl.Transition) -> dict[str, Any]:
    return {"status": tr.value, "simTime": job.timebase.base_of(tr.t), "wallTime": sim.wall_of(job, tr.t)}


def truth(
    sim: Simulator, region: str | None = None, job_ids: list[str] | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    """Ground truth of jobs (all, or filtered by region / IDs / account), in creation order."""
    now = sim.clock.now()
    jobs = sim.jobs.values() if job_ids is None else [sim.jobs[j] for j in job_ids if j in sim.jobs]
    return [
        job_truth(sim, j, now)
        for j in jobs
        if (region is None or j.region == region) and (account is None or j.account == account)
    ]
