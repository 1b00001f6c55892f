"""Reference poller: the plan's Lambda design, for side-by-side benchmarks with the daemon.

Behaves like the plan's design: EventBridge fires a tick every 60 s (``--tick-seconds``, scaled
by the benchmark's time scale); each tick queries the StatusIndex for POLLING executions and
polls every one of them: one DescribeJobs per wave (no batching across executions), the same
domain rules as the daemon (``apply_poll``), and a conditional UpdateItem after every poll
(``ExecutionStore.save``), changed or not. Executions of one tick are polled with at most
``--concurrency`` in flight (a Lambda would have its own pool; this gives the reference its
best shot on one process). A tick that overruns delays the next one (counted as ``late_ticks``);
EventBridge would start it anyway, in parallel, which only adds load.

It writes ``(sourceServerId, status, wall time after the write)`` per detected server
transition to ``--events-out`` (JSON lines) and its counters to ``--stats-out`` after each tick
and at exit. It exits by itself once a tick finds no POLLING execution, or on SIGTERM.

    .venv/bin/python bench/reference_poller.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import aioboto3

from poller.aws.clients import AwsClients, client_config
from poller.config import Settings
from poller.domain.apply import apply_poll, jobs_to_request
from poller.pipeline.find import find_polling_executions
from poller.store.dynamodb import DynamoDBError
from poller.store.executions import ExecutionStore, WriteConflict


class Reference:
    def __init__(
        self, args: argparse.Namespace, dynamodb: Any, drs: dict[str, Any], members: Any = None
    ) -> None:
        self.args = args
        self.db = dynamodb
        self.drs = drs
        self.members = members  # AwsClients reaching member accounts (waves with AccountId), if any
        self.store = ExecutionStore(dynamodb, args.table, args.concurrency)
        self.limit = asyncio.Semaphore(args.concurrency)
        self.events = Path(args.events_out).open("a")
        self.stats: dict[str, Any] = {
            "ticks": 0,
            "late_ticks": 0,
            "drs_calls": 0,
            "dynamodb_calls": 0,
            "polls": 0,
            "write_conflicts": 0,
            "errors": 0,
            "polling_left": None,
            "tick_seconds": [],
            "lag": [],
        }

    def save_stats(self) -> None:
        self.stats["cpu_seconds"] = time.process_time()  # /proc is gone once we exit by ourselves
        tmp = Path(self.args.stats_out + ".tmp")
        tmp.write_text(json.dumps(self.stats))
        tmp.replace(self.args.stats_out)

    async def tick(self) -> int:
        items = await find_polling_executions(self.db, self.args.table, self.args.index)
        self.stats["dynamodb_calls"] += 1 + len(items) // 1000  # the Query's pages (approximation)
        await asyncio.gather(*(self.poll(item) for item in items))
        return len(items)

    async def poll(self, item: dict[str, Any]) -> None:
        """One poller-Lambda invocation: it gets the execution id, reads the item, asks DRS, writes."""
        async with self.limit:
            try:
                self.stats["dynamodb_calls"] += 1
                execution = await self.store.get(str(item["ExecutionId"]))
                jobs: dict[str, Any] = {}
                for wave in execution.Waves:  # one DescribeJobs per wave, as the plan's Lambda does
                    ids = jobs_to_request(execution.model_copy(update={"Waves": [wave]})).get(wave.target())
                    if not ids:
                        continue
                    self.stats["drs_calls"] += 1
                    client = (
                        self.drs[wave.Region]
                        if wave.AccountId is None or self.members is None
                        else await self.members.drs(wave.target())
                    )
                    answer = await client.describe_jobs(filters={"jobIDs": ids})
                    jobs.update({j["jobID"]: j for j in answer.get("items", [])})
                outcome = apply_poll(execution, jobs, time.time())
                self.stats["polls"] += 1
                self.stats["dynamodb_calls"] += 1
                await self.store.save(outcome.execution, expected_version=execution.Version)
            except WriteConflict:
                self.stats["write_conflicts"] += 1
                return
            except (DynamoDBError, Exception) as err:  # a Lambda logs and goes on with the next one
                self.stats["errors"] += 1
                self.stats["last_error"] = repr(err)
                return
            done = time.time()
            for t in outcome.transitions:
                if t.level == "server" and t.attribute == "Status":
                    self.events.write(json.dumps([t.subject, t.new, done]) + "\n")

    async def lag_monitor(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.25)
            self.stats["lag"].append(round(max(0.0, loop.time() - before - 0.25), 4))

    async def run(self, stop: asyncio.Event) -> None:
        lag = asyncio.create_task(self.lag_monitor(stop))
        next_tick = time.monotonic()
        try:
            while not stop.is_set():
                started = time.monotonic()
                left = await self.tick()
                self.stats["ticks"] += 1
                self.stats["polling_left"] = left
                self.stats["tick_seconds"].append(round(time.monotonic() - started, 3))
                self.events.flush()
                self.save_stats()
                if left == 0:
                    return
                next_tick += self.args.tick_seconds
                wait = next_tick - time.monotonic()
                if wait < 0:
                    self.stats["late_ticks"] += 1
                    next_tick = time.monotonic()
                    continue
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
        finally:
            stop.set()
            await lag
            self.events.close()
            self.save_stats()


async def main_async(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    session = aioboto3.Session()
    config = client_config(max_pool=max(50, args.concurrency), max_attempts=4)
    async with session.client(
        "dynamodb", region_name="us-east-1", endpoint_url=args.dynamodb_url, config=config
    ) as db:
        drs: dict[str, Any] = {}
        clients = [
            session.client("drs", region_name=r, endpoint_url=args.drs_url, config=config)
            for r in args.regions
        ]
        for region, client in zip(args.regions, clients, strict=True):
            drs[region] = await client.__aenter__()
        try:
            if getattr(args, "sts_endpoint_url", None) is None:  # callers may build args themselves
                await Reference(args, db, drs).run(stop)
            else:  # member accounts through the member role, with the daemon's own client factory
                async with AwsClients(member_settings(args)) as members:
                    await Reference(args, db, drs, members).run(stop)
        finally:
            for client in drs.values():
                await client.__aexit__(None, None, None)


def member_settings(args: argparse.Namespace) -> Settings:
    """The settings :class:`AwsClients` reads to assume the member role in each wave's account."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        table_name=args.table,
        dynamodb_endpoint_url=args.dynamodb_url,
        drs_endpoint_url=args.drs_url,
        drs_regions=list(args.regions),
        sts_endpoint_url=args.sts_endpoint_url,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", required=True, help="execution table")
    p.add_argument("--index", default="StatusIndex", help="GSI on (Status, StartTime)")
    p.add_argument("--dynamodb-url", required=True, help="DynamoDB endpoint (moto), 127.0.0.1 only")
    p.add_argument("--drs-url", required=True, help="DRS endpoint (drssim), 127.0.0.1 only")
    p.add_argument("--regions", default="us-east-1,us-west-2", type=lambda s: s.split(","))
    p.add_argument(
        "--sts-endpoint-url",
        help="STS (moto) to assume the member role in a wave's AccountId, as the daemon does; "
        "unset: every wave is in the caller's own account",
    )
    p.add_argument("--tick-seconds", type=float, default=60.0, help="EventBridge period (default 60)")
    p.add_argument("--concurrency", type=int, default=50, help="executions polled at once per tick")
    p.add_argument("--events-out", required=True, help="JSON lines of detected server transitions")
    p.add_argument("--stats-out", required=True, help="JSON counters, rewritten after every tick")
    return p


def main() -> None:
    asyncio.run(main_async(build_parser().parse_args()))


if __name__ == "__main__":
    main()
