"""The one HTTP server of the daemon (aiohttp): /metrics, /healthz, /readyz, and the API."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import structlog
from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from poller.api.errors import MAX_HEADER_FIELD, MAX_REQUEST_TARGET
from poller.runtime.guard import GUARD_KEY, ConnectionGuard, HttpLimits, arrival_middleware
from poller.runtime.health import Health

log = structlog.get_logger("poller.http")

HEALTH_KEY = web.AppKey("health", Health)
# aiohttp's own parser limits, twice the API's: a request line or header over the API's limit
# still parses, and the API answers it in JSON (poller.api.errors). Only past these does the
# parser answer by itself (a plain-text 400: aiohttp has no hook for that body).
PARSER_MAX_LINE = 2 * MAX_REQUEST_TARGET
PARSER_MAX_FIELD = 2 * MAX_HEADER_FIELD


class ProtocolLog:
    """aiohttp's server logger (its documented ``logger`` argument), as structured lines.

    aiohttp logs a request it cannot parse (a line or header past its limits, bytes that are not
    HTTP) as a multi-line traceback quoting the offending bytes, which may hold a token. Here
    it is one line naming the error's type. Anything else it reports (a failure outside the
    API's error middleware) is a server fault: one line with the exception rendered in it.
    """

    def exception(self, message: str, *args: Any, exc_info: Any = None, **_: Any) -> None:
        err = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(err, http_exceptions.HttpProcessingError | RequestPayloadError):
            log.warning("http_request_refused", reason=type(err).__name__)
        else:
            log.error("http_server_error", message=message % args if args else message, exc_info=err)

    def warning(self, message: str, *args: Any, **_: Any) -> None:
        log.warning("http_server_warning", message=message % args if args else message)

    def debug(self, message: str, *args: Any, **_: Any) -> None:
        return None  # aiohttp's debug lines: client disconnects, non-HTTP probes


#: How long an answered connection's unread body is still read before the connection closes
LINGERING_SECONDS = 2.0


def app_runner(app: web.Application, shutdown_timeout: float, keepalive_timeout: float) -> web.AppRunner:
    """The runner serving ``app``: no access log, the parser limits and the log above, bodies as
    sent; idle keep-alive connections closed after ``keepalive_timeout``, open requests given
    ``shutdown_timeout`` at shutdown."""
    return web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=keepalive_timeout,
        logger=ProtocolLog(),
        max_line_size=PARSER_MAX_LINE,
        max_field_size=PARSER_MAX_FIELD,
        auto_decompress=False,  # compressed bodies are refused by the API (poller.api.errors)
        # after answering a request whose body never came in full (408, 413), read on for this
        # long so the client sees the answer, then close: a slow sender holds no connection longer
        lingering_time=LINGERING_SECONDS,
    )


async def _metrics(_: web.Request) -> web.Response:
    # Rendering every series grows with the executions tracked: in a thread, the loop keeps
    # turning (the GIL passes back at each switch interval) instead of stopping for the whole
    # scrape (figures: docs/performance.md#loop-responsiveness-the-knobs-and-their-figures).
    body = await asyncio.to_thread(generate_latest)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    health = request.app[HEALTH_KEY]
    ok = health.alive(time.time())
    return web.json_response({"status": "ok" if ok else "stalled"}, status=200 if ok else 503)


async def _readyz(request: web.Request) -> web.Response:
    health = request.app[HEALTH_KEY]
    now = time.time()
    ok = health.ready(now)
    body = {
        "status": "ready" if ok else "stopping" if health.stopping else "not_ready",
        "last_finder_ok_age_s": None
        if health.last_finder_ok is None
        else round(now - health.last_finder_ok, 3),
        "last_finder_error": health.last_finder_error,
    }
    return web.json_response(body, status=200 if ok else 503)


def build_app(health: Health, limits: HttpLimits | None = None) -> web.Application:
    """The app; its connections are bounded by ``limits`` when served by a GuardedSite."""
    app = web.Application(client_max_size=256 * 1024, middlewares=[arrival_middleware])
    app[HEALTH_KEY] = health
    app[GUARD_KEY] = ConnectionGuard(limits or HttpLimits())
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app
