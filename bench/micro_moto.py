"""Micro-benchmark: moto's cost per DynamoDB call on our item shape, with and without speed-ups.

The local stand-in (demo, integration tests, benchmarks) is moto; ``poller_devtools.local_moto_speedups``
patches it (see its docstring). This times, in-process (``mock_aws``, no HTTP), the calls the
daemon makes on execution items of 2 waves x 5 servers: PutItem, GetItem, a small conditional
UpdateItem, the daemon's own save (``poller.store.executions.save_request``: SET x6, REMOVE x3, version and
lease condition), and the finder's projected Query over the StatusIndex (per returned item),
once with moto as shipped and once with the speed-ups, and the ratio. The times per call include
the boto3 client's own work (serialising, signing, parsing), which no patch of moto changes; a
second table shows the part spent inside moto, i.e. what a moto server spends per request.

``--http`` times the same calls through a moto server in a child process
(``poller_devtools.local.running_moto_server``), the way the demo and the benchmarks use it.

    .venv/bin/python bench/micro_moto.py --items 200
    .venv/bin/python bench/micro_moto.py --items 100 --http
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto import mock_aws
from poller_devtools import local_moto_speedups
from poller_devtools.local import running_moto_server, use_local_credentials

from bench.micro_poll import execution  # the same 10-server drill execution
from poller.domain.model import execution_to_item
from poller.pipeline.find import INDEX_ATTRIBUTES
from poller.store.dynamodb import serialize
from poller.store.executions import save_request
from poller.store.lease import Lease
from poller.store.tables import execution_table_definition

OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem (conditional)",
    "UpdateItem (daemon's save)",
    "Query projected, per item",
)
_tables = itertools.count()


INSIDE = "inside moto: "  # result key prefix: the part of a call spent in moto's own code


class MotoClock:
    """Seconds spent inside moto (``BotocoreStubber.process_request``), in-process only: what a
    moto server spends per request, without the boto3 client's serialising and signing."""

    seconds = 0.0


@contextmanager
def clock_moto() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def timed(self: Any, request: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, request)
        finally:
            MotoClock.seconds += time.perf_counter() - start

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


def per_call_ms(calls: list[Callable[[], Any]]) -> float:
    start = time.perf_counter()
    for call in calls:
        call()
    return (time.perf_counter() - start) / len(calls) * 1e3


@contextmanager
def moto_server(speedups: bool) -> Iterator[str]:
    """A moto server in a child process, with or without the speed-ups."""
    previous = os.environ.get(local_moto_speedups.ENV_VAR)
    os.environ[local_moto_speedups.ENV_VAR] = "1" if speedups else "0"
    try:
        with running_moto_server(in_process=False) as url:
            yield url
    finally:
        if previous is None:
            del os.environ[local_moto_speedups.ENV_VAR]
        else:
            os.environ[local_moto_speedups.ENV_VAR] = previous


