"""The one HTTP server of the daemon (aiohttp): /metrics, /healthz, /readyz, and the API."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from poller.runtime.guard import GUARD_KEY, ConnectionGuard, HttpLimits, arrival_middleware
from poller.runtime.health import Health

HEALTH_KEY = web.AppKey("health", Health)


async def _metrics(_: web.Request) -> web.Response:
    # Rendering every series takes ~8 ms at 10,000 executions: in a thread, the loop keeps
    # turning (the GIL passes back every 5 ms) instead of stopping for the whole scrape.
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
