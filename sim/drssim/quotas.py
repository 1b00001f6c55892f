"""DRS service quotas, enforced when set (off by default, so existing uses keep their behaviour).

DRS limits each account-region: concurrent jobs (documented default 20), source servers across
active jobs (documented default 500), and a source server may be in only one active job. Over
a limit StartRecovery answers as DRS does, with the error shapes of botocore's ``drs`` model:
``ServiceQuotaExceededException`` (HTTP 402: ``quotaCode``, ``serviceCode``, ``resourceType``,
``resourceId``) and ``ConflictException`` (HTTP 409: ``resourceId``, ``resourceType``).
The ``quotaCode`` values are drssim's own names for the two quotas, not Service Quotas codes.
Every job that is not COMPLETED counts, TERMINATE jobs included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

JOBS_QUOTA_CODE = "drssim-concurrent-jobs"
SERVERS_QUOTA_CODE = "drssim-servers-in-active-jobs"


@dataclass(frozen=True)
class Quotas:
    """The limits drssim enforces; None (or False) leaves a limit off."""

    max_concurrent_jobs: int | None = None
    max_servers_in_jobs: int | None = None
    one_job_per_server: bool = False

    @property
    def enforced(self) -> bool:
        return (
            self.max_concurrent_jobs is not None
            or self.max_servers_in_jobs is not None
            or self.one_job_per_server
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "maxConcurrentJobs": self.max_concurrent_jobs,
            "maxServersInJobs": self.max_servers_in_jobs,
            "oneJobPerServer": self.one_job_per_server,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Quotas:
        def limit(name: str) -> int | None:
            value = body.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer or null")
            return value

        return cls(limit("maxConcurrentJobs"), limit("maxServersInJobs"), bool(body.get("oneJobPerServer")))


@dataclass(frozen=True)
class Refusal:
    """Why StartRecovery is refused: the DRS error code, message, HTTP status and fields."""

    code: str
    message: str
    status: int
    fields: dict[str, Any]


def check(
    quotas: Quotas, region: str, active: Iterable[tuple[str, Sequence[str]]], servers: Sequence[str]
) -> Refusal | None:
    """The refusal DRS would give a StartRecovery of ``servers`` beside the ``active`` jobs."""
    if not quotas.enforced:
        return None
    jobs = list(active)
    if quotas.one_job_per_server:
        busy = {server: job for job, members in jobs for server in members}
        for server in servers:
            if server in busy:
                return Refusal(
                    "ConflictException",
                    f"Source server {server} is already part of active job {busy[server]}",
                    409,
                    {"resourceId": server, "resourceType": "SOURCE_SERVER"},
                )
    if quotas.max_concurrent_jobs is not None and len(jobs) + 1 > quotas.max_concurrent_jobs:
        return Refusal(
            "ServiceQuotaExceededException",
            f"Exceeded the maximum number of concurrent jobs ({quotas.max_concurrent_jobs}) in {region}",
            402,
            {"quotaCode": JOBS_QUOTA_CODE, "serviceCode": "drs", "resourceType": "JOB", "resourceId": region},
        )
    in_jobs = sum(len(members) for _, members in jobs)
    if quotas.max_servers_in_jobs is not None and in_jobs + len(servers) > quotas.max_servers_in_jobs:
        return Refusal(
            "ServiceQuotaExceededException",
            f"Exceeded the maximum number of source servers in active jobs ({quotas.max_servers_in_jobs}) "
            f"in {region}: {in_jobs} in use, {len(servers)} requested",
            402,
            {
                "quotaCode": SERVERS_QUOTA_CODE,
                "serviceCode": "drs",
                "resourceType": "SOURCE_SERVER",
                "resourceId": region,
            },
        )
    return None
