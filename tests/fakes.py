"""Fakes shared by the unit tests, each shaped by the protocol the code under test uses."""

from __future__ import annotations

from typing import Any, Protocol

import botocore.session
from aiobotocore.paginate import AioPaginator


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
