"""``poller-dev demo``: the whole system on one machine, no Docker and no AWS account.

Starts a moto server (DynamoDB, EventBridge, SQS) and drssim (DRS) on 127.0.0.1, creates the
tables and the launch-event queue (drssim's launch results reach the daemon through EventBridge
and SQS, as DRS's do on AWS), seeds a
demo plan and starts executions through the poller's own HTTP API, then runs the real daemon
with its intervals scaled down by the simulator's time-scale, so a 20-minute drill plays in
well under a minute while every call still goes over real sockets. This is what ``make run``
runs: the first thing a newcomer sees, so it must finish on its own, explain what it started,
and stop cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import math
import random
import secrets
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from pydantic import ValidationError

from poller.config import Settings
from poller_devtools.demo_view import ProgressView, is_terminal, render_summary

REGIONS = ("us-east-1", "us-west-2")
WAVE_NAMES = ("1-databases", "2-application", "3-web")
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Longest simulated timeline drssim plays (recovery incl. post-launch, ~25 min) plus margin.
SIM_SECONDS_PER_WAVE = 1800.0


@dataclass(frozen=True)
class DemoOptions:
    executions: int = 2
    servers: int = 12
    failure_rate: float = 0.0
    time_scale: float = 30.0
    wave_order: str = "PARALLEL"
    port: int = 8080
    drssim_port: int = 8081
    moto_port: int = 5000
    seed: int | None = None
    plain: bool = False
    max_wait: float | None = None
    log_level: str = "WARNING"
    launch_events: bool = True
    interactive: bool = False  # SEQUENTIAL, pause before the second wave, ask the operator

    def wait_budget(self) -> float:
        """Wall seconds after which the demo gives up (exit 1) instead of hanging."""
        if self.max_wait is not None:
            return self.max_wait
        waves = len(WAVE_NAMES) if self.wave_order == "SEQUENTIAL" or self.interactive else 1
        # Every execution of the demo plan uses the same source servers, and DRS runs a source
        # server in one job at a time: the executions' launches take turns (admission control).
        return SIM_SECONDS_PER_WAVE * waves * self.executions / self.time_scale + 30.0


def scaled_settings(
    options: DemoOptions,
    moto_url: str,
    drssim_url: str,
    token: str,
    port: int | None = None,
    queue_url: str | None = None,
) -> Settings:
    """Daemon settings for the demo: defaults divided by the time-scale, with floors.

    The floors keep a fast demo from turning into a busy loop; the timeout stays generous in
    wall seconds so a loaded laptop never turns a slow demo into a TIMEOUT.
    """
    scale = options.time_scale

    def scaled(name: str, floor: float) -> float:
        return max(floor, float(Settings.model_fields[name].default) / scale)

    intervals = {
        name: scaled(name, 0.1)
        for name in Settings.model_fields
        if name.startswith("interval_") and name.endswith("_seconds")
    }
    try:
        return _settings(
            **intervals,
            idle_write_seconds=max(intervals.values()),  # the live view shows every poll
            dynamodb_endpoint_url=moto_url,
            events_endpoint_url=moto_url,
            drs_endpoint_url=drssim_url,
            sts_endpoint_url=moto_url,  # a plan wave's AccountId: moto's STS AssumeRole
            drs_regions=list(REGIONS),
            http_host="127.0.0.1",
            http_port=options.port if port is None else port,
            api_token=token,
            log_level=options.log_level,
            log_format="json",
            finder_period_seconds=min(1.0, scaled("finder_period_seconds", 0.2)),
            batch_window_seconds=scaled("batch_window_seconds", 0.02),
            # a wave waiting for the drill's servers to leave their job sees it within a few
            # simulated minutes, not after the production 10 s (over an hour at 600x)
            capacity_refresh_seconds=scaled("capacity_refresh_seconds", 0.2),
            timeout_seconds=max(60.0, scaled("timeout_seconds", 0.0) * 1.5),
            shutdown_grace_seconds=5.0,
            launch_events_queue_url=queue_url,
            sqs_endpoint_url=moto_url if queue_url else None,
            launch_events_wait_seconds=1,  # Ctrl-C is not kept waiting on a long poll
        )
    except ValidationError as err:
        raise DemoError(f"invalid demo settings: {err}") from err


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def demo_plan(servers: int, wave_order: str, rng: random.Random) -> dict[str, Any]:
    """Three waves over two regions (fewer waves if there are fewer than three servers)."""
    ids = ["s-" + "".join(rng.choices(ALNUM, k=17)) for _ in range(servers)]
    waves = []
    count = min(len(WAVE_NAMES), servers)
    for i in range(count):
        chunk = ids[i::count]
        waves.append(
            {"WaveName": WAVE_NAMES[i], "Region": REGIONS[i % len(REGIONS)], "SourceServerIds": chunk}
        )
    return {"PlanName": "demo: three-tier app", "WaveOrder": wave_order, "Waves": waves}


def interactive_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The demo plan, SEQUENTIAL, pausing before its second wave for an operator's word."""
    waves = [dict(w) for w in plan["Waves"]]
    if len(waves) > 1:
        waves[1]["PauseBefore"] = True
    return {
        **plan,
        "PlanName": "demo: three-tier app, paused before tier 2",
        "WaveOrder": "SEQUENTIAL",
        "Waves": waves,
    }


