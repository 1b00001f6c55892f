"""Finding 6: slow and idle clients cannot hold the daemon's HTTP server.

A request must arrive completely within POLLER_HTTP_REQUEST_TIMEOUT_SECONDS, an idle keep-alive
connection is closed after POLLER_HTTP_KEEPALIVE_SECONDS, and at most POLLER_HTTP_MAX_CONNECTIONS
are open (one more is answered 503). Each check waits for the server to close the connection
(reads until EOF), with a deadline far above the configured bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.conftest import daemon_running

pytestmark = [pytest.mark.integration]

WAIT = 20.0  # the bounds below are 0.5 s; this only guards against a hang


def _closed(reason: str) -> float:
    return REGISTRY.get_sample_value("poller_http_connections_closed_total", {"reason": reason}) or 0.0


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout=WAIT)


async def test_trickled_headers_and_idle_keep_alive_connections_are_closed(make_settings: Any) -> None:
    settings = make_settings(http_request_timeout_seconds=0.5, http_keepalive_seconds=0.5)
    timeouts = _closed("request_timeout")
    async with daemon_running(settings) as running:
        port = running.daemon.port
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)
        slow_reader, slow = await asyncio.open_connection("127.0.0.1", port)
        slow.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for i in range(100):
                    slow.write(f"X-Slow-{i}: y\r\n".encode())
                    await slow.drain()
                    await asyncio.sleep(0.1)

        trickling = asyncio.create_task(trickle())
        assert await _until_closed(slow_reader) == b""
        trickling.cancel()
        assert await _until_closed(silent_reader) == b""  # opened, never sent a byte

        idle_reader, idle = await asyncio.open_connection("127.0.0.1", port)
        idle.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await _until_closed(idle_reader)  # answered, then closed once idle
        assert answer.startswith(b"HTTP/1.1 200") and b'"status"' in answer
        for writer in (silent, slow, idle):
            writer.close()
    assert _closed("request_timeout") - timeouts >= 2


@pytest.mark.slow
async def test_a_body_that_does_not_arrive_in_time_is_answered_408(make_settings: Any) -> None:
    async with daemon_running(make_settings(http_request_timeout_seconds=0.5)) as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.daemon.port)
        writer.write(
            b"POST /plans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"PlanName":'
        )
        answer = await _until_closed(reader)
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["field"] == "body"


async def test_connections_over_the_cap_are_answered_503(make_settings: Any) -> None:
    over = _closed("over_cap")
    held = []
    async with daemon_running(
        make_settings(http_max_connections=4, http_request_timeout_seconds=30)
    ) as running:
        port = running.daemon.port
        for _ in range(4):
            held.append(await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(0)  # nothing to wait for: the server counts at accept
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await _until_closed(reader)
        writer.close()
        for _, w in held:
            w.close()
        freed = None
        for _ in range(100):  # the held ones close; a new connection is served again
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            freed = await _until_closed(r)
            w.close()
            if freed.startswith(b"HTTP/1.1 200"):
                break
            await asyncio.sleep(0.05)
    assert answer.startswith(b"HTTP/1.1 503")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"].startswith("too many connections")
    assert _closed("over_cap") - over >= 1
    assert freed is not None and freed.startswith(b"HTTP/1.1 200")
