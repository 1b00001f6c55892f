"""Reliability fixtures: the fault proxy in front of the session's moto server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from poller.faultproxy import FaultProxy, running_fault_proxy

#: botocore's read timeout in these tests, and how long a proxy "timeout" holds a request
READ_TIMEOUT_SECONDS = 0.5
HOLD_SECONDS = 1.5


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    """A fault proxy to moto, forwarding everything until a test sets rates."""
    with running_fault_proxy(moto_url, hold_seconds=HOLD_SECONDS, seed=11) as running:
        yield running