def measure(items: int, servers: int, endpoint_url: str | None = None) -> dict[str, float]:
    """ms per call of each operation on a fresh table: in-process (whichever methods are
    installed now) or, with ``endpoint_url``, through that moto server."""
    executions = [execution(i, servers) for i in range(items)]
    raw = [serialize(execution_to_item(e)) for e in executions]
    for item in raw:
        item["Version"], item["LeaseOwner"] = {"N": "0"}, {"S": "micro-moto"}
    keys = [{"ExecutionId": item["ExecutionId"]} for item in raw]
    table = f"executions-{next(_tables)}"  # a server outlives one measure()
    with nullcontext() if endpoint_url else mock_aws(), nullcontext() if endpoint_url else clock_moto():
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint_url)
        client.create_table(**execution_table_definition(table))
        result = {}

        def timed(name: str, calls: list[Callable[[], Any]]) -> None:
            MotoClock.seconds = 0.0
            result[name] = per_call_ms(calls)
            result[INSIDE + name] = MotoClock.seconds / len(calls) * 1e3

        timed("PutItem", [partial(client.put_item, TableName=table, Item=item) for item in raw])
        timed(
            "GetItem",
            [partial(client.get_item, TableName=table, Key=key, ConsistentRead=True) for key in keys],
        )

        def save(key: dict[str, Any], item: dict[str, Any]) -> None:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #v = :next, #waves = :waves, #p = :polled",
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "Version", "#waves": "Waves", "#p": "LastPolledTime"},
                ExpressionAttributeValues={
                    ":expected": {"N": "0"},
                    ":next": {"N": "1"},
                    ":waves": item["Waves"],
                    ":polled": {"N": "5"},
                },
            )

        lease = Lease("micro-moto", 1_700_000_030.5)
        saves = [
            save_request(table, e.model_copy(update={"LastPolledTime": 5.0}), 1, lease) for e in executions
        ]

        pairs = list(zip(keys, raw, strict=True))
        timed("UpdateItem (conditional)", [partial(save, k, i) for k, i in pairs])
        timed("UpdateItem (daemon's save)", [partial(client.update_item, **request) for request in saves])

        names = {f"#a{i}": name for i, name in enumerate(INDEX_ATTRIBUTES)}
        params: dict[str, Any] = {
            "TableName": table,
            "IndexName": "StatusIndex",
            "KeyConditionExpression": "#status = :status",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": {"#status": "Status", **names},
            "ExpressionAttributeValues": {":status": {"S": "POLLING"}},
        }
        found = 0
        MotoClock.seconds = 0.0
        start = time.perf_counter()
        while True:
            page = client.query(**params)
            found += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert found == items, f"query found {found} of {items}"
        result["Query projected, per item"] = (time.perf_counter() - start) / items * 1e3
        result[INSIDE + "Query projected, per item"] = MotoClock.seconds / items * 1e3
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=200, help="execution items to write and read (200)")
    p.add_argument("--servers", type=int, default=10, help="servers per execution, over 2 waves (10)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is shown (2)")
    p.add_argument("--http", action="store_true", help="through a moto server in a child process")
    args = p.parse_args()
    use_local_credentials()
    best = measure_http(args) if args.http else measure_in_process(args)
    before, after = best[False], best[True]
    where = "moto server over HTTP (client time included)" if args.http else "moto in-process"
    print(f"{where}, {args.items} items × {args.servers} servers over 2 waves")
    print(f"ms per call, best of {args.rounds} rounds")
    print_table(before, after, "")
    if not args.http:  # what a moto server spends per request, without the client's own work
        print("of which inside moto (what a moto server spends per request)")
        print_table(before, after, INSIDE)
    return 0


def print_table(before: dict[str, float], after: dict[str, float], prefix: str) -> None:
    print(f"  {'':28} {'moto':>9} {'speed-ups':>10} {'ratio':>7}")
    for name in OPERATIONS:
        was, now = before[prefix + name], after[prefix + name]
        print(f"  {name:28} {was:9.2f} {now:10.2f} {was / now:6.1f}x")


def keep_best(best: dict[bool, dict[str, float]], speedups: bool, result: dict[str, float]) -> None:
    for name, ms in result.items():
        best[speedups][name] = min(ms, best[speedups].get(name, ms))


def measure_in_process(args: argparse.Namespace) -> dict[bool, dict[str, float]]:
    was_installed = local_moto_speedups.is_installed()
    best: dict[bool, dict[str, float]] = {False: {}, True: {}}
    try:
        measure(5, args.servers)  # warm-up: imports, moto's model loading
        for _ in range(args.rounds):
            for speedups in (False, True):
                (local_moto_speedups.install if speedups else local_moto_speedups.uninstall)()
                keep_best(best, speedups, measure(args.items, args.servers))
    finally:
        (local_moto_speedups.install if was_installed else local_moto_speedups.uninstall)()
    return best


def measure_http(args: argparse.Namespace) -> dict[bool, dict[str, float]]:
    best: dict[bool, dict[str, float]] = {False: {}, True: {}}
    for _ in range(args.rounds):
        for speedups in (False, True):
            with moto_server(speedups) as url:
                measure(5, args.servers, url)  # warm-up: the server's imports and model loading
                keep_best(best, speedups, measure(args.items, args.servers, url))
    return best


if __name__ == "__main__":
    sys.exit(main())