def pick_port(preferred: int, host: str = "127.0.0.1") -> int:
    """The preferred port if it is free, else any free one (a busy 5000/8080 must not break the demo)."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free TCP port on 127.0.0.1")


# ---- talking to the running daemon -----------------------------------------------------------
class ApiSeeder:
    """Plans and executions through the poller's HTTP API, exactly as a user would create them."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.request(method, f"{self.base_url}{path}", json=body) as resp:
            if resp.status >= 400:
                raise DemoError(f"{method} {path} answered {resp.status}: {await resp.text()}")
            return await resp.json()

    async def create_plan(self, plan: dict[str, Any]) -> str:
        return str((await self._call("POST", "/plans", plan))["PlanId"])

    async def start_execution(self, plan_id: str, plan: dict[str, Any], execution_type: str) -> str:
        answer = await self._call("POST", "/executions", {"PlanId": plan_id, "ExecutionType": execution_type})
        return str(answer["executionId"])

    async def operate(self, execution_id: str, action: str, wave: str) -> dict[str, Any]:
        """An operator's action: resume, skip (the wave) or cancel."""
        path = {
            "resume": f"/executions/{execution_id}/resume",
            "skip": f"/executions/{execution_id}/waves/{wave}/skip",
            "cancel": f"/executions/{execution_id}/cancel",
        }[action]
        return dict(await self._call("POST", path, {"WaveName": wave} if action == "resume" else None))

    async def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        async with self.session.get(f"{self.base_url}/executions/{execution_id}") as resp:
            if resp.status == 404:
                return None
            if resp.status >= 400:
                raise DemoError(f"GET /executions/{execution_id} answered {resp.status}")
            return dict(await resp.json())


class DirectSeeder:
    """Fallback while the API is not in the tree: start DRS jobs and write items as the launcher would."""

    def __init__(self, settings: Settings) -> None:
        import boto3

        self.settings = settings
        self.dynamodb = boto3.client(
            "dynamodb", endpoint_url=settings.dynamodb_endpoint_url, region_name=settings.aws_region
        )
        self.drs = {
            r: boto3.client("drs", endpoint_url=settings.drs_endpoint_url, region_name=r) for r in REGIONS
        }

    async def create_plan(self, plan: dict[str, Any]) -> str:
        return f"plan-{uuid.uuid4().hex[:12]}"

    async def start_execution(self, plan_id: str, plan: dict[str, Any], execution_type: str) -> str:
        return await asyncio.to_thread(self._start, plan_id, plan, execution_type)

    def _start(self, plan_id: str, plan: dict[str, Any], execution_type: str) -> str:
        from poller.store.dynamodb import serialize

        waves = []
        for wave in plan["Waves"]:
            job = self.drs[wave["Region"]].start_recovery(
                sourceServers=[{"sourceServerID": s} for s in wave["SourceServerIds"]],
                isDrill=execution_type == "DRILL",
            )["job"]
            servers = [
                {"SourceServerId": s, "RecoveryJobId": job["jobID"], "Status": "LAUNCHING"}
                for s in wave["SourceServerIds"]
            ]
            waves.append(
                {
                    "WaveName": wave["WaveName"],
                    "Region": wave["Region"],
                    "Status": "LAUNCHING",
                    "Servers": servers,
                }
            )
        execution_id = f"exec-{uuid.uuid4().hex[:12]}"
        item = {
            "ExecutionId": execution_id,
            "PlanId": plan_id,
            "ExecutionType": execution_type,
            "Status": "POLLING",
            "StartTime": Decimal(str(round(time.time(), 3))),
            "Waves": waves,
            "Version": 0,
        }
        self.dynamodb.put_item(TableName=self.settings.table_name, Item=serialize(item))
        return execution_id

    async def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        from poller.store.dynamodb import deserialize

        answer = await asyncio.to_thread(
            self.dynamodb.get_item,
            TableName=self.settings.table_name,
            Key={"ExecutionId": {"S": execution_id}},
            ConsistentRead=True,
        )
        return deserialize(answer["Item"]) if "Item" in answer else None


