"""The finder retries a failing page where the pass stands, and reports what it found if it must
give up (a stub client stands in for DynamoDB's paging: no boto3 patching)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from poller.pipeline.find import IncompleteFind, find_polling_executions
from poller.store.dynamodb import serialize


class PagedQuery:
    """Three pages of two items; page ``fail_page`` fails ``failures`` times first."""

    def __init__(self, fail_page: int, failures: int) -> None:
        self.fail_page = fail_page
        self.failures = failures
        self.calls: list[int] = []

    async def query(self, **params: Any) -> dict[str, Any]:
        page = int(params.get("ExclusiveStartKey", {}).get("page", {}).get("N", "0"))
        self.calls.append(page)
        if page == self.fail_page and self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Query")
        items = [serialize({"ExecutionId": f"exec-{page}-{i}", "Status": "POLLING"}) for i in range(2)]
        result: dict[str, Any] = {"Items": items}
        if page < 2:
            result["LastEvaluatedKey"] = {"page": {"N": str(page + 1)}}
        return result


async def test_a_throttled_page_is_retried_from_where_the_pass_stands() -> None:
    client = PagedQuery(fail_page=1, failures=2)
    found = await find_polling_executions(client, "t", page_attempts=3, page_backoff_seconds=0)
    assert [e["ExecutionId"] for e in found] == [f"exec-{p}-{i}" for p in range(3) for i in range(2)]
    assert client.calls == [0, 1, 1, 1, 2]  # page 0 is not read again


async def test_a_page_that_keeps_failing_reports_what_the_pass_found_so_far() -> None:
    client = PagedQuery(fail_page=2, failures=10)
    with pytest.raises(IncompleteFind) as info:
        await find_polling_executions(client, "t", page_attempts=3, page_backoff_seconds=0)
    assert [e["ExecutionId"] for e in info.value.found] == ["exec-0-0", "exec-0-1", "exec-1-0", "exec-1-1"]
    assert "DynamoDB Query on t failed: ProvisionedThroughputExceededException" in str(info.value)
    assert client.calls == [0, 1, 2, 2, 2]
