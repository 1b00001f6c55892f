"""Reliability fixtures: the fault proxy in front of the session's moto server."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from poller_devtools.faultproxy import FaultProxy, running_fault_proxy

from poller.logs import configure_logging

#: botocore's read timeout in these tests, and how long a proxy "timeout" holds a request
READ_TIMEOUT_SECONDS = 0.5
HOLD_SECONDS = 1.5


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    """A fault proxy to moto, forwarding everything until a test sets rates."""
    with running_fault_proxy(moto_url, hold_seconds=HOLD_SECONDS, seed=11) as running:
        yield running


class JsonLogs:
    """Everything the daemon logs, as production renders it: structlog JSON lines, plus the
    stdlib records (botocore, aiohttp) that Python's last-resort handler would print (WARNING+)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """``configure_logging(fmt="json")`` as the CLI does, writing into a buffer for the test."""
    logs = JsonLogs()
    old = structlog.get_config()
    real_stderr = sys.stderr
    sys.stderr = logs.stream  # configure_logging binds the stream it finds in sys.stderr
    try:
        configure_logging("DEBUG", "json")
    finally:
        sys.stderr = real_stderr
    handler = logging.StreamHandler(logs.stream)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        yield logs
    finally:
        logging.getLogger().removeHandler(handler)
        structlog.configure(**old)