def launch_event_summary() -> str:
    """What the daemon (in this process) did with drssim's launch-result events."""
    from prometheus_client import REGISTRY

    def count(name: str, **labels: str) -> int:
        return int(REGISTRY.get_sample_value(name, labels) or 0)

    outcomes = ("applied", "duplicate", "finished", "passed_on", "unknown_job", "requeued")
    read = ", ".join(f"{count('poller_launch_events_total', outcome=o)} {o}" for o in outcomes)
    woken = count("poller_launch_detection_seconds_count", trigger="event")
    timer = count("poller_launch_detection_seconds_count", trigger="timer")
    return f"Launch results found by event-woken polls: {woken}, by timer polls: {timer} (events: {read})."


class DemoError(RuntimeError):
    """Something the user should read, printed without a traceback."""


# ---- failures on purpose ------------------------------------------------------------------------
@dataclass
class FailureInjector:
    """Fails a share of the servers while DRS launches them, so the demo shows PARTIAL.

    Uses drssim's control API (``fail-server``) only once a chosen server is IN_PROGRESS: that
    is where real launches fail, and failing a server that already LAUNCHED is refused (409).
    """

    control: Any  # drssim.client.SimControl
    rate: float
    rng: random.Random
    chosen: dict[str, set[str]] = field(default_factory=dict)  # execution id -> source server ids
    done: set[str] = field(default_factory=set)

    def choose(self, execution_id: str, server_ids: list[str]) -> None:
        if self.rate <= 0 or not server_ids:
            return
        count = min(len(server_ids), max(1, round(self.rate * len(server_ids))))
        self.chosen[execution_id] = set(self.rng.sample(server_ids, count))

    async def step(self, execution_id: str, item: dict[str, Any] | None) -> None:
        victims = self.chosen.get(execution_id, set()) - self.done
        if not victims or item is None:
            return
        jobs = {
            s["SourceServerId"]: s["RecoveryJobId"]
            for w in item.get("Waves", [])
            for s in w.get("Servers", [])
            if s.get("SourceServerId") in victims and s.get("RecoveryJobId")
        }
        if not jobs:
            return
        truths = await asyncio.to_thread(self.control.truth, None, sorted(set(jobs.values())))
        status = {(t["jobID"], s["sourceServerID"]): s["launchStatus"] for t in truths for s in t["servers"]}
        for server_id, job_id in jobs.items():
            launch = status.get((job_id, server_id))
            if launch == "IN_PROGRESS":
                await asyncio.to_thread(
                    self.control.fail_server, job_id, server_id, "Launch failed (demo --failure-rate)"
                )
                self.done.add(server_id)
            elif launch in ("LAUNCHED", "FAILED", "TERMINATED"):
                self.done.add(server_id)  # too late (or already failed): leave it


async def _api_mounted(session: aiohttp.ClientSession, base: str) -> bool:
    """Whether the daemon serves the execution API (poller.api), probed with a harmless read."""
    if importlib.util.find_spec("poller.api") is None:
        return False
    async with session.get(f"{base}/executions", params={"status": "POLLING"}) as resp:
        return resp.status != 404


