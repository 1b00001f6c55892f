"""DRS capacity per (account, region): when DRS would accept one more StartRecovery.

DRS limits every account-region (its service quotas; adjustable per account, so they are
settings, see ``poller.config``): a number of concurrent jobs, a number of source servers
across active jobs, a number of source servers per StartRecovery, and one active job per
source server. A wave larger than the per-job limit becomes several jobs, all admitted at once.

Waves ask in a fixed order (first come, first served): a wave that does not fit holds the
jobs and servers it needs against every wave behind it, so a large wave is never starved by
small ones. A wave whose only obstacle is its own servers being in another active job waits
without holding anything (no other wave can free or take those servers). A wave that can
never fit (more servers than the whole quota) is refused at once rather than queued forever.

Pure functions over plain data: the launcher keeps the state (``poller.pipeline.admission``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

ACTIVE_JOB_STATUSES = frozenset({"PENDING", "STARTED"})  # botocore drs JobStatus, less COMPLETED
WAIT_PREFIX = "waiting for DRS capacity: "


class Limit(StrEnum):
    """What keeps a wave waiting."""

    JOBS = "jobs"
    SERVERS = "servers"
    SOURCE_SERVER_BUSY = "source-server-busy"
    REFUSED = "refused"  # DRS itself said 402/409 (another tool, another replica)


@dataclass(frozen=True)
class Quota:
    """DRS limits of one account-region."""

    max_jobs: int
    max_servers: int
    max_servers_per_job: int

    def __post_init__(self) -> None:
        if min(self.max_jobs, self.max_servers, self.max_servers_per_job) < 1:
            raise ValueError(f"every DRS limit must be at least 1: {self}")


@dataclass(frozen=True)
class Usage:
    """Active jobs of one account-region: job ID → the source servers in it."""

    jobs: Mapping[str, frozenset[str]]

    @property
    def job_count(self) -> int:
        return len(self.jobs)

    @property
    def server_count(self) -> int:
        return sum(len(servers) for servers in self.jobs.values())

    def busy(self) -> dict[str, str]:
        """Source server → the active job it is in."""
        return {server: job for job, servers in self.jobs.items() for server in servers}


@dataclass(frozen=True)
class Demand:
    """One wave asking to start: ``ticket`` names it, ``servers`` are its source servers."""

    ticket: str
    servers: tuple[str, ...]


@dataclass(frozen=True)
class Wait:
    """Why a wave waits; ``limit`` lets a caller rewrite the reason only when it changes kind."""

    limit: Limit
    reason: str


@dataclass(frozen=True)
class Decision:
    """``admitted`` in queue order; every other demand is in ``waiting``."""

    admitted: tuple[str, ...]
    waiting: Mapping[str, Wait]


def jobs_needed(server_count: int, quota: Quota) -> int:
    """StartRecovery calls a wave of ``server_count`` servers takes (ceil; 0 for none)."""
    return -(-server_count // quota.max_servers_per_job)


def split(servers: Sequence[str], quota: Quota) -> list[tuple[str, ...]]:
    """The wave's servers in chunks DRS accepts in one StartRecovery, order kept."""
    size = quota.max_servers_per_job
    return [tuple(servers[i : i + size]) for i in range(0, len(servers), size)]


def never_fits(server_count: int, quota: Quota, where: str) -> str | None:
    """Why a wave of this size can never start in an account-region with this quota, if so."""
    if server_count > quota.max_servers:
        return (
            f"the wave has {server_count} source servers; DRS allows {quota.max_servers} "
            f"across active jobs in {where} (raise the quota, or split the wave)"
        )
    needed = jobs_needed(server_count, quota)
    if needed > quota.max_jobs:
        return (
            f"the wave needs {needed} jobs of at most {quota.max_servers_per_job} servers; DRS allows "
            f"{quota.max_jobs} concurrent jobs in {where} (raise the quota, or split the wave)"
        )
    return None


def active_jobs(jobs: Iterable[Mapping[str, object]]) -> dict[str, frozenset[str]]:
    """Active jobs (PENDING, STARTED) and their servers, from DescribeJobs items."""
    found: dict[str, frozenset[str]] = {}
    for job in jobs:
        if job.get("status") not in ACTIVE_JOB_STATUSES or not isinstance(job.get("jobID"), str):
            continue
        servers = job.get("participatingServers")
        ids = (
            s.get("sourceServerID")
            for s in (servers if isinstance(servers, list) else [])
            if isinstance(s, Mapping)
        )
        found[str(job["jobID"])] = frozenset(i for i in ids if isinstance(i, str))
    return found


def admit(quota: Quota, usage: Usage, queue: Sequence[Demand], where: str) -> Decision:
    """Which demands start now, in queue order (first come, first served), and why the rest wait.

    A demand is admitted when its jobs and servers fit beside ``usage`` and everything admitted
    or held before it, and none of its servers is busy. The first demand that does not fit holds
    its place: every later one waits behind it (their reason names the same limit).
    """
    jobs_used, servers_used = usage.job_count, usage.server_count
    busy = usage.busy()
    admitted: list[str] = []
    waiting: dict[str, Wait] = {}
    blocked: Wait | None = None
    for demand in queue:
        conflict = next((s for s in demand.servers if s in busy), None)
        if conflict is not None:
            job = busy[conflict]
            where_job = f"job {job}" if job.startswith("drsjob-") else "a job being started"
            waiting[demand.ticket] = Wait(
                Limit.SOURCE_SERVER_BUSY,
                f"{WAIT_PREFIX}source server {conflict} is in active {where_job} in {where}",
            )
            continue
        if blocked is not None:
            waiting[demand.ticket] = blocked
            continue
        need_jobs = jobs_needed(len(demand.servers), quota)
        if jobs_used + need_jobs > quota.max_jobs:
            blocked = Wait(Limit.JOBS, f"{WAIT_PREFIX}{jobs_used} of {quota.max_jobs} jobs active in {where}")
        elif servers_used + len(demand.servers) > quota.max_servers:
            blocked = Wait(
                Limit.SERVERS,
                f"{WAIT_PREFIX}{servers_used} of {quota.max_servers} source servers in active jobs "
                f"in {where}",
            )
        if blocked is not None:
            waiting[demand.ticket] = blocked
            # hold its place: later demands may not take what this one waits for
            continue
        jobs_used += need_jobs
        servers_used += len(demand.servers)
        busy.update((s, f"ticket:{demand.ticket}") for s in demand.servers)
        admitted.append(demand.ticket)
    return Decision(tuple(admitted), waiting)


def refused_wait(code: str, message: str, where: str) -> Wait:
    """DRS refused a StartRecovery for capacity (402) or a conflict (409): wait, then retry."""
    return Wait(Limit.REFUSED, f"{WAIT_PREFIX}DRS refused StartRecovery in {where}: {code}: {message}")


def wait_expired(waiting_since: float, now: float, max_wait: float) -> bool:
    """True once a wave has waited for capacity longer than the configured cap."""
    return now - waiting_since > max_wait


def limit_of_reason(reason: str | None) -> Limit | None:
    """The limit a StatusReason written by :func:`admit` or :func:`refused_wait` names, if any."""
    if not reason or not reason.startswith(WAIT_PREFIX):
        return None
    text = reason[len(WAIT_PREFIX) :]
    if text.startswith("DRS refused"):
        return Limit.REFUSED
    if text.startswith("source server "):
        return Limit.SOURCE_SERVER_BUSY
    if " jobs active in " in text:
        return Limit.JOBS
    if " source servers in active jobs " in text:
        return Limit.SERVERS
    return None
