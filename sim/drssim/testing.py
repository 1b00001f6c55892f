"""In-process simulator for tests and demos.

Runs the aiohttp app on its own event loop in a daemon thread so that synchronous pytest
tests, async tests (with their own loop) and scripts can all use it the same way, through
real sockets, exactly like a deployed drssim.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aiohttp import web

from drssim.accounts import Accounts
from drssim.app import EMITTER_KEY, build_app
from drssim.client import SimControl
from drssim.clock import SimClock
from drssim.launch_events import EventOptions, LaunchEventEmitter
from drssim.quotas import Quotas
from drssim.state import Simulator


@dataclass(frozen=True)
class RunningSimulator:
    """Handle yielded by :func:`running_simulator`."""

    endpoint_url: str
    control: SimControl
    clock: SimClock
    simulator: Simulator
    host: str
    port: int
    events: LaunchEventEmitter | None = None  # sending launch-result events, when asked to


@contextmanager
def running_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    time_scale: float = 1.0,
    seed: int | None = None,
    strict_source_servers: bool = False,
    events: EventOptions | None = None,
    quotas: Quotas | None = None,
    accounts: Accounts | None = None,
) -> Iterator[RunningSimulator]:
    """Start drssim in a background thread; ``port=0`` binds a free port. ``accounts``: whose
    credentials are whose account (default: every call in drssim's one account)."""
    clock = SimClock(time_scale)
    sim = Simulator(
        clock=clock, seed=seed, strict_source_servers=strict_source_servers, quotas=quotas, accounts=accounts
    )
    loop = asyncio.new_event_loop()
    app = build_app(sim, events)
    runner = web.AppRunner(app, access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server  # aiohttp exposes no public accessor for the bound port
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        return int(server.sockets[0].getsockname()[1])

    thread = threading.Thread(target=loop.run_forever, name="drssim", daemon=True)
    thread.start()
    try:
        bound = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
        url = f"http://{host}:{bound}"
        emitter = app[EMITTER_KEY] if events is not None else None
        yield RunningSimulator(url, SimControl(url), clock, sim, host, bound, emitter)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
