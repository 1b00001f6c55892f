"""The daemon: find → schedule → (track: batch → apply → write), plus the HTTP server.

Every ``finder_period`` the StatusIndex is read; the scheduler keeps one tracker per POLLING
execution; trackers share one JobStatusBatcher.

On stop (SIGTERM) everything runs against one deadline, ``shutdown_grace_seconds`` away, which the
deployment's stop timeout must exceed (deploy/poller.yaml: the grace and ``StopTimeout`` are
checked together): /readyz turns 503 so load balancers stop sending requests; the finder pass or
launch in flight, then the trackers' in-flight writes, get the deadline minus the share kept for
completion events (``EVENT_DRAIN_SHARE``), and are cancelled at that point (a StartRecovery cut
short is the launcher's crash window: the claim is reconciled by whoever next owns the
execution); the lease hand-over and the completion events still being sent then get what remains.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from poller import metrics
from poller.api import add_api_routes
from poller.aws.clients import AwsClients
from poller.aws.events import EventPublisher
from poller.aws.launch_events import LaunchEventConsumer
from poller.config import ConfigError, Settings
from poller.domain.model import Execution
from poller.domain.share import plan_share
from poller.domain.statuses import ExecutionStatus
from poller.pipeline.batch import JobStatusBatcher
from poller.pipeline.cleanup import Cleaner
from poller.pipeline.find import IncompleteFind, find_polling_executions
from poller.pipeline.launch import Launcher
from poller.pipeline.schedule import Scheduler, ScheduleReport
from poller.pipeline.track import ExecutionTracker, TrackerConfig
from poller.pipeline.wake import WakeBoard
from poller.runtime.evidence import observe_recovery_time
from poller.runtime.garbage import pace_collections
from poller.runtime.guard import GUARD_KEY, GuardedSite, HttpLimits
from poller.runtime.health import Health, monitor_loop_lag
from poller.runtime.http import app_runner, build_app
from poller.runtime.responsiveness import Responsiveness
from poller.runtime.turns import TurnBudget
from poller.store.dynamodb import DynamoDBError
from poller.store.executions import ExecutionStore
from poller.store.lease import LEASE_OWNER, LeaseKeeper, held_by_other, new_replica_id

log = structlog.get_logger("poller.runtime.daemon")

TickHook = Callable[[], Awaitable[None]]
TerminalHook = Callable[[Execution], None]

# Share of the shutdown grace kept for the completion events still being sent (and the lease
# hand-over) after the launch and the trackers' writes have had theirs.
EVENT_DRAIN_SHARE = 0.25
# Requests still open when the HTTP server closes (after the deadline) get this, not aiohttp's 60 s:
# by then /readyz has said 503 for the whole grace and load balancers have stopped sending.
HTTP_CLOSE_SECONDS = 2.0


def start_alarmed_series_at_zero() -> None:
    """Every labelled series a CloudWatch alarm reads (deploy/poller.yaml) exists from start-up.

    The EMF exporter turns counters into deltas per scrape: a series that appears with its first
    increment has no earlier value to subtract from, so without this that increment - the first
    TIMEOUT, the first rejected launch - would never reach the alarm.
    """
    metrics.start_at_zero(metrics.FINDER_RUNS, "ok", "error")
    metrics.start_at_zero(metrics.TIMEOUTS, ExecutionStatus.TIMEOUT.value)
    metrics.start_at_zero(metrics.LAUNCHES, "started", "rejected", "gave_up", "unknown")
    metrics.start_at_zero(metrics.EVENTS_PUBLISHED, "ok", "rejected", "error")


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.clock = clock
        start_alarmed_series_at_zero()
        self.health = Health(ready_max_age_seconds=settings.ready_max_age_seconds)
        self.responsiveness = knobs = Responsiveness.from_settings(settings)
        self.turns = TurnBudget(knobs.turn_budget_seconds, wake_per_turn=knobs.wake_per_turn)
        self.store = ExecutionStore(
            clients.dynamodb, settings.table_name, settings.max_concurrent_writes, self.turns
        )
        self.batcher = JobStatusBatcher(
            clients.drs,
            window=settings.batch_window_seconds,
            wake_slice=knobs.wake_slice,
            min_gap=settings.describe_min_gap_seconds,
        )
        self.tracker_config = TrackerConfig(
            intervals=settings.intervals(),
            timeout_seconds=settings.timeout_seconds,
            max_backoff_seconds=settings.retry_backoff_max_seconds,
            idle_write_seconds=settings.idle_write_seconds,
            batch_lead_seconds=settings.batch_window_seconds,
            regions=frozenset(settings.drs_regions),
        )
        self.leases = LeaseKeeper(
            clients.dynamodb,
            settings.table_name,
            settings.replica_id or new_replica_id(),
            settings.lease_seconds,
        )
        self.start_gate = asyncio.Semaphore(settings.max_concurrent_writes)
        self.poll_gate = asyncio.Semaphore(settings.max_polls_in_flight)
        self.scheduler = Scheduler(self._make_tracker, start_per_turn=knobs.start_per_turn)
        # launch-result events wake trackers early (off unless POLLER_LAUNCH_EVENTS_QUEUE_URL is set)
        self.wakes: WakeBoard | None = None
        self.launch_events: LaunchEventConsumer | None = None
        if settings.launch_events_queue_url and clients.sqs is not None:
            self.wakes = WakeBoard()
            self.launch_events = LaunchEventConsumer(
                clients.sqs,
                settings.launch_events_queue_url,
                self.wakes.offer,
                wait_seconds=settings.launch_events_wait_seconds,
                max_backoff_seconds=settings.retry_backoff_max_seconds,
                handoffs=settings.launch_events_handoffs,
                receivers=settings.launch_events_receivers,
            )
        self.app = build_app(
            self.health,
            HttpLimits(
                request_seconds=settings.http_request_timeout_seconds,
                keepalive_seconds=settings.http_keepalive_seconds,
                max_connections=settings.http_max_connections,
            ),
        )
        self.tick_hooks: list[TickHook] = []
        self.terminal_hooks: list[TerminalHook] = []
        self.port: int | None = None
        # API, launcher and completion events (StartRecovery/Terminate go through no-retry clients)
        self.polling_items: list[dict[str, Any]] = []  # the finder's last StatusIndex read
        start_drs = clients.drs_once
        self.events = EventPublisher(clients.events, settings.event_bus_name, settings.event_source)
        self.terminal_hooks.append(self.events.on_terminal)
        self.launcher = Launcher(
            settings,
            self.store,
            clients.dynamodb,
            start_drs=start_drs,
            read_drs=clients.drs,
            polling_items=lambda: self.polling_items,
            on_terminal=self._terminal,
            on_changed=self.scheduler.stop,
            clock=clock,
            on_paused=self.events.on_paused,
        )
        self.tick_hooks.append(self.launcher.tick)
        # drill cleanup and recovery-time evidence (issue: after the drill)
        self.cleaner = Cleaner(
            settings, self.store, clients.dynamodb, self.batcher, start_drs, clients.drs, clock
        )
        self.tick_hooks.append(self.cleaner.tick)
        self.terminal_hooks.append(observe_recovery_time)
        add_api_routes(
            self.app, settings, clients.dynamodb, self.store, clients.drs, start_drs, self._terminal, clock
        )

    def _make_tracker(self, execution_id: str) -> ExecutionTracker:
        return ExecutionTracker(
            execution_id,
            self.store,
            self.batcher,
            self.tracker_config,
            self.clock,
            self._terminal,
            self.leases,
            self.start_gate,
            self.poll_gate,
            self.turns,
            self.wakes,
        )

    def _terminal(self, execution: Execution) -> None:
        for hook in self.terminal_hooks:
            hook(execution)

    async def find_once(self) -> ScheduleReport | None:
        """One finder pass; a DynamoDB error is logged and counted, and the loop goes on.

        An incomplete pass (a page kept failing) still starts trackers for what it found, but
        stops none and does not count as ready.
        """
        start = time.perf_counter()
        complete = True
        try:
            items = await find_polling_executions(
                self.clients.dynamodb,
                self.settings.table_name,
                self.settings.status_index_name,
                page_items=self.responsiveness.finder_page_items,
                deserialize_per_turn=self.responsiveness.deserialize_per_turn,
            )
        except DynamoDBError as err:
            metrics.FINDER_RUNS.labels("error").inc()
            self.health.last_finder_error = str(err)
            log.error("finder_failed", error=str(err))
            if not isinstance(err, IncompleteFind) or not err.found:
                return None
            items, complete = err.found, False
        finally:
            metrics.FINDER_DURATION.observe(time.perf_counter() - start)
        if complete:
            metrics.FINDER_RUNS.labels("ok").inc()
            self.health.finder_ok(time.time())
            self.polling_items = items
        await self.leases.refresh_liveness(
            {owner for i in items if isinstance(owner := i.get(LEASE_OWNER), str)}, self.clock()
        )
        now = self.clock()
        alive = self.leases.alive_until
        polling = [i for i in items if "ExecutionId" in i]
        eligible = [
            str(i["ExecutionId"]) for i in polling if not held_by_other(i, self.leases.owner, now, alive)
        ]
        live = await self.leases.live_replicas(now)
        running = self.scheduler.running
        plan = plan_share(
            len(polling),
            live,
            running & set(eligible),
            [e for e in eligible if e not in running],  # oldest first, as the index returns them
            self.settings.replica_share_slack,
        )
        metrics.REPLICAS_LIVE.set(live)
        metrics.REPLICA_SHARE.set(plan.share)
        if plan.shed and complete:
            metrics.EXECUTIONS_SHED.inc(len(plan.shed))
            log.info("executions_shed", count=len(plan.shed), share=plan.share, live_replicas=live)
        report = self.scheduler.sync([*plan.keep, *plan.take], complete=complete)
        if report.scheduled or report.stopped or report.failed:
            log.info("finder_tick", complete=complete, **report.__dict__)
        return report

    async def serve(self, stop: asyncio.Event) -> None:
        runner = app_runner(
            self.app,
            shutdown_timeout=HTTP_CLOSE_SECONDS,
            keepalive_timeout=self.settings.http_keepalive_seconds,
        )
        await runner.setup()
        host, port = self.settings.http_host, self.settings.http_port
        site = GuardedSite(runner, host, port, self.app[GUARD_KEY])
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise ConfigError(bind_error(host, port, err)) from None
        self.port = _bound_port(runner)
        log.info("daemon_started", host=self.settings.http_host, port=self.port)
        lag = asyncio.create_task(monitor_loop_lag(self.health, stop))
        collections = asyncio.create_task(
            pace_collections(stop, self.responsiveness.gc_young_seconds, self.responsiveness.gc_full_seconds)
        )
        await self._heartbeat()  # before the first claim: others must see us alive
        keep_alive = asyncio.create_task(self._keep_alive(stop))
        finder = asyncio.create_task(self._finder_loop(stop))
        stopping = asyncio.create_task(stop.wait())
        reading = asyncio.create_task(self.launch_events.run(stop)) if self.launch_events else None
        try:
            await asyncio.wait({finder, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()  # also when the finder loop died: every loop below ends on it
            await self._shut_down(finder, reading)
            stopping.cancel()
            await keep_alive
            await lag
            await collections
            await runner.cleanup()
            log.info("daemon_stopped")
        if not finder.cancelled() and finder.exception() is not None:
            raise finder.exception()  # type: ignore[misc]

    async def _shut_down(self, finder: asyncio.Task[None], reading: asyncio.Task[None] | None) -> None:
        """Everything in-flight, within one deadline: ``shutdown_grace_seconds`` from now."""
        loop = asyncio.get_running_loop()
        grace = self.settings.shutdown_grace_seconds
        deadline = loop.time() + grace
        work_until = deadline - grace * EVENT_DRAIN_SHARE
        self.health.stopping = True
        self.leases.retiring = True  # one write hands everything over, not one per execution
        log.info("daemon_stopping", grace_seconds=grace)
        await _finish_or_cancel(finder, work_until - loop.time())
        if reading is not None:  # a long poll in flight: its messages are redelivered later
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        await self.scheduler.shutdown(max(0.0, work_until - loop.time()))
        if self.launch_events is not None:  # delete the messages whose polls were written meanwhile
            await self.launch_events.drain(max(0.0, work_until - loop.time()))
        remaining = max(0.0, deadline - loop.time())
        handover = asyncio.gather(self.leases.retire(), self.events.drain(remaining))
        try:
            await asyncio.wait_for(handover, timeout=remaining)
        except TimeoutError:
            log.warning("shutdown_deadline_reached", grace_seconds=grace)
        await self.batcher.aclose()

    async def _heartbeat(self) -> None:
        try:
            await self.leases.heartbeat(self.clock())
        except DynamoDBError as err:
            log.warning("lease_heartbeat_failed", error=str(err))  # retried next period

    async def _keep_alive(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.heartbeat_seconds)
            except TimeoutError:
                await self._heartbeat()

    async def _finder_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for hook in self.tick_hooks:
                try:
                    await hook()
                except Exception as err:  # a hook's failure must not stop finding
                    log.error("tick_hook_failed", hook=getattr(hook, "__name__", repr(hook)), error=repr(err))
            await self.find_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.finder_period_seconds)
            except TimeoutError:
                pass


async def _finish_or_cancel(task: asyncio.Task[None], timeout: float) -> None:
    if not task.done():
        await asyncio.wait({task}, timeout=max(0.0, timeout))
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def bind_error(host: str, port: int, err: OSError) -> str:
    """One line naming the setting at fault, for a listen that failed."""
    if isinstance(err, socket.gaierror):
        return (
            f"POLLER_HTTP_HOST: cannot resolve {host!r} ({err.strerror}); use an address or a resolvable name"
        )
    if err.errno == errno.EADDRINUSE:
        return f"POLLER_HTTP_PORT: port {port} on {host} is in use; choose another (0 = any free port)"
    if err.errno == errno.EACCES:
        return f"POLLER_HTTP_PORT: no permission to listen on port {port}; use a port above 1023"
    return f"POLLER_HTTP_HOST/POLLER_HTTP_PORT: cannot listen on {host}:{port}: {err.strerror or err}"


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("HTTP server has no TCP address")


async def run_daemon(
    settings: Settings, stop: asyncio.Event, on_ready: Callable[[Daemon], None] | None = None
) -> None:
    """Open the clients, build the daemon, serve until ``stop`` is set."""
    async with AwsClients(settings) as clients:
        daemon = Daemon(settings, clients)
        if on_ready is not None:
            on_ready(daemon)
        await daemon.serve(stop)
