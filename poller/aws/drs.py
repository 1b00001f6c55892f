"""DRS reads and failures, in one place for the batcher, the launcher and the cancel API.

DescribeJobs goes through botocore's own paginator (``nextToken`` followed; botocore stops with
an error rather than loop if DRS ever repeats a token), one DRS call per page, each call
counted and timed (``poller_drs_calls_total``, ``poller_drs_call_seconds``). Queries by job ID
are cut into chunks of ``MAX_JOB_IDS_PER_CALL``, DRS's limit (more is a ValidationException).
Errors reach the caller as botocore raised them; ``drs_error`` reads DRS's code and message
from one, and ``DrsError`` is the batcher's form of it, with a hint when the user can act.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics

MAX_JOB_IDS_PER_CALL = 1000
LISTING_PAGE_SIZE = 1000  # maxResults of a listing by date: as many jobs a call as DRS sends
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling"})

Job = dict[str, Any]

_HINTS = {
    "UninitializedAccountException": " (initialize Elastic Disaster Recovery in this region first)",
    "AccessDeniedException": " (the task role lacks drs:DescribeJobs: see deploy/poller.yaml)",
    "EndpointConnectionError": " (is DRS reachable? check POLLER_DRS_ENDPOINT_URL and POLLER_DRS_REGIONS)",
}


def drs_error(err: BaseException) -> tuple[str, str]:
    """(code, message) of a DRS failure, as DRS worded it."""
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return str(error.get("Code", "Unknown")), str(error.get("Message", "")) or str(err)
    return type(err).__name__, str(err) or type(err).__name__


class DrsError(RuntimeError):
    """DescribeJobs failed after botocore's own retries; the message names region and code."""

    def __init__(self, region: str, cause: BaseException) -> None:
        code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
        self.code = code or type(cause).__name__
        self.throttled = self.code in THROTTLING_CODES
        hint = _HINTS.get(self.code, "")
        super().__init__(f"DRS DescribeJobs in {region} failed: {self.code}: {cause}{hint}")
        self.region = region


async def describe_jobs(
    client: Any, region: str, job_ids: Iterable[str], page_size: int | None = None
) -> dict[str, Job]:
    """Job ID → job for every ID DRS knows in ``region`` (unknown IDs are absent, as DRS
    answers), in as few calls as DRS allows: deduplicated, ≤ 1,000 IDs a call, every page read.
    ``page_size`` asks DRS for smaller pages (``maxResults``); by default DRS decides."""
    ids = sorted(set(job_ids))
    found: dict[str, Job] = {}
    for start in range(0, len(ids), MAX_JOB_IDS_PER_CALL):
        chunk = {"jobIDs": ids[start : start + MAX_JOB_IDS_PER_CALL]}
        async with aclosing(describe_job_pages(client, region, chunk, page_size)) as pages:
            async for items in pages:
                found.update((job["jobID"], job) for job in items)
    return found


async def describe_job_pages(
    client: Any, region: str, filters: dict[str, Any], page_size: int | None = None
) -> AsyncGenerator[list[Job], None]:
    """The ``items`` of every DescribeJobs page for ``filters``, one DRS call per page.

    A caller that may stop early closes it (``contextlib.aclosing``): no further call is made.
    """
    config = {"PageSize": page_size} if page_size else {}
    pages = client.get_paginator("describe_jobs").paginate(filters=filters, PaginationConfig=config)
    iterator = pages.__aiter__()
    ids = filters.get("jobIDs")
    try:
        while True:
            start = time.perf_counter()
            try:
                page = await anext(iterator)
            except StopAsyncIteration:  # the last page had no nextToken: no call was made
                return
            except (ClientError, BotoCoreError) as err:
                throttled = drs_error(err)[0] in THROTTLING_CODES
                _count(region, "throttled" if throttled else "error", start, ids)
                raise
            _count(region, "ok", start, ids)
            yield page.get("items", [])
    finally:
        await iterator.aclose()


def _count(region: str, outcome: str, start: float, ids: list[str] | None) -> None:
    metrics.DRS_CALLS.labels(region, "DescribeJobs", outcome).inc()
    metrics.DRS_LATENCY.labels(region, "DescribeJobs").observe(time.perf_counter() - start)
    if ids is not None:
        metrics.DRS_JOBS_PER_CALL.observe(len(ids))
