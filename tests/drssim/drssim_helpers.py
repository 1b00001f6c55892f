"""Small helpers shared by drssim tests (kept out of conftest so they can be imported)."""

from __future__ import annotations

from typing import Any

from tests.ids import source_server_id


def start(drs: Any, n_servers: int = 1, is_drill: bool = True, **kw: Any) -> dict[str, Any]:
    """StartRecovery with fresh servers; returns the job."""
    servers = [{"sourceServerID": source_server_id()} for _ in range(n_servers)]
    job: dict[str, Any] = drs.start_recovery(sourceServers=servers, isDrill=is_drill, **kw)["job"]
    return job


def describe(drs: Any, job_id: str) -> dict[str, Any]:
    """DescribeJobs for one ID (asserts it is present)."""
    items = drs.describe_jobs(filters={"jobIDs": [job_id]})["items"]
    assert len(items) == 1, items
    job: dict[str, Any] = items[0]
    return job


def statuses(job: dict[str, Any]) -> list[str]:
    """launchStatus of every participating server."""
    return [s["launchStatus"] for s in job["participatingServers"]]
