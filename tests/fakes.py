"""Fakes shared by the unit tests, each shaped by the protocol the code under test uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import botocore.session
from aiobotocore.paginate import AioPaginator

from poller.domain.model import Execution
from poller.domain.targets import DrsTarget


class DescribesJobs(Protocol):
    """What the DRS fakes implement: the one call the batcher makes."""

    async def describe_jobs(self, **params: Any) -> dict[str, Any]: ...


class PaginatedDrs:
    """Mixin for a DRS fake: botocore's own DescribeJobs paginator over the fake's ``describe_jobs``,
    as ``poller.aws.drs`` reads every page through ``get_paginator``."""

    def get_paginator(self: DescribesJobs, operation: str) -> AioPaginator:
        session = botocore.session.get_session()
        config = session.get_paginator_model("drs").get_paginator("DescribeJobs")
        model = session.get_service_model("drs").operation_model("DescribeJobs")
        return AioPaginator(self.describe_jobs, config, model)


class StoresExecutions(Protocol):
    """What a tracker reads and writes: ``ExecutionStore.get`` and ``save``."""

    async def get(self, execution_id: str) -> Execution: ...

    async def save(self, updated: Execution, expected_version: int, lease: Any = None) -> Execution: ...


class AnswersJobs(Protocol):
    """What a tracker asks the batcher: ``JobStatusBatcher.ask``."""

    def ask(self, region: str, job_ids: Iterable[str]) -> Awaitable[dict[str, Any]]: ...


class MemoryStore(StoresExecutions):
    """One execution in memory: a save always lands (Version + 1) and is counted."""

    def __init__(self, initial: Execution) -> None:
        self.item = initial
        self.saves = 0

    async def get(self, execution_id: str) -> Execution:
        return self.item

    async def save(self, updated: Execution, expected_version: int, lease: Any = None) -> Execution:
        self.saves += 1
        self.item = updated.model_copy(update={"Version": expected_version + 1})
        return self.item


class FixedAnswers(AnswersJobs):
    """DescribeJobs as the batcher answers it, the same answer to every question; counts them."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.asked = 0

    def ask(self, region: str, job_ids: Iterable[str]) -> asyncio.Future[dict[str, Any]]:
        self.asked += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        future.set_result(self.answer)
        return future


TARGET = DrsTarget(None, "us-east-1")  # the daemon's own account in us-east-1


def drs_for(drs: Any) -> Callable[[DrsTarget], Awaitable[Any]]:
    """The batcher's client lookup, answering ``drs`` for every account-region."""

    async def client_for(_target: DrsTarget) -> Any:
        return drs

    return client_for
