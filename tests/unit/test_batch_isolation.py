"""One job ID DRS refuses costs the others nothing: split, retried, answered in the same flush."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client import REGISTRY

from poller.pipeline.batch import DrsError, JobStatusBatcher, describe_jobs
from tests.fakes import TARGET, PaginatedDrs, drs_for
from tests.ids import job_id


class _Drs(PaginatedDrs):
    """Refuses any call carrying a poisoned ID, as DRS refuses a call with one bad ID."""

    def __init__(self, poisoned: set[str], code: str = "ValidationException") -> None:
        self.poisoned = poisoned
        self.code = code
        self.calls: list[list[str]] = []

    async def describe_jobs(self, filters: dict[str, Any], **_: Any) -> dict[str, Any]:
        ids = list(filters["jobIDs"])
        self.calls.append(ids)
        await asyncio.sleep(0)
        if self.poisoned & set(ids):
            raise ClientError(
                {"Error": {"Code": self.code, "Message": "jobIDs invalid"}, "ResponseMetadata": {}},
                "DescribeJobs",
            )
        return {"items": [{"jobID": j, "status": "STARTED"} for j in ids]}


def _refused(reason: str) -> float:
    return REGISTRY.get_sample_value("poller_drs_refused_job_ids_total", {"reason": reason}) or 0.0


@pytest.mark.asyncio
async def test_a_refused_id_is_isolated_and_every_other_id_answered() -> None:
    ids = [job_id(i) for i in range(64)]
    poisoned = {ids[5], ids[40]}
    drs = _Drs(poisoned)
    refused: set[str] = set()
    before = _refused("refused_by_drs")
    found = await describe_jobs(drs, TARGET, ids, refused)
    assert set(found) == set(ids) - poisoned
    assert refused == poisoned
    assert _refused("refused_by_drs") - before == 2
    assert len(drs.calls) <= 1 + 2 * 2 * 6  # binary search per refused ID, not one call per ID


@pytest.mark.asyncio
async def test_malformed_ids_are_never_sent() -> None:
    drs = _Drs(set())
    bad = ["not-a-job", "drsjob-" + "a" * 9_993, job_id(1) + "\n", "drsjob-" + "a" * 16 + "-"]
    before = _refused("not_sent")
    found = await describe_jobs(drs, TARGET, [job_id(1), *bad])
    assert set(found) == {job_id(1)}
    assert drs.calls == [[job_id(1)]]
    assert _refused("not_sent") - before == len(bad)


@pytest.mark.asyncio
async def test_batcher_answers_the_others_in_the_same_flush_and_never_resends_a_refused_id() -> None:
    poisoned = job_id(7)
    drs = _Drs({poisoned})
    batcher = JobStatusBatcher(drs_for(drs), window=0.01)
    asks = [batcher.describe(TARGET, [job_id(i)]) for i in range(10)]
    bad_ask = batcher.describe(TARGET, ["not-a-job"])
    answers = await asyncio.gather(*asks, bad_ask)
    assert [sorted(a) for a in answers[:10]] == [[] if i == 7 else [job_id(i)] for i in range(10)]
    assert answers[10] == {}
    assert all("not-a-job" not in call for call in drs.calls)
    drs.calls.clear()
    again = await batcher.describe(TARGET, [poisoned, job_id(1)])
    assert again == {job_id(1): {"jobID": job_id(1), "status": "STARTED"}}
    assert drs.calls == [[job_id(1)]]
    assert batcher.refused([poisoned, job_id(1), "x"]) == [poisoned, "x"]


@pytest.mark.asyncio
async def test_other_errors_still_reach_every_waiter() -> None:
    drs = _Drs({job_id(1)}, code="InternalServerException")
    with pytest.raises(DrsError, match="InternalServerException"):
        await describe_jobs(drs, TARGET, [job_id(1), job_id(2)])
    assert len(drs.calls) == 1
