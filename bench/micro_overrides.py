"""Micro-benchmark: CPU per call of botocore's plain path vs the removed botocore overrides.

Until the overrides were removed, the daemon parsed DRS and DynamoDB answers with one
``json.loads`` in place of botocore's walk (``poller/aws/parse.py``), built DynamoDB request
bodies with one ``json.dumps`` without parameter validation (``poller/aws/serialize.py``), and
converted AttributeValues by hand (``poller/store/dynamodb.py``). This times, side by side in
one run, what each call costs on the removed path (loaded from git at ``--old-rev``) and on
botocore's and boto3's own path (the installed code), at DRS's real limits:

* a DescribeJobs answer of 20 jobs × 200 servers (DRS runs at most 20 concurrent jobs per
  account and region, each of at most 200 servers), taken from drssim over HTTP: recovery
  jobs with their post-launch runs (the largest answer) and drills; and one of 20 recovery jobs
  × 25 servers, DRS's default quota of 500 source servers in active jobs per region;
* a DynamoDB read of one 10-server execution item (GetItem answer → item), and the
  execution model made from it (the same on both paths);
* the save of that execution (its UpdateItem → request body).

It then prints the CPU share the difference would make with 20 jobs of 200 servers in flight
in each of ``--regions`` regions and ``--executions`` executions, every job described and every
execution read and written once per shortest poll interval (15 s): more than the daemon does.
An answer is parsed in one go on the event loop, so its parse time is also a loop stall.

    .venv/bin/python bench/micro_overrides.py
    .venv/bin/python bench/micro_overrides.py --executions 400 --regions 4 --repeat 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
import botocore.session
from aiobotocore.parsers import AioResponseParserFactory
from botocore.serialize import create_serializer
from drssim.testing import running_simulator
from poller_devtools.local import use_local_credentials

from bench.micro_poll import answer, execution
from poller.domain.apply import apply_poll
from poller.domain.model import execution_from_item, execution_to_item
from poller.store import dynamodb, executions
from poller.store.lease import Lease

ROOT = Path(__file__).resolve().parent.parent
OLD_REV = "ba1d28c8a94331ee8cc630202c8f5fa40f677649"  # the last commit with the overrides
JOBS, SERVERS_PER_JOB = 20, 200  # DRS: 20 concurrent jobs per account and region, ≤ 200 servers each
QUOTA = 500  # DRS's default quota: source servers in active jobs per account and region
SHORTEST_INTERVAL = 15.0  # POLLER_INTERVAL_STARTED_SECONDS / _LAUNCHING_SECONDS


def load_old(rev: str) -> types.SimpleNamespace:
    """The removed modules, exactly as they were at ``rev`` (read with ``git show``)."""

    def module(path: str, name: str) -> types.ModuleType:
        source = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        loaded = types.ModuleType(name)
        loaded.__file__ = f"{rev}:{path}"
        sys.modules[name] = loaded  # dataclasses and the modules' own imports look it up
        exec(compile(source, loaded.__file__, "exec"), loaded.__dict__)
        return loaded

    verbatim = module("poller/aws/verbatim.py", "poller.aws.verbatim")  # imported by name below
    return types.SimpleNamespace(
        verbatim=verbatim,
        parse=module("poller/aws/parse.py", "old_parse"),
        serialize=module("poller/aws/serialize.py", "old_serialize"),
        dynamodb=module("poller/store/dynamodb.py", "old_dynamodb"),
    )


def describe_jobs_answer(drill: bool, servers_per_job: int) -> dict[str, Any]:
    """drssim's DescribeJobs answer (status, headers, body) for 20 finished jobs."""
    with running_simulator(seed=7) as sim:
        job_ids = sim.control.bulk_jobs(JOBS, servers_per_job=servers_per_job, is_drill=drill)
        sim.control.advance_jobs("COMPLETED", job_ids)
        if not drill:
            sim.control.finish_post_launch("SUCCEEDED", job_ids)
        client = boto3.client("drs", endpoint_url=sim.endpoint_url, region_name="us-east-1")
        captured: dict[str, Any] = {}
        client.meta.events.register(
            "before-parse.drs.DescribeJobs", lambda response_dict, **_: captured.update(response_dict)
        )
        client.describe_jobs(filters={"jobIDs": job_ids})
    return {k: captured[k] for k in ("status_code", "headers", "body")}


def timed(call: Callable[[], Awaitable[Any]], repeat: int, rounds: int) -> float:
    """CPU seconds per call: the best of ``rounds`` means over ``repeat`` calls."""

    async def one_round() -> float:
        start = time.process_time()
        for _ in range(repeat):
            await call()
        return (time.process_time() - start) / repeat

    return min(asyncio.run(one_round()) for _ in range(rounds))


