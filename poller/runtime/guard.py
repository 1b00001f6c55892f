"""Connection limits for the daemon's HTTP server: slow or idle clients cannot hold it.

aiohttp bounds request lines and headers by size, not by time, and keeps an idle keep-alive
connection for an hour: 200 clients trickling headers, or 1,000 idle ones, stayed open until the
file-descriptor limit. Here, around aiohttp's own protocol (composition through asyncio's
Protocol interface, aiohttp untouched):

- a request must arrive completely (request line, headers and body) within
  ``request_seconds`` of its first byte, or of the connection opening: else the connection is
  closed (a body that is late gets a 408 JSON answer);
- an idle keep-alive connection is closed after ``keepalive_seconds`` (aiohttp's own timer);
- at most ``max_connections`` are open at once: one more is answered 503 and closed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from poller import metrics

log = structlog.get_logger("poller.runtime.guard")


@dataclass(frozen=True)
class HttpLimits:
    request_seconds: float = 10.0
    keepalive_seconds: float = 15.0
    max_connections: int = 512


_BUSY = json.dumps({"error": "too many connections; retry later"}).encode()
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 1\r\nContent-Length: " + str(len(_BUSY)).encode() + b"\r\n\r\n" + _BUSY
)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the arrival deadline around it."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._counted = False
        self.waiting_for_request = True  # between requests: the next byte starts a deadline

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if len(self._guard.open) >= self._guard.limits.max_connections:
            metrics.HTTP_CONNECTIONS_CLOSED.labels("over_cap").inc()
            transport.write(_BUSY_RESPONSE)
            transport.close()
            return
        self._counted = True
        self._guard.open[id(transport)] = self
        self._start_deadline()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._counted:
            return
        if self._deadline is None and self.waiting_for_request:
            self._start_deadline()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._counted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.arrived()
        if self._counted and self._transport is not None:
            self._guard.open.pop(id(self._transport), None)
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._counted:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._counted:
            self._inner.resume_writing()

    def _start_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._guard.limits.request_seconds, self._expired)
        self.waiting_for_request = False

    def remaining(self) -> float:
        if self._deadline is None:
            return self._guard.limits.request_seconds
        return max(0.0, self._deadline.when() - asyncio.get_running_loop().time())

    def arrived(self) -> None:
        """The request is in (headers and body): what remains is ours to answer, unbounded here."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def answered(self) -> None:
        self.waiting_for_request = True

    def _expired(self) -> None:
        self._deadline = None
        metrics.HTTP_CONNECTIONS_CLOSED.labels("request_timeout").inc()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class ConnectionGuard:
    """A protocol factory around aiohttp's server, and the connections it has open."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.open: dict[int, _Guarded] = {}

    def factory(self, inner: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Guarded(self, inner())

    def of(self, request: web.Request) -> _Guarded | None:
        transport = request.transport
        return None if transport is None else self.open.get(id(transport))


GUARD_KEY = web.AppKey("connection_guard", ConnectionGuard)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def arrival_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reads the body within what is left of the request's deadline, then lets the handler run
    without one (its own time is bounded by the AWS clients' timeouts)."""
    connection = request.app[GUARD_KEY].of(request)
    if connection is None:
        return await handler(request)
    remaining = connection.remaining()
    connection.arrived()  # the headers are in: the body's share of the deadline is timed here (408)
    try:
        if request.can_read_body:
            try:
                async with asyncio.timeout(remaining):
                    await request.read()  # kept by aiohttp: the handler's read returns it
            except TimeoutError:
                metrics.HTTP_CONNECTIONS_CLOSED.labels("request_timeout").inc()
                return web.json_response(
                    {"error": "request body did not arrive in time", "field": "body"},
                    status=408,
                    headers={"Connection": "close"},
                )
            except web.HTTPRequestEntityTooLarge:
                limit = request.app._client_max_size
                return web.json_response(
                    {"error": f"request body too large: limit is {limit} bytes", "field": "body"},
                    status=413,
                    headers={"Connection": "close"},
                )
        return await handler(request)
    finally:
        connection.answered()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through the app's :class:`ConnectionGuard`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server: Any = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.factory(server), self._host, self._port, reuse_address=True
        )