# ---- orchestration --------------------------------------------------------------------------------
async def _wait_for_port(daemon_box: list[Any], task: asyncio.Task[None]) -> int:
    for _ in range(200):
        if task.done():
            task.result()  # re-raise the daemon's start-up error
            raise DemoError("the daemon stopped during start-up")
        if daemon_box and daemon_box[0].port is not None:
            return int(daemon_box[0].port)
        await asyncio.sleep(0.05)
    raise DemoError("the daemon did not start serving within 10 s")


async def play(options: DemoOptions, moto_url: str, sim: Any) -> int:
    """Seed, run the daemon, show progress; returns the exit code."""
    from poller.logs import configure_logging
    from poller.runtime.daemon import run_daemon
    from poller.store.tables import ensure_tables

    token = secrets.token_urlsafe(16)
    queue_url = None
    if options.launch_events:
        from drssim.launch_events import create_launch_event_queue

        queue_url = await asyncio.to_thread(create_launch_event_queue, moto_url, "us-east-1", REGIONS)
    settings = scaled_settings(options, moto_url, sim.endpoint_url, token, pick_port(options.port), queue_url)
    configure_logging(settings.log_level, settings.log_format)

    import aioboto3

    async with aioboto3.Session().client(
        "dynamodb", endpoint_url=moto_url, region_name=settings.aws_region
    ) as dynamodb:
        await ensure_tables(
            dynamodb, settings.table_name, settings.plans_table_name, settings.status_index_name
        )

    stop = asyncio.Event()
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)

    daemon_box: list[Any] = []
    daemon_task = asyncio.create_task(run_daemon(settings, stop, on_ready=daemon_box.append))
    out = sys.stdout
    try:
        port = await _wait_for_port(daemon_box, daemon_task)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as session:
            seeder: ApiSeeder | DirectSeeder
            if await _api_mounted(session, base):
                seeder = ApiSeeder(session, base)
                via = "the poller API"
            else:
                seeder = DirectSeeder(settings)
                via = "DynamoDB directly (this build of the daemon serves no API)"
            _print_banner(out, options, base, moto_url, sim.endpoint_url, token, via, queue_url)
            rng = random.Random(options.seed)
            plan = demo_plan(options.servers, options.wave_order, rng)
            if options.interactive:
                if not isinstance(seeder, ApiSeeder):
                    raise DemoError("--interactive needs the poller API, which this build does not serve")
                plan = interactive_plan(plan)
            # a 30-minute recovery-time target, in the demo's scaled time (the report compares with it)
            plan["RtoTargetSeconds"] = round(1800.0 / options.time_scale, 3)
            plan_id = await seeder.create_plan(plan)
            injector = FailureInjector(sim.control, options.failure_rate, rng)
            labels: dict[str, str] = {}
            for i in range(options.executions):
                execution_type = "DRILL" if i % 2 == 0 else "RECOVERY"
                execution_id = await seeder.start_execution(plan_id, plan, execution_type)
                labels[execution_id] = execution_type
                injector.choose(execution_id, [s for w in plan["Waves"] for s in w["SourceServerIds"]])
            out.write(f"Plan {plan_id}: started {', '.join(f'{t} {e}' for e, t in labels.items())}\n\n")
            outcome = await _watch(options, seeder, injector, labels, interrupted, daemon_task)
            drills = [e for e, t in labels.items() if t == "DRILL"]
            if outcome == 0 and drills and isinstance(seeder, ApiSeeder):
                from poller_devtools.demo_after import after_the_drill

                outcome = await after_the_drill(session, base, drills[0], options.wait_budget(), out)
            return outcome
    finally:
        stop.set()
        try:
            await asyncio.wait_for(daemon_task, timeout=settings.shutdown_grace_seconds + 5)
        except (TimeoutError, asyncio.CancelledError):
            daemon_task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _watch(
    options: DemoOptions,
    seeder: ApiSeeder | DirectSeeder,
    injector: FailureInjector,
    labels: dict[str, str],
    interrupted: asyncio.Event,
    daemon_task: asyncio.Task[None],
) -> int:
    """Redraw until every execution is terminal, the budget runs out, or the user presses Ctrl-C."""
    view = ProgressView(labels, options.time_scale, time.monotonic, tty=False if options.plain else None)
    deadline = time.monotonic() + options.wait_budget()
    items: dict[str, dict[str, Any] | None] = dict.fromkeys(labels)
    period = 0.25 if view.tty else 0.2
    outcome = 0
    while True:
        for execution_id in labels:
            items[execution_id] = await seeder.get_execution(execution_id)
            await injector.step(execution_id, items[execution_id])
        view.update(items)
        if options.interactive and isinstance(seeder, ApiSeeder):
            asked = time.monotonic()
            if await _ask_operator(seeder, items):
                view.detach()
            deadline += time.monotonic() - asked  # waiting for the operator is not the daemon's time
        if all(is_terminal(item) for item in items.values()):
            break
        if daemon_task.done():
            daemon_task.result()
            raise DemoError("the daemon stopped unexpectedly")
        if interrupted.is_set():
            sys.stdout.write("\nInterrupted: stopping the daemon, drssim and moto...\n")
            outcome = 130
            break
        if time.monotonic() > deadline:
            sys.stdout.write(f"\nGave up after {options.wait_budget():.0f} s (--max-wait).\n")
            outcome = 1
            break
        try:
            await asyncio.wait_for(interrupted.wait(), timeout=period)
        except TimeoutError:
            pass
    sys.stdout.write("\n".join(render_summary(items, labels, options.time_scale)) + "\n")
    if options.launch_events:
        sys.stdout.write(launch_event_summary() + "\n")
    sys.stdout.flush()
    return outcome