def plain(call: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def wrapped() -> Any:
        return call()

    return wrapped


def row(name: str, old: float, new: float) -> None:
    print(f"  {name:<44} {old * 1e3:9.3f} {new * 1e3:9.3f} {new / old:6.2f}x {(new - old) * 1e3:+9.3f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old-rev", default=OLD_REV, help="git revision holding the overrides (%(default).12s)")
    p.add_argument("--repeat", type=int, default=20, help="calls timed per round (20)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per path; the best is kept (3)")
    p.add_argument("--executions", type=int, default=400, help="executions for the CPU share (400)")
    p.add_argument("--regions", type=int, default=4, help="DRS regions for the CPU share (4)")
    args = p.parse_args()
    use_local_credentials()  # drssim, on 127.0.0.1, takes any
    try:
        old = load_old(args.old_rev)
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"cannot read the old path from git revision {args.old_rev}: {err}", file=sys.stderr)
        print(
            "run this from a full clone of the repository (not a shallow one or an archive)", file=sys.stderr
        )
        return 2

    session = botocore.session.get_session()
    drs_out = session.get_service_model("drs").operation_model("DescribeJobs").output_shape
    ddb = session.get_service_model("dynamodb")
    get_out, update = ddb.operation_model("GetItem").output_shape, ddb.operation_model("UpdateItem")
    old_factory, new_factory = old.parse.VerbatimParserFactory(), AioResponseParserFactory()

    print(
        f"CPU per call (ms), best of {args.rounds} rounds of {args.repeat}; old = overrides at {args.old_rev:.12}"
    )
    print(f"  {'call':<44} {'old':>9} {'new':>9} {'ratio':>7} {'new-old':>9}")
    results: dict[str, tuple[float, float]] = {}

    for drill, servers in ((False, SERVERS_PER_JOB), (True, SERVERS_PER_JOB), (False, QUOTA // JOBS)):
        response = describe_jobs_answer(drill, servers)
        old_rest, new_rest = old_factory.create_parser("rest-json"), new_factory.create_parser("rest-json")
        old_answer = asyncio.run(old_rest.parse(response, drs_out))
        new_answer = asyncio.run(new_rest.parse(response, drs_out))
        if old_answer != new_answer:
            print("the two paths parse DescribeJobs differently: not timing it", file=sys.stderr)
            return 1
        kind = "drill" if drill else "recovery"
        name = f"DescribeJobs {JOBS}x{servers} {kind} ({len(response['body']) // 1024} KiB)"
        results[name] = (
            timed(lambda p=old_rest, r=response: p.parse(r, drs_out), args.repeat, args.rounds),
            timed(lambda p=new_rest, r=response: p.parse(r, drs_out), args.repeat, args.rounds),
        )
        row(name, *results[name])

    lease = Lease("micro-overrides", 190.0)
    polled = apply_poll(execution(0, 10), answer(execution(0, 10)), now=100.0).execution
    stored = {**execution_to_item(polled), "PendingWaves": 0, "LeaseOwner": lease.owner, "LeaseExpiry": 190}
    body = json.dumps({"Item": dynamodb.serialize(stored)}).encode()
    get_response = {"status_code": 200, "headers": {"x-amzn-requestid": "micro"}, "body": body}
    old_json, new_json = old_factory.create_parser("json"), new_factory.create_parser("json")

    async def old_read() -> dict[str, Any]:
        return old.dynamodb.deserialize((await old_json.parse(get_response, get_out))["Item"])

    async def new_read() -> dict[str, Any]:
        return dynamodb.deserialize((await new_json.parse(get_response, get_out))["Item"])

    if asyncio.run(old_read()) != asyncio.run(new_read()):
        print("the two paths read the item differently: not timing it", file=sys.stderr)
        return 1
    name = f"DynamoDB read, 10-server item ({len(body)} B)"
    results[name] = (timed(old_read, args.repeat, args.rounds), timed(new_read, args.repeat, args.rounds))
    row(name, *results[name])
    item = asyncio.run(new_read())
    model = timed(plain(lambda: execution_from_item(item)), args.repeat, args.rounds)
    print(f"  {'  + execution model from the item (both)':<44} {model * 1e3:9.3f} {model * 1e3:9.3f}")

    old_serializer = old.serialize.VerbatimJSONSerializer()  # the daemon's client had no validation
    new_serializer = create_serializer("json", include_validation=True)  # a default botocore client

    def old_save() -> Any:
        with mock.patch.object(executions, "serialize", old.dynamodb.serialize):
            request = executions.save_request("t", polled, 3, lease)
        return old_serializer.serialize_to_request(request, update)

    def new_save() -> Any:
        return new_serializer.serialize_to_request(executions.save_request("t", polled, 3, lease), update)

    if old_save()["body"] != new_save()["body"]:
        print("the two paths write different bodies: not timing it", file=sys.stderr)
        return 1
    name = "DynamoDB save request body, 10 servers"
    results[name] = (
        timed(plain(old_save), args.repeat, args.rounds),
        timed(plain(new_save), args.repeat, args.rounds),
    )
    row(name, *results[name])

    jobs_per_s = args.regions * JOBS / SHORTEST_INTERVAL  # every job in flight described once per 15 s
    items_per_s = args.executions / SHORTEST_INTERVAL  # every execution read and written once per 15 s
    full = f"DescribeJobs {JOBS}x{SERVERS_PER_JOB} recovery"
    (old_drs, new_drs), (old_get, new_get), (old_put, new_put) = (
        next(v for n, v in results.items() if n.startswith(full)),
        next(v for n, v in results.items() if "read" in n),
        next(v for n, v in results.items() if "save" in n),
    )
    describing = (new_drs - old_drs) / JOBS * jobs_per_s
    storing = ((new_get - old_get) + (new_put - old_put)) * items_per_s
    print(
        f"\n{args.regions} regions x {JOBS} recovery jobs x {SERVERS_PER_JOB} servers in flight, {args.executions}"
        f" executions ({jobs_per_s:.1f} jobs described, {items_per_s:.1f} items read and written per s):"
    )
    print(
        f"  DescribeJobs parse : {old_drs / JOBS * jobs_per_s:6.1%} -> {new_drs / JOBS * jobs_per_s:6.1%} of one core"
    )
    print(
        f"  DynamoDB read+save : {(old_get + old_put) * items_per_s:6.1%} -> {(new_get + new_put) * items_per_s:6.1%} of one core"
    )
    print(f"  the plain path costs {describing + storing:+.1%} of one core; a region's whole answer in one")
    print(
        f"  call holds the loop {old_drs * 1e3:.0f} ms (old) / {new_drs * 1e3:.0f} ms (new) while it is parsed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
