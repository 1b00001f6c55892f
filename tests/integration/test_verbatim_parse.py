"""Over drssim's real wire protocol, the daemon's DRS client answers exactly as stock aioboto3's."""

from __future__ import annotations

from typing import Any

import aioboto3
import pytest
from botocore.config import Config
from drssim.testing import RunningSimulator

from poller.aws.clients import verbatim_session
from tests.integration.support import source_server_id, start_recovery

pytestmark = pytest.mark.asyncio


async def describe(session: aioboto3.Session, endpoint_url: str, job_ids: list[str]) -> dict[str, Any]:
    async with session.client("drs", endpoint_url=endpoint_url, region_name="us-east-1") as drs:
        answer: dict[str, Any] = await drs.describe_jobs(filters={"jobIDs": job_ids})
    answer.pop("ResponseMetadata")
    return answer


async def test_describe_jobs_through_the_verbatim_parser_equals_stock_aioboto3(sim: RunningSimulator) -> None:
    # a recovery (post-launch action runs) and a drill, seen in every phase of their timelines
    recovery = start_recovery(
        sim.endpoint_url, "us-east-1", [source_server_id() for _ in range(3)], is_drill=False
    )
    drill = start_recovery(sim.endpoint_url, "us-east-1", [source_server_id() for _ in range(2)])
    jobs = [recovery, drill, "drsjob-00000000000000000"]  # and one DRS does not know
    seen_post_launch = False
    for _ in range(8):
        stock = await describe(aioboto3.Session(), sim.endpoint_url, jobs)
        verbatim = await describe(verbatim_session(), sim.endpoint_url, jobs)
        assert verbatim == stock
        seen_post_launch |= any(
            "launchActionsStatus" in s for j in stock["items"] for s in j["participatingServers"]
        )
        sim.control.advance_clock(300)
    assert seen_post_launch, "the timeline never reached post-launch actions: the comparison missed them"


async def test_drs_errors_still_raise_botocores_client_error(sim: RunningSimulator) -> None:
    sim.control.inject_throttling(count=1, operations=["DescribeJobs"])
    once = Config(retries={"mode": "standard", "total_max_attempts": 1})
    async with verbatim_session().client(
        "drs", endpoint_url=sim.endpoint_url, region_name="us-east-1", config=once
    ) as drs:
        with pytest.raises(drs.exceptions.ThrottlingException):
            await drs.describe_jobs(filters={"jobIDs": ["drsjob-00000000000000000"]})