async def _ask_operator(seeder: ApiSeeder, items: dict[str, dict[str, Any] | None]) -> bool:
    """For each PAUSED wave: say so, read the operator's answer (a line on stdin; end of input
    resumes), and send it through the API. Whether anything was asked."""
    asked = False
    for execution_id, item in items.items():
        paused = [w["WaveName"] for w in (item or {}).get("Waves", []) if w.get("Status") == "PAUSED"]
        for wave in paused:
            sys.stdout.write(
                f"\n{execution_id}: wave {wave} is PAUSED, waiting for an operator (PauseBefore).\n"
                "  [Enter] resume   s = skip the wave   c = cancel the execution > "
            )
            sys.stdout.flush()
            line = (await asyncio.to_thread(sys.stdin.readline)).strip().lower()
            action = {"s": "skip", "skip": "skip", "c": "cancel", "cancel": "cancel"}.get(line, "resume")
            answer = await seeder.operate(execution_id, action, wave)
            sys.stdout.write(f"  {action} {wave}: sent; the execution is {answer.get('status')}\n\n")
            sys.stdout.flush()
            asked = True
    return asked


def _print_banner(
    out: Any,
    options: DemoOptions,
    base: str,
    moto_url: str,
    drssim_url: str,
    token: str,
    via: str,
    queue_url: str | None = None,
) -> None:
    events = f"launch events via {queue_url}" if queue_url else "launch events off (polling only)"
    out.write(
        "DRS execution poller-dev demo (local only: moto + drssim on 127.0.0.1, no AWS account used)\n"
        f"  poller API     {base}/executions   (Authorization: Bearer {token})\n"
        f"  metrics        {base}/metrics   health {base}/healthz\n"
        f"  drssim         {drssim_url}   control {drssim_url}/_sim/truth\n"
        f"  moto           {moto_url}   {events}\n"
        f"  time-scale {options.time_scale:g}x, {options.executions} executions x {options.servers} servers, "
        f"failure rate {options.failure_rate:g}; seeding via {via}\n\n"
    )
    out.flush()


