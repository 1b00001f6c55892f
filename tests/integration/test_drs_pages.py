"""poller.aws.drs reads DescribeJobs through botocore's paginator, against drssim over a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import aioboto3
import pytest
import pytest_asyncio
from botocore.config import Config
from botocore.exceptions import ClientError
from drssim.testing import RunningSimulator
from prometheus_client import REGISTRY

from poller.aws.drs import LISTING_PAGE_SIZE, MAX_JOB_IDS_PER_CALL, describe_job_pages, describe_jobs

pytestmark = [pytest.mark.integration]

REGION = "us-east-1"
UNKNOWN = "drsjob-00000000000000000"


@pytest_asyncio.fixture
async def drs(sim: RunningSimulator) -> AsyncIterator[Any]:
    once = Config(retries={"mode": "standard", "total_max_attempts": 1})
    async with aioboto3.Session().client(
        "drs", region_name=REGION, endpoint_url=sim.endpoint_url, config=once
    ) as client:
        yield client


def _calls(sim: RunningSimulator) -> list[int]:
    """Job IDs carried by each DescribeJobs call drssim answered, in call order."""
    return [int(c["jobIDs"]) for c in sim.control.calls(operation="DescribeJobs")]


def _counted(outcome: str) -> float:
    labels = {"region": REGION, "operation": "DescribeJobs", "outcome": outcome}
    return REGISTRY.get_sample_value("poller_drs_calls_total", labels) or 0.0


async def test_more_than_a_thousand_ids_go_in_chunks_of_at_most_a_thousand(
    drs: Any, sim: RunningSimulator
) -> None:
    job_ids = sim.control.bulk_jobs(2500, region=REGION)
    elsewhere = sim.control.bulk_jobs(1, region="us-west-2")
    sim.control.clear_calls()
    ok_before = _counted("ok")

    found = await describe_jobs(drs, REGION, [*job_ids, *job_ids[:10], UNKNOWN, *elsewhere])

    assert sorted(found) == sorted(job_ids)  # duplicates asked once; unknown and other-region absent
    assert all(found[j]["jobID"] == j for j in job_ids)
    assert _calls(sim) == [MAX_JOB_IDS_PER_CALL, MAX_JOB_IDS_PER_CALL, 502]
    assert _counted("ok") - ok_before == 3


async def test_next_token_is_followed_until_the_last_page(drs: Any, sim: RunningSimulator) -> None:
    job_ids = sim.control.bulk_jobs(1200, region=REGION)
    sim.control.clear_calls()

    found = await describe_jobs(drs, REGION, job_ids, page_size=300)

    assert sorted(found) == sorted(job_ids)
    # chunk of 1,000 read in 4 pages (3 nextTokens followed), then the chunk of 200 in one
    assert _calls(sim) == [1000] * 4 + [200]


async def test_a_listing_by_date_reads_every_page_and_stops_when_closed(
    drs: Any, sim: RunningSimulator
) -> None:
    job_ids = sim.control.bulk_jobs(1500, region=REGION)
    sim.control.clear_calls()
    since = {"fromDate": "2000-01-01T00:00:00Z"}

    async with aclosing(describe_job_pages(drs, REGION, since, LISTING_PAGE_SIZE)) as pages:
        sizes = [len(items) async for items in pages]
    assert sizes == [1000, 500]
    assert len(sim.control.calls(operation="DescribeJobs")) == 2

    sim.control.clear_calls()
    async with aclosing(describe_job_pages(drs, REGION, since, LISTING_PAGE_SIZE)) as pages:
        async for items in pages:
            first = items
            break
    assert {j["jobID"] for j in first} <= set(job_ids) and len(first) == 1000
    assert len(sim.control.calls(operation="DescribeJobs")) == 1  # closed early: no second call


async def test_a_throttled_call_raises_botocores_error_and_is_counted_as_throttled(
    drs: Any, sim: RunningSimulator
) -> None:
    job_ids = sim.control.bulk_jobs(3, region=REGION)
    sim.control.inject_throttling(count=1, operations=["DescribeJobs"])
    throttled_before = _counted("throttled")

    with pytest.raises(ClientError) as raised:
        await describe_jobs(drs, REGION, job_ids)

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert _counted("throttled") - throttled_before == 1
    assert sorted(await describe_jobs(drs, REGION, job_ids)) == sorted(job_ids)  # the fault was one call