@contextmanager
def local_backends(options: DemoOptions) -> Iterator[tuple[str, Any]]:
    """moto and drssim in this process, on 127.0.0.1 only, with placeholder credentials."""
    from drssim.accounts import Accounts
    from drssim.launch_events import EventOptions
    from drssim.state import ACCOUNT_ID
    from drssim.testing import running_simulator

    from poller_devtools.local import running_moto_server, use_local_credentials

    use_local_credentials()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    with ExitStack() as stack:
        moto_url = stack.enter_context(running_moto_server(port=pick_port(options.moto_port)))
        sim = stack.enter_context(
            running_simulator(
                port=pick_port(options.drssim_port),
                time_scale=options.time_scale,
                seed=options.seed,
                events=EventOptions(moto_url) if options.launch_events else None,
                accounts=Accounts(ACCOUNT_ID, sts_endpoint_url=moto_url),  # drssim tells accounts apart
            )
        )
        yield moto_url, sim


def run_demo(options: DemoOptions) -> int:
    try:
        with local_backends(options) as (moto_url, sim):
            return asyncio.run(play(options, moto_url, sim))
    except DemoError as err:
        print(f"poller-dev demo: {err}", file=sys.stderr)
        return 1


# ---- command line ---------------------------------------------------------------------------------
def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        value = kind(text)
        if not value > 0 or (isinstance(value, float) and math.isinf(value)):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _options(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        executions=args.executions,
        servers=args.servers,
        failure_rate=args.failure_rate,
        time_scale=args.time_scale,
        wave_order=args.wave_order,
        port=args.port,
        drssim_port=args.drssim_port,
        moto_port=args.moto_port,
        seed=args.seed,
        plain=args.plain,
        max_wait=args.max_wait,
        log_level=args.log_level,
        launch_events=not args.no_launch_events,
        interactive=args.interactive,
    )


def add_demo_parser(subparsers: Any) -> None:
    """Called by poller_devtools.cli: ``poller-dev demo`` with every knob documented in ``--help``."""
    demo = subparsers.add_parser(
        "demo",
        help="play DRILL and RECOVERY executions against local moto + drssim (no Docker, no AWS)",
        description=(
            "Starts moto (DynamoDB) and drssim (DRS) on 127.0.0.1, creates the tables, seeds a three-wave plan "
            "over us-east-1 and us-west-2 through the poller API, starts executions and runs the daemon with its "
            "intervals divided by the time-scale. Shows live progress, then a summary; exits 0 when every "
            "execution reached a terminal state. Ctrl-C stops everything."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument(
        "--executions",
        type=_positive(int),
        default=2,
        help="executions to start (DRILL, RECOVERY, DRILL, ...)",
    )
    demo.add_argument("--servers", type=_positive(int), default=12, help="source servers in the demo plan")
    demo.add_argument(
        "--failure-rate",
        type=_rate,
        default=0.0,
        help="share of servers drssim fails mid-launch (0-1); >0 shows PARTIAL",
    )
    demo.add_argument(
        "--time-scale",
        type=_positive(float),
        default=30.0,
        help="simulated seconds per wall second; 30 plays a ~20 min drill in ~45 s, 1 shows real durations",
    )
    demo.add_argument(
        "--wave-order", choices=("PARALLEL", "SEQUENTIAL"), default="PARALLEL", help="plan's wave order"
    )
    demo.add_argument(
        "--port", type=int, default=8080, help="poller API and /metrics port (busy or 0: any free port)"
    )
    demo.add_argument("--drssim-port", type=int, default=8081, help="drssim port (busy or 0: any free port)")
    demo.add_argument(
        "--moto-port", type=int, default=5000, help="moto server port (busy or 0: any free port)"
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="seed for server ids, failures and drssim jitter"
    )
    demo.add_argument("--plain", action="store_true", help="one line per change instead of a redrawn table")
    demo.add_argument(
        "--max-wait",
        type=_positive(float),
        default=None,
        help="give up (exit 1) after this many wall seconds [auto]",
    )
    demo.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="WARNING",
        help="daemon log level (stderr)",
    )
    demo.add_argument(
        "--no-launch-events",
        action="store_true",
        help="track by polling alone (by default drssim's launch results wake polls through EventBridge and SQS)",
    )
    demo.add_argument(
        "--interactive",
        action="store_true",
        help="SEQUENTIAL plan that pauses before its second wave: the demo asks you to resume it "
        "(Enter), skip it (s) or cancel (c); without a terminal, a line on stdin answers (end of input: resume)",
    )
    demo.set_defaults(func=lambda args: run_demo(_options(args)))
